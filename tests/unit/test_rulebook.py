"""The rules in force: checked at start, reloaded on change, a broken edit keeps the old rules; warnings."""

from __future__ import annotations

import os

import pytest

from core.errors import ConfigError
from core.settings import Settings
from streams.alerting.rulebook import RuleBook, warnings
from streams.alerting.rules import parse_rules

ONE = "rules:\n  - {name: first, kind: volume_spike}\n"
TWO = "rules:\n  - {name: first, kind: volume_spike}\n  - {name: second, kind: flatline, minutes: 30}\n"


def rewrite(path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # a change a coarse clock sees


def test_a_broken_file_stops_the_start(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n  - {name: x, kind: nope}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"rules.yaml:2: rule x: field `kind` 'nope' is not a rule kind"):
        RuleBook(path)


def test_an_edit_is_reloaded_and_a_broken_edit_keeps_the_rules_in_force(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(ONE, encoding="utf-8")
    book = RuleBook(path)
    assert book.refresh() is False  # unchanged
    rewrite(path, TWO)
    assert book.refresh() is True and [r.name for r in book.rules.rules] == ["first", "second"]
    rewrite(path, TWO + "  - {name: third, kind: volume_spike, treshold_cur: 5}\n")
    assert book.refresh() is False and [r.name for r in book.rules.rules] == ["first", "second"]


def test_warnings_name_topics_the_taxonomy_lacks_and_unset_secret_variables():
    rules = parse_rules(
        "rules:\n"
        "  - name: r\n"
        "    kind: volume_spike\n"
        "    filters: {topic: [billing, bollette]}\n"
        "    subscribers:\n"
        "      - webhook: {url: 'https://example.com/h', secret_env: HOOK_SECRET}\n"
        "      - slack: {url_env: SLACK_URL}\n"
    )
    found = warnings(rules, Settings(), environ={"SLACK_URL": "set"})
    assert len(found) == 2
    assert "filters on topic bollette" in found[0]
    assert "webhook subscriber needs the environment variable HOOK_SECRET" in found[1]
