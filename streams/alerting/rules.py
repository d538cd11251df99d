"""Alert rules: the YAML file users write (``ASCOLTO_ALERT_RULES``), its model and a loader whose errors name file:line.

A rules file is a mapping with one list, ``rules``; each rule has a ``kind`` and the parameters of that kind::

    rules:
      - name: billing_negative
        kind: negative_spike          # negative_spike | volume_spike | flatline | new_term
        filters: {topic: [billing]}   # topic, watch_term, source, lang, sentiment (lists)
        key: topic                    # what is counted apart: topic | watch_term | source | hashtag | all
        window: 10m
        threshold_cur: 10             # ElastAlert's names: threshold_cur, threshold_ref, spike_height, z_score
        z_score: 3                    # or sensitivity: low | medium | high; spike_height: 3 (null: off)
        subscribers:
          - webhook: {url: "https://ops.example.com/hook", secret_env: ASCOLTO_HOOK_SECRET}
          - slack: {url_env: ASCOLTO_SLACK_URL, digest: 1h}   # digest: one message per hour listing its alerts

Secrets (webhook signing keys, Slack and Teams URLs) are named by environment variable, never written in the file.
Examples in English and Italian: ``streams/alerting/rule_examples/``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from core.durations import parse_duration
from core.yaml_file import ConfigFileError, FileShape, env_var_name, listify, load_model, read_text
from streams.alerting.detection import Flatline, NegativeSpike, NewTerm, VolumeSpike
from streams.alerting.matching import Matcher

KINDS = ("negative_spike", "volume_spike", "flatline", "new_term")

# --- field types ----------------------------------------------------------------------------------
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PRESETS = {"low": 4.0, "medium": 3.0, "high": 2.0}  # sensitivity words as z-scores: high fires soonest


def _pattern(regex: str, advice: str) -> AfterValidator:
    compiled = re.compile(regex)

    def check(value: str) -> str:
        if not compiled.match(value):
            raise ValueError(advice)
        return value

    return AfterValidator(check)


def _email(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError(f"{value!r} is not an e-mail address")
    return value


_NAME = _pattern(
    r"^[a-z0-9_.-]+$", "a rule name uses lower-case letters, digits, _ . and - only, like billing_negative"
)
_LANG = _pattern(r"^([a-z]{2,3}|und)$", "a language is an ISO 639-1 code, like it or en")
# No user:password@ in a URL: credentials belong in the environment (secret_env), not in the file.
_URL = _pattern(r"^https?://[^\s@/]+(/\S*)?$", "write an http(s) URL with no user or password in it")
Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
EnvName = Annotated[str, AfterValidator(env_var_name("secret", "ASCOLTO_HOOK_SECRET"))]
Words = Annotated[tuple[Annotated[str, Field(min_length=1)], ...], BeforeValidator(listify)]
KeyField = Literal["topic", "watch_term", "source", "hashtag", "all"]
Language = Literal["it", "en"]
Baseline = Literal["auto", "seasonal", "ewma"]


class _Strict(BaseModel):
    # Unknown fields are errors: a typo (``treshold``) must not silently become a default.
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- filters --------------------------------------------------------------------------------------
class Filters(_Strict):
    """Which posts a rule counts; each list admits a post having any of its values; empty lists admit all."""

    topic: Words = ()
    watch_term: Words = ()
    source: Words = ()
    lang: Annotated[tuple[Annotated[str, _LANG], ...], BeforeValidator(listify)] = ()
    sentiment: Annotated[tuple[Literal["positive", "neutral", "negative"], ...], BeforeValidator(listify)] = ()

    def admits(self, post: Mapping[str, Any]) -> bool:
        """Whether an EnrichedPost v1 passes every filter."""
        return Matcher.of(self).admits(post)


# --- subscribers ----------------------------------------------------------------------------------
class WebhookChannel(_Strict):
    """POST of the alert as JSON, signed with HMAC-SHA256 by the secret in ``secret_env``."""

    kind: ClassVar[str] = "webhook"
    url: Annotated[str, _URL]
    secret_env: EnvName
    timeout_seconds: float = Field(10.0, gt=0, le=120)
    digest: Duration | None = None  # batch this subscriber's alerts into one message per period (e.g. 1h)


class SlackChannel(_Strict):
    """A Slack incoming webhook; its URL is a secret, so the file names the variable holding it."""

    kind: ClassVar[str] = "slack"
    url_env: EnvName
    digest: Duration | None = None  # batch this subscriber's alerts into one message per period (e.g. 1h)


class TeamsChannel(_Strict):
    """A Microsoft Teams Workflows (Power Automate) webhook; its URL is in the variable ``url_env``."""

    kind: ClassVar[str] = "teams"
    url_env: EnvName
    digest: Duration | None = None  # batch this subscriber's alerts into one message per period (e.g. 1h)


class EmailChannel(_Strict):
    """E-mail over SMTP (server and login from the environment); ``language`` overrides the rule's."""

    kind: ClassVar[str] = "email"
    to: Annotated[tuple[Annotated[str, AfterValidator(_email)], ...], BeforeValidator(listify), Field(min_length=1)]
    language: Language | None = None
    digest: Duration | None = None  # batch this subscriber's alerts into one message per period (e.g. 1h)


class KafkaChannel(_Strict):
    """The alerts topic itself, for downstream systems (every alert goes there anyway; this makes it explicit)."""

    kind: ClassVar[str] = "kafka"


Channel = WebhookChannel | SlackChannel | TeamsChannel | EmailChannel | KafkaChannel


class Subscriber(_Strict):
    """One item of ``subscribers``, written as ``- webhook: {...}``, ``- slack: {...}``, ... (exactly one)."""

    webhook: WebhookChannel | None = None
    slack: SlackChannel | None = None
    teams: TeamsChannel | None = None
    email: EmailChannel | None = None
    kafka: KafkaChannel | None = None

    @model_validator(mode="before")
    @classmethod
    def _empty_kafka(cls, data: Any) -> Any:
        # ``- kafka:`` with nothing after it reads as None in YAML; it means "the topic, no options".
        if isinstance(data, dict) and "kafka" in data and data["kafka"] is None:
            return {**data, "kafka": {}}
        return data

    @model_validator(mode="after")
    def _exactly_one(self) -> Subscriber:
        if sum(channel is not None for channel in self._channels()) != 1:
            raise ValueError("a subscriber is exactly one of webhook, slack, teams, email or kafka")
        return self

    def _channels(self) -> tuple[Channel | None, ...]:
        return (self.webhook, self.slack, self.teams, self.email, self.kafka)

    @property
    def channel(self) -> Channel:
        """The one channel this subscriber is."""
        return next(channel for channel in self._channels() if channel is not None)


# --- rules ----------------------------------------------------------------------------------------
class _RuleBase(_Strict):
    name: Annotated[str, Field(max_length=128), _NAME]
    description: str = ""
    filters: Filters = Filters()
    key: KeyField = "all"
    window: Duration = timedelta(minutes=10)
    realert: Duration = timedelta(minutes=30)
    language: Language = "en"
    subscribers: tuple[Subscriber, ...] = ()

    @field_validator("window")
    @classmethod
    def _window_lines_up(cls, window: timedelta) -> timedelta:
        seconds = window.total_seconds()
        # Windows start at multiples of their length since the epoch; dividing a day makes them start
        # at the same times every day, which the seasonal baseline compares with.
        if not 60 <= seconds <= 86400 or 86400 % seconds:
            raise ValueError("a window lasts from 1m to 1d and divides a day evenly, like 5m, 10m, 15m, 30m or 1h")
        return window

    @property
    def window_minutes(self) -> float:
        """The window's length in minutes, as the evaluators' ``window_minutes`` takes it."""
        return self.window.total_seconds() / 60

    def keys_of(self, post: Mapping[str, Any]) -> list[str]:
        """The keys an EnrichedPost v1 counts under for this rule (none when the filters leave it out)."""
        return Matcher.of(self.filters, self.key).keys_of(post)


class _SpikeRule(_RuleBase):
    """The parameters of ElastAlert's spike rule, named as there (see streams/alerting/detection.py)."""

    threshold_cur: int = Field(10, ge=1, description="Fewest posts in the window for the rule to fire.")
    threshold_ref: float = Field(0.0, ge=0, description="Fewest posts the baseline must expect to compare.")
    spike_height: float | None = Field(3.0, gt=1, le=1000, description="Times usual that is a spike; null: off.")
    z_score: float | None = Field(3.0, gt=0, le=20, description="Standard deviations that are a spike; null: off.")
    sensitivity: Literal["low", "medium", "high"] | None = Field(
        None, description="A word for z_score: low 4, medium 3, high 2 (high fires soonest)."
    )
    resolve_z: float = Field(1.0, ge=0, le=20, description="Back within this many std of usual: resolved.")
    baseline: Baseline = Field("auto", description="auto: seasonal once enough history exists, else ewma.")
    season: Literal["day", "week"] = Field(
        "day", description="The seasonal baseline compares with the same time of previous days, or of previous weeks."
    )
    warmup: int = Field(6, ge=0, le=10_000, description="Windows of a key seen before the rule may fire for it.")

    @model_validator(mode="before")
    @classmethod
    def _sensitivity_is_a_z_score(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("sensitivity"), str) and data["sensitivity"] in _PRESETS:
            if "z_score" in data:
                raise ValueError("give either sensitivity or z_score, not both: sensitivity is a name for a z_score")
            return {**data, "z_score": _PRESETS[data["sensitivity"]]}
        return data

    @model_validator(mode="after")
    def _detector_accepts_it(self) -> _SpikeRule:
        # The evaluator's own checks (at least one of spike_height and z_score) are the rule's.
        self.detector()
        return self

    def detector(self) -> NegativeSpike | VolumeSpike:
        raise NotImplementedError  # each kind builds its own


class NegativeSpikeRule(_SpikeRule):
    """Negative posts of a key well above their baseline (``measure: count``), or their share (``measure: share``)."""

    kind: Literal["negative_spike"]
    measure: Literal["count", "share", "either", "both"] = "count"
    share_rise: float = Field(0.2, gt=0, le=1, description="Rise of the negative share over usual (0.2 = 20 points).")
    min_share: float | None = Field(None, ge=0, le=1, description="Least share of negative posts (0-1) to fire.")

    def detector(self) -> NegativeSpike:
        """The evaluator of this rule's windows."""
        return NegativeSpike(
            threshold_cur=self.threshold_cur,
            threshold_ref=self.threshold_ref,
            spike_height=self.spike_height,
            z_score=self.z_score,
            measure=self.measure,
            share_rise=self.share_rise,
            resolve_z=self.resolve_z,
            min_share=self.min_share,
        )


class VolumeSpikeRule(_SpikeRule):
    """All posts of a key far above (``up``), below (``down``) or away from (``both``) their baseline."""

    kind: Literal["volume_spike"]
    direction: Literal["up", "down", "both"] = "up"

    def detector(self) -> VolumeSpike:
        """The evaluator of this rule's windows."""
        return VolumeSpike(
            direction=self.direction,
            threshold_cur=self.threshold_cur,
            threshold_ref=self.threshold_ref,
            spike_height=self.spike_height,
            z_score=self.z_score,
            resolve_z=self.resolve_z,
        )


class FlatlineRule(_RuleBase):
    """A key that usually has ``min_expected`` posts in ``minutes`` minutes had at most ``max_posts`` in them."""

    kind: Literal["flatline"]
    key: KeyField = "source"
    minutes: int = Field(ge=1, le=7 * 24 * 60, description="Minutes of silence that fire.")
    max_posts: int = Field(0, ge=0, description="Most posts in those minutes that still count as silence.")
    min_expected: float = Field(5.0, gt=0, description="Fewest posts the key usually has in those minutes.")
    warmup: int = Field(6, ge=0, le=10_000, description="Windows of a key seen before the rule may fire for it.")

    @model_validator(mode="after")
    def _silence_covers_a_window(self) -> FlatlineRule:
        if self.minutes < self.window_minutes:
            raise ValueError("minutes must be at least the window, since silence is seen window by window")
        return self

    def detector(self) -> Flatline:
        """The evaluator of this rule's windows."""
        return Flatline(minutes=self.minutes, max_posts=self.max_posts, min_expected=self.min_expected)


class NewTermRule(_RuleBase):
    """A hashtag not seen in the last ``lookback_days`` reaching ``threshold_cur`` posts in one window."""

    kind: Literal["new_term"]
    key: Literal["hashtag"] = "hashtag"
    threshold_cur: int = Field(10, ge=1, description="Fewest posts with the term in one window to fire.")
    lookback_days: int = Field(7, ge=1, le=90, description="Days unseen for a term to be new.")
    new_for_minutes: int = Field(24 * 60, ge=1, le=30 * 24 * 60, description="Minutes a term stays new.")
    warmup: int = Field(
        6, ge=0, le=10_000, description="Windows after the rule starts in which terms are only new to ascolto."
    )

    @model_validator(mode="after")
    def _new_for_a_window(self) -> NewTermRule:
        if self.new_for_minutes < self.window_minutes:
            raise ValueError("new_for_minutes must be at least the window, or a burst could end before it is seen")
        return self

    def detector(self) -> NewTerm:
        """The evaluator of this rule's windows."""
        return NewTerm(
            threshold_cur=self.threshold_cur, lookback_days=self.lookback_days, new_for_minutes=self.new_for_minutes
        )


Rule = Annotated[NegativeSpikeRule | VolumeSpikeRule | FlatlineRule | NewTermRule, Field(discriminator="kind")]


class RuleSet(_Strict):
    """Every rule of one file, names unique."""

    rules: tuple[Rule, ...] = ()

    @field_validator("rules")
    @classmethod
    def _unique_names(cls, rules: tuple[Rule, ...]) -> tuple[Rule, ...]:
        names = [rule.name for rule in rules]
        if twice := sorted({name for name in names if names.count(name) > 1}):
            raise PydanticCustomError("duplicate_rule_name", "rule names must be unique: {names}", {"names": twice})
        return rules

    def get(self, name: str) -> Rule | None:
        return next((rule for rule in self.rules if rule.name == name), None)


def unknown_topics(rules: RuleSet, topics: set[str]) -> list[str]:
    """One sentence per rule filtering on a topic the taxonomy does not have (such a filter matches no post)."""
    problems = []
    for rule in rules.rules:
        missing = sorted(set(rule.filters.topic) - topics)
        if missing:
            problems.append(
                f"rule {rule.name} filters on topic {', '.join(missing)}, which the taxonomy does not have "
                f"(its topics: {', '.join(sorted(topics))}); it will never match there."
            )
    return problems


# --- loading --------------------------------------------------------------------------------------
class RuleFileError(ConfigFileError):
    """The rules file cannot be used; ``problems`` holds one sentence per mistake, each starting file:line."""


_SHAPE = FileShape(
    list_key="rules",
    noun="rule",
    tag="kind",
    tags=KINDS,
    # The model behind a mapping, named by the last part of its location, to list the fields it knows.
    models_by_name={
        "filters": Filters,
        "subscribers": Subscriber,
        "webhook": WebhookChannel,
        "slack": SlackChannel,
        "teams": TeamsChannel,
        "email": EmailChannel,
        "kafka": KafkaChannel,
        "negative_spike": NegativeSpikeRule,
        "volume_spike": VolumeSpikeRule,
        "flatline": FlatlineRule,
        "new_term": NewTermRule,
    },
    not_a_mapping=(
        "the file must be a mapping with a list `rules:` "
        "(see streams/alerting/rule_examples); write `rules: []` for none."
    ),
    skip_error_types=frozenset({"duplicate_rule_name"}),  # told with both lines by the loader
)


def load_rules(path: Path | str) -> RuleSet:
    """Read and check the alert rules file at ``path``; raises :class:`RuleFileError` naming file:line and field."""
    text = read_text(
        path,
        error=RuleFileError,
        cannot_read=lambda reason: f"Cannot read the alert rules file {path} ({reason}); check ASCOLTO_ALERT_RULES.",
    )
    return parse_rules(text, source=str(path))


def parse_rules(text: str, source: str = "<rules>") -> RuleSet:
    """Check the text of a rules file; ``source`` names it in errors."""
    return load_model(text, RuleSet, _SHAPE, source=source, error=RuleFileError)
