"""The alert rules file: good files load into typed rules; each mistake is one sentence naming file:line and field."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.errors import ConfigError
from core.settings import Settings
from streams.alerting.baselines import Baseline
from streams.alerting.detection import Flatline, NegativeSpike, NewTerm, VolumeSpike
from streams.alerting.rules import (
    EmailChannel,
    FlatlineRule,
    KafkaChannel,
    NegativeSpikeRule,
    NewTermRule,
    Rule,
    RuleFileError,
    SlackChannel,
    VolumeSpikeRule,
    WebhookChannel,
    load_rules,
    parse_rules,
    unknown_topics,
)

EXAMPLES = Path(__file__).parents[2] / "streams" / "alerting" / "rule_examples"

GOOD = """\
rules:
  - name: billing_negative
    kind: negative_spike
    filters: {topic: [billing], lang: it}
    key: topic
    window: 10m
    threshold_cur: 8
    min_share: 0.3
    spike_height: 4
    z_score: null
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
    minutes: 30
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
    assert billing.spike_height == 4 and billing.z_score is None and billing.threshold_cur == 8
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
    assert ":4: rule quiet: field `minutes` is missing; add it." in problem


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
    problem = only_problem(tmp_path, "rules:\n  - name: a\n    kind: volume_spike\n    cooldown: 3\n")
    assert ":4: rule a: field `cooldown` is not a known field; known fields here:" in problem
    assert "direction" in problem and "spike_height" in problem and "z_score" in problem
    typo = only_problem(tmp_path, "rules:\n  - name: a\n    kind: volume_spike\n    treshold_cur: 3\n")
    assert "field `treshold_cur` is not a known field; did you mean `threshold_cur`?" in typo


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


def test_sensitivity_is_a_word_for_z_score(tmp_path: Path) -> None:
    base = "rules:\n  - name: a\n    kind: negative_spike\n"
    rule = load_rules(write(tmp_path, base + "    sensitivity: high\n")).rules[0]
    assert isinstance(rule, NegativeSpikeRule) and rule.z_score == 2 and rule.spike_height == 3
    both = only_problem(tmp_path, base + "    sensitivity: low\n    z_score: 3\n")
    assert ":2: rule a: this rule: give either sensitivity or z_score, not both" in both
    assert "field `sensitivity`: input should be 'low', 'medium' or 'high'" in only_problem(
        tmp_path, base + "    sensitivity: extreme\n"
    )
    assert "field `sensitivity`" in only_problem(tmp_path, base + "    sensitivity: {z: 3}\n")


def test_a_spike_rule_needs_spike_height_or_z_score_like_its_detector(tmp_path: Path) -> None:
    text = "rules:\n  - name: a\n    kind: volume_spike\n    spike_height: null\n    z_score: null\n"
    assert ":2: rule a: this rule: a spike rule needs spike_height, z_score or both." in only_problem(tmp_path, text)
    text = "rules:\n  - name: a\n    kind: volume_spike\n    spike_height: 1\n"
    assert ":4: rule a: field `spike_height`: input should be greater than 1." in only_problem(tmp_path, text)


def test_the_old_parameter_names_are_refused_with_the_new_one(tmp_path: Path) -> None:
    text = "rules:\n  - name: a\n    kind: new_term\n    min_count: 3\n"
    assert ":4: rule a: field `min_count` is not a known field" in only_problem(tmp_path, text)
    text = "rules:\n  - name: a\n    kind: flatline\n    silent_minutes: 30\n"
    assert "did you mean `minutes`?" in problems_of(tmp_path, text)[-1]


def test_flatline_minutes_and_new_term_new_for_minutes_cover_a_window(tmp_path: Path) -> None:
    text = "rules:\n  - name: a\n    kind: flatline\n    window: 1h\n    minutes: 30\n"
    assert "minutes must be at least the window" in only_problem(tmp_path, text)
    text = "rules:\n  - name: a\n    kind: new_term\n    window: 1h\n    new_for_minutes: 30\n"
    assert "new_for_minutes must be at least the window" in only_problem(tmp_path, text)


def test_every_mistake_is_reported_at_once_in_line_order(tmp_path: Path) -> None:
    text = "rules:\n  - name: a\n    kind: spike\n"
    text += "  - name: b\n    kind: flatline\n    window: 10x\n    minutes: 5\n"
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


# --- the rules file drives the detection core ------------------------------------------------------
def example_rule(example: str, kind: type[Rule]) -> Rule:
    return next(rule for rule in load_rules(EXAMPLES / example).rules if isinstance(rule, kind))


def usual(mean: float, std: float) -> Baseline:
    return Baseline(mean=mean, std=std, source="ewma", ready=True)


EXAMPLE_FILES = pytest.mark.parametrize("example", ["rules.en.yaml", "rules.it.yaml"])


@EXAMPLE_FILES
def test_example_negative_spike_rule_detects_a_spike_and_not_noise(example: str) -> None:
    rule = example_rule(example, NegativeSpikeRule)
    assert isinstance(rule, NegativeSpikeRule)
    detector = rule.detector()
    assert isinstance(detector, NegativeSpike)
    assert (detector.threshold_cur, detector.spike_height, detector.z_score, detector.min_share) == (10, 3, 3, 0.4)

    def decide(negative: int, total: int) -> bool:
        return detector.evaluate(
            negative=negative,
            total=total,
            negative_baseline=usual(5, 2),
            total_baseline=usual(25, 4),
            window_minutes=rule.window_minutes,
        ).fired

    assert decide(48, 77)  # 9.6x usual, 62% negative
    assert not decide(7, 26)  # ordinary
    assert not decide(9, 12)  # a jump, but under threshold_cur
    assert not decide(48, 200)  # many negatives, but 24% of a busy window: under min_share


@EXAMPLE_FILES
def test_example_volume_spike_rule_detects_a_rise_and_a_drop_and_not_noise(example: str) -> None:
    rule = example_rule(example, VolumeSpikeRule)
    assert isinstance(rule, VolumeSpikeRule)
    detector = rule.detector()
    assert isinstance(detector, VolumeSpike) and detector.z_score is None and detector.direction == "both"
    assert rule.window_minutes == 15

    def decide(count: int, mean: float, std: float) -> bool:
        return detector.evaluate(count=count, baseline=usual(mean, std), window_minutes=rule.window_minutes).fired

    assert decide(130, 40, 5) and decide(10, 40, 5)  # 3.25x and a quarter of usual
    assert not decide(45, 40, 5) and not decide(70, 40, 5)
    assert not decide(0, 5, 2)  # a key that usually has 5 going to 0: under threshold_ref


@EXAMPLE_FILES
def test_example_flatline_rule_detects_a_silent_source_and_not_a_quiet_one(example: str) -> None:
    rule = example_rule(example, FlatlineRule)
    assert isinstance(rule, FlatlineRule)
    detector = rule.detector()
    assert isinstance(detector, Flatline) and (detector.minutes, detector.min_expected) == (30, 10)

    def decide(recent: int, per_window: float) -> bool:
        return detector.evaluate(recent=recent, baseline=usual(per_window, 1), window_minutes=rule.window_minutes).fired

    assert decide(0, 4)  # usually 4 posts in 5 minutes = 24 in 30, now none
    assert not decide(3, 4)  # still talking
    assert not decide(0, 1)  # usually 6 in 30 minutes: under min_expected


@EXAMPLE_FILES
def test_example_new_term_rule_detects_a_new_hashtag_burst_and_not_a_trickle(example: str) -> None:
    rule = example_rule(example, NewTermRule)
    assert isinstance(rule, NewTermRule)
    detector = rule.detector()
    assert isinstance(detector, NewTerm) and (detector.threshold_cur, detector.new_for_minutes) == (25, 120)
    end = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)

    def decide(count: int, previously_seen: datetime | None = None) -> bool:
        return detector.evaluate(
            count=count,
            first_seen=end - timedelta(minutes=5),
            previously_seen=previously_seen,
            window_end=end,
            window_minutes=rule.window_minutes,
        ).fired

    assert decide(30)
    assert not decide(5)
    assert not decide(30, previously_seen=end - timedelta(days=2))  # seen within lookback_days


def test_a_topic_the_taxonomy_lacks_is_reported():
    rules = parse_rules("rules:\n  - {name: r, kind: volume_spike, filters: {topic: [billing, bollette]}}\n")
    (problem,) = unknown_topics(rules, {"billing", "outage"})
    assert "rule r filters on topic bollette" in problem and "billing, outage" in problem
    assert unknown_topics(rules, {"billing", "bollette"}) == []


def test_a_filter_admits_a_post_with_any_of_its_values_and_every_filter_must_admit() -> None:
    rules = parse_rules(
        "rules:\n  - {name: r, kind: volume_spike, filters: {source: [mastodon, rss], sentiment: negative}}\n"
    )
    filters = rules.rules[0].filters
    post = {"source": "rss", "sentiment": {"label": "negative"}}
    assert filters.admits(post)
    assert not filters.admits({**post, "source": "bluesky"})
    assert not filters.admits({**post, "sentiment": {"label": "neutral"}})
    assert not filters.admits({"source": "rss"})  # no sentiment: not negative
