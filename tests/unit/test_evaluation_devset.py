"""``ascolto eval`` on the real SENTIPOLC 2016 dev set, read from ../shared/data next to the repository.

The set is not in the repository (research use only); where it is absent this test is skipped.
It checks the report's shape only: the scorer's figures are measured, not asserted.
"""

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

DEV_SET = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "sentipolc16" / "train.csv"


@pytest.mark.skipif(not DEV_SET.is_file(), reason=f"the SENTIPOLC dev set is not at {DEV_SET}")
def test_eval_on_the_sentipolc_dev_set():
    out = subprocess.run(
        [sys.executable, "-m", "ascolto", "eval", str(DEV_SET), "--json"],
        capture_output=True, text=True, check=True, timeout=600,
    ).stdout  # fmt: skip
    report = orjson.loads(out)
    assert report["official"]["posts"] == report["total"] + report["mixed_excluded"] == 7410
    assert report["mixed_excluded"] > 0
    assert 0 < report["macro_f1"] < 1 and 0 < report["official"]["score"] < 1
    assert set(report["per_class"]) == {"negative", "neutral", "positive"}
    assert {"irony", "no irony", "with URL", "reply (starts with @)", "retweet (RT)"} <= set(report["subsets"])
