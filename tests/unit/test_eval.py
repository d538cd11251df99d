import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from ascolto.evaluation import evaluate, normalise_label, read_labelled
from core.errors import AscoltoError

DATA = Path(__file__).resolve().parents[1] / "data"


def test_metrics_match_a_hand_computed_example():
    gold = ["negative", "negative", "negative", "neutral", "positive", "positive"]
    pred = ["negative", "negative", "neutral", "neutral", "positive", "negative"]
    answers = dict(zip([f"t{i}" for i in range(6)], pred, strict=True))
    report = evaluate(zip(answers, gold, strict=True), answers.__getitem__)
    neg, neu, pos = (report.per_class[k] for k in ("negative", "neutral", "positive"))
    assert (neg.precision, neg.recall) == (2 / 3, 2 / 3)
    assert (neu.precision, neu.recall, neu.f1) == (0.5, 1.0, 2 / 3)
    assert (pos.precision, pos.recall, pos.f1) == (1.0, 0.5, 2 / 3)
    assert report.macro_f1 == pytest.approx((2 / 3 + 2 / 3 + 2 / 3) / 3)
    assert report.accuracy == pytest.approx(4 / 6)
    assert report.confusion["positive"] == {"positive": 1, "negative": 1}


def test_labels_and_files(tmp_path):
    assert normalise_label("NEG") == "negative" and normalise_label(1) == "positive"
    with pytest.raises(ValueError):
        normalise_label("meh")
    path = tmp_path / "x.jsonl"
    path.write_text('{"body": "ok", "y": "pos"}\n{"body": "no", "y": "angry"}\n')
    with pytest.raises(AscoltoError, match="line 2"):
        list(read_labelled(path, "body", "y"))
    with pytest.raises(AscoltoError, match="--text-column"):
        list(read_labelled(DATA / "sentiment_it_dev.csv", "testo", "label"))


def test_eval_command_on_the_italian_dev_set():
    out = subprocess.run(
        [sys.executable, "-m", "ascolto", "eval", str(DATA / "sentiment_it_dev.csv"), "--json"],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout  # fmt: skip
    report = orjson.loads(out)
    assert report["total"] == 360
    # A regression guard for the Italian model on its development set (0.83 when written).
    assert report["macro_f1"] >= 0.78
    assert set(report["per_class"]) == {"negative", "neutral", "positive"}
