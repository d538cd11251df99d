"""The rules shown in the README and in docs/alerting.md are rules the worker accepts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from streams.alerting.rules import parse_rules

ROOT = Path(__file__).parents[2]


def yaml_blocks(path: Path) -> list[str]:
    return [b for b in re.findall(r"```yaml\n(.*?)```", path.read_text(encoding="utf-8"), re.S) if "rules:" in b]


@pytest.mark.parametrize("doc", ["README.md", "docs/alerting.md"])
def test_documented_rules_load(doc):
    blocks = yaml_blocks(ROOT / doc)
    assert blocks, f"no rules example in {doc}"
    for block in blocks:
        assert parse_rules(block, source=doc).rules
