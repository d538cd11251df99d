"""The alert rules file: good files load into typed rules; each mistake is one sentence naming file:line and field."""

from datetime import timedelta
from pathlib import Path

import pytest

from core.errors import ConfigError
from core.settings import Settings
from streams.alerting.rules import (
    EmailChannel,
    FlatlineRule,
    KafkaChannel,
    NegativeSpikeRule,
    NewTermRule,
    RuleFileError,
    SlackChannel,
    VolumeSpikeRule,
    WebhookChannel,
    load_rules,
)

EXAMPLES = Path(__file__).parents[2] / "streams" / "alerting" / "rule_examples"

GOOD = """\
rules:
  - name: billing_negative
    kind: negative_spike
    filters: {topic: [billing], lang: it}
    key: topic
    window: 10m
    min_count: 8
    min_share: 0.3
    sensitivity: {ratio: 4}
    baseline: seasonal
    warmup: 3
    realert: 2h
    language: it
    subscribers:
      - webhook: {url: "https://ops.example.com/hook", secret_env: HOOK_SECRET}
      - slack: {url_env: SLACK_URL}
      - email: {to: ops@example.com}
      - kafka:
  - name: silent
    kind: flatline
    silent_minutes: 30
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(tmp_path: Path, text: str) -> list[str]:
    path = write(tmp_path, text)
    with pytest.raises(RuleFileError) as caught:
        load_rules(path)
    assert isinstance(caught.value, ConfigError)
    assert str(caught.value) == "\n".join(caught.value.problems)
    return caught.value.problems


def only_problem(tmp_path: Path, text: str) -> str:
    problems = problems_of(tmp_path, text)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{tmp_path / 'rules.yaml'}:")
    assert problems[0].endswith((".", "?"))
    return problems[0]


def test_a_good_file_loads_into_typed_rules(tmp_path: Path) -> None:
    ruleset = load_rules(write(tmp_path, GOOD))
    billing, silent = ruleset.rules
    assert isinstance(billing, NegativeSpikeRule) and isinstance(silent, FlatlineRule)
    assert billing.filters.topic == ("billing",) and billing.filters.lang == ("it",)
    assert billing.window == timedelta(minutes=10) and billing.realert == timedelta(hours=2)
    assert billing.sensitivity.ratio == 4 and billing.sensitivity.z is None
    assert [type(s.channel) for s in billing.subscribers] == [WebhookChannel, SlackChannel, EmailChannel, KafkaChannel]
    email = billing.subscribers[2].channel
    assert isinstance(email, EmailChannel) and email.to == ("ops@example.com",)
    # Defaults a user relies on without writing them.
    assert silent.key == "source" and silent.window == timedelta(minutes=10) and silent.language == "en"
    assert ruleset.get("silent") is silent and ruleset.get("nope") is None


@pytest.mark.parametrize("example", ["rules.en.yaml", "rules.it.yaml"])
def test_the_shipped_examples_load_and_cover_every_kind(example: str) -> None:
    ruleset = load_rules(EXAMPLES / example)
    kinds = {type(rule) for rule in ruleset.rules}
    assert kinds == {NegativeSpikeRule, VolumeSpikeRule, FlatlineRule, NewTermRule}
    channels = {type(s.channel) for rule in ruleset.rules for s in rule.subscribers}
    assert {WebhookChannel, EmailChannel, KafkaChannel} <= channels or {WebhookChannel, SlackChannel} <= channels


def test_italian_example_speaks_italian() -> None:
    ruleset = load_rules(EXAMPLES / "rules.it.yaml")
    assert {rule.language for rule in ruleset.rules} == {"it"}
    assert "variabile d'ambiente" in (EXAMPLES / "rules.it.yaml").read_text(encoding="utf-8")


def test_unknown_kind_names_line_and_field(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, "rules:\n  - name: a\n    kind: spike\n")
    assert ":3: rule a: field `kind` 'spike' is not a rule kind" in problem
    assert "negative_spike, volume_spike, flatline, new_term" in problem


def test_missing_field_names_the_rule_line_and_field(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, "rules:\n  - name: ok\n    kind: new_term\n  - name: quiet\n    kind: flatline\n")
    assert ":4: rule quiet: field `silent_minutes` is missing; add it." in problem


def test_missing_kind(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, "rules:\n  - name: a\n    window: 5m\n")
    assert ":2: rule a: field `kind` is missing" in problem


@pytest.mark.parametrize("window", ["10x", "10", "m10", "0m"])
def test_bad_window(tmp_path: Path, window: str) -> None:
    problem = only_problem(tmp_path, f"rules:\n  - name: a\n    kind: new_term\n\n    window: {window}\n")
    assert ":5: rule a: field `window`" in problem


def test_window_must_line_up_with_days(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, "rules:\n  - name: a\n    kind: new_term\n    window: 7m\n")
    assert ":4: rule a: field `window`: a window lasts from 1m to 1d and divides a day evenly" in problem


def test_unknown_key_field_is_not_silently_ignored(tmp_path: Path) -> None:
    problem = only_problem(
        tmp_path, "rules:\n  - name: a\n    kind: volume_spike\n    filters:\n      topik: [billing]\n"
    )
    assert ":5: rule a: field `filters.topik` is not a known field; did you mean `topic`?" in problem


def test_unknown_rule_field_lists_the_known_ones(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, "rules:\n  - name: a\n    kind: volume_spike\n    treshold: 3\n")
    assert ":4: rule a: field `treshold` is not a known field; known fields here:" in problem
    assert "direction" in problem and "sensitivity" in problem


def test_bad_key_value(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, "rules:\n  - name: a\n    kind: volume_spike\n    key: hashtags\n")
    assert ":4: rule a: field `key`: input should be 'topic', 'watch_term', 'source', 'hashtag' or 'all'." in problem


def test_duplicate_rule_names(tmp_path: Path) -> None:
    text = "rules:\n  - name: a\n    kind: new_term\n  - name: b\n    kind: new_term\n  - name: a\n    kind: new_term\n"
    problem = only_problem(tmp_path, text)
    assert ":6: rule a: field `name` is already used by the rule at line 2" in problem


def test_a_field_written_twice_is_an_error(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, "rules:\n  - name: a\n    kind: new_term\n    window: 5m\n    window: 10m\n")
    assert ":5: field `rules[0].window` is written twice" in problem


@pytest.mark.parametrize(
    "subscriber, field",
    [
        ("slack: {url_env: 'https://hooks.slack.com/services/T000/B000/s3cr3tT0ken'}", "subscribers[0].slack.url_env"),
        ("webhook: {url: 'https://h.example.com/x', secret_env: 's3cr3t-T0ken!'}", "subscribers[0].webhook.secret_env"),
        ("teams: {url_env: 'https://x.webhook.office.com/s3cr3tT0ken'}", "subscribers[0].teams.url_env"),
    ],
)
def test_a_secret_written_inline_is_refused_without_repeating_it(tmp_path: Path, subscriber: str, field: str) -> None:
    problem = only_problem(
        tmp_path, f"rules:\n  - name: a\n    kind: new_term\n    subscribers:\n      - {subscriber}\n"
    )
    assert f":5: rule a: field `{field}`: write the name of an environment variable" in problem
    assert "s3cr3t" not in problem


def test_credentials_in_a_webhook_url_are_refused(tmp_path: Path) -> None:
    text = "rules:\n  - name: a\n    kind: new_term\n    subscribers:\n      - webhook:\n"
    text += "          url: https://user:s3cr3t@h.example.com/x\n          secret_env: HOOK\n"
    problem = only_problem(tmp_path, text)
    assert ":6: rule a: field `subscribers[0].webhook.url`: write an http(s) URL with no user or password" in problem
    assert "s3cr3t" not in problem


def test_a_subscriber_is_exactly_one_channel(tmp_path: Path) -> None:
    text = "rules:\n  - name: a\n    kind: new_term\n    subscribers:\n      - smtp: {to: a@b.c}\n"
    assert "field `subscribers[0].smtp` is not a known field" in only_problem(tmp_path, text)
    text = "rules:\n  - name: a\n    kind: new_term\n    subscribers:\n"
    text += "      - {slack: {url_env: A}, teams: {url_env: B}}\n"
    assert ":5: rule a: field `subscribers[0]`: a subscriber is exactly one of" in only_problem(tmp_path, text)


def test_sensitivity_is_z_or_ratio_or_a_word(tmp_path: Path) -> None:
    base = "rules:\n  - name: a\n    kind: negative_spike\n    sensitivity: "
    rule = load_rules(write(tmp_path, base + "high\n")).rules[0]
    assert isinstance(rule, NegativeSpikeRule) and rule.sensitivity.z == 2
    assert "give exactly one of z" in only_problem(tmp_path, base + "{z: 3, ratio: 2}\n")
    assert "'extreme' is not a sensitivity" in only_problem(tmp_path, base + "extreme\n")


def test_every_mistake_is_reported_at_once_in_line_order(tmp_path: Path) -> None:
    text = "rules:\n  - name: a\n    kind: spike\n"
    text += "  - name: b\n    kind: flatline\n    window: 10x\n    silent_minutes: 5\n"
    problems = problems_of(tmp_path, text)
    assert [p.split(":")[1] for p in problems] == ["3", "6"]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", ":1: the file must be a mapping with a list `rules:`"),
        ("rules: 3\n", ":1: field `rules` must be a list"),
        ("rules:\n  - name: a\n    kind: [\n", "this is not valid YAML"),
        ("rules: []\nrulez: []\n", ":2: field `rulez` is not a known field; did you mean `rules`?"),
    ],
)
def test_file_level_mistakes(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in only_problem(tmp_path, text)


def test_an_empty_rule_list_is_allowed(tmp_path: Path) -> None:
    assert load_rules(write(tmp_path, "rules: []\n")).rules == ()


def test_a_missing_file_says_which_setting_to_check(tmp_path: Path) -> None:
    with pytest.raises(RuleFileError, match=r"Cannot read the alert rules file .*nope.yaml .*ASCOLTO_ALERT_RULES"):
        load_rules(tmp_path / "nope.yaml")


def test_filters_and_keys_of_a_post() -> None:
    rule = load_rules(EXAMPLES / "rules.en.yaml").rules[0]
    post = {
        "source": "x",
        "lang": "en",
        "topics": ["billing", "outage", "weather"],
        "sentiment": {"label": "negative"},
        "entities": {"hashtags": ["#down"], "watch_terms": []},
    }
    assert rule.keys_of(post) == ["billing", "outage"]
    assert rule.keys_of({**post, "topics": ["weather"]}) == []


def test_alert_rules_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ASCOLTO_ALERT_RULES", raising=False)
    assert Settings().alert_rules is None
    monkeypatch.setenv("ASCOLTO_ALERT_RULES", str(tmp_path / "r.yaml"))
    assert Settings().alert_rules == tmp_path / "r.yaml"
