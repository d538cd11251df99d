"""What the detector knows about one rule and one key, and the alerts that follow from it.

A :class:`KeyTracker` is the state of one (rule, key) pair, e.g. (``negative_by_topic``,
``billing``): the open windows' counts by event time, the baselines, the alert in force, and the
Kafka offsets already counted. It is pure — no Kafka, no clock — and round-trips through a
plain dict, because the detector agent keeps it in a changelog-backed Faust table.

Time is event time (``created_at``). A window ``[start, start + window)`` stays open until the
stream time passes its end by the allowed lateness; a post arriving after that is late, not
counted, and reported. Closing a window evaluates it against the baseline *before* feeding it in,
and windows of an active alert are not fed to the EWMA, so that a long spike does not become normal
(the seasonal history takes every window: a peak at the same hour every day is that hour's normal).

Rules whose count can only grow (negative and volume spikes upward, new terms) are also checked
while their window is still open, so an alert fires as soon as the burst is big enough instead of
when the window ends; the count of a window only grows, so an early alert would have fired at the
close too. Drops (volume down, flatline) and resolutions are decided when a window closes.

:func:`backtest` runs the same trackers over per-window counts read back from Elasticsearch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from schemas import new_alert
from schemas.timestamps import epoch_to_rfc3339, to_datetime
from streams.alerting.baselines import DAY, WEEK, Baseline, Ewma, SeasonalHistory, baseline_for
from streams.alerting.detection import Decision, Flatline, KeyKind, NegativeSpike, NewTerm, VolumeSpike
from streams.alerting.matching import ALL_KEY
from streams.alerting.rules import NegativeSpikeRule, NewTermRule, Rule, VolumeSpikeRule

#: Sample posts an alert carries, and the characters of each text kept.
SAMPLES = 5
SAMPLE_CHARS = 500
#: Distinct terms counted per window (the top ones go in the alert); later new terms are not counted.
TERM_CAP = 200
TOP_TERMS = 10
#: Most empty windows a tracker walks through when the stream moved far ahead (a week of 5-minute windows).
MAX_CATCHUP = 2016
#: Half life of the EWMA baseline, in windows.
HALF_LIFE = 12.0


@dataclass(frozen=True)
class Sighting:
    """One post counted for a rule and key: where it came from (for de-duplication), when, and what a reader sees."""

    partition: int
    offset: int
    ts: float
    negative: bool
    id: str
    author: str = ""
    text: str = ""
    sentiment: str = ""
    terms: tuple[str, ...] = ()

    def to_list(self) -> list[Any]:
        return [
            self.partition,
            self.offset,
            self.ts,
            self.negative,
            self.id,
            self.author,
            self.text,
            self.sentiment,
            list(self.terms),
        ]

    @classmethod
    def from_list(cls, data: Sequence[Any]) -> Sighting:
        p, o, ts, neg, pid, author, text, sentiment, terms = data
        return cls(int(p), int(o), float(ts), bool(neg), str(pid), str(author), str(text), str(sentiment), tuple(terms))


@dataclass(frozen=True)
class Clock:
    """The detector's idea of now: stream (event) time, the allowed lateness, and the rule's start."""

    now: float
    lateness: float
    #: When the detector started watching this rule (event time); new terms seen before this plus the
    #: rule's warm-up are not new, they are only new to the detector.
    rule_started: float | None = None
    #: Wall-clock time the alert is raised at (``created_at``); defaults to ``now``.
    wall: float | None = None
    #: Base URL of the worker's API, for the ready search of alerts.
    api_url: str = "http://127.0.0.1:8000"
    #: Whether the stream had any post at all in [start, end): an empty window of a key is learned as a zero
    #: only then. When the whole stream was silent (ascolto or its sources were down) the window says
    #: nothing about the key, and learning it would make the traffic coming back look like a spike.
    #: None: always (backtests, tests).
    stream_active: Callable[[float, float], bool] | None = None
    #: An alert whose window ended longer ago than this (wall clock) is raised and indexed but not notified:
    #: a new detector reading days of history must not page anyone about them. None: no limit.
    notify_within: float | None = None


@dataclass
class Window:
    """The counts of one open window."""

    total: int = 0
    negative: int = 0
    samples: list[dict[str, Any]] = field(default_factory=list)
    terms: dict[str, int] = field(default_factory=dict)

    def add(self, s: Sighting, prefer_negative: bool) -> None:
        self.total += 1
        self.negative += s.negative
        if len(self.samples) < SAMPLES:
            self.samples.append(_sample(s))
        elif prefer_negative and s.negative:
            # A negative spike is read through its negative posts: they replace the others first.
            for i, kept in enumerate(self.samples):
                if kept.get("sentiment") != "negative":
                    self.samples[i] = _sample(s)
                    break
        for term in s.terms:
            if term in self.terms or len(self.terms) < TERM_CAP:
                self.terms[term] = self.terms.get(term, 0) + 1

    def top_terms(self) -> list[dict[str, Any]]:
        ranked = sorted(self.terms.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_TERMS]
        return [{"term": term, "count": count} for term, count in ranked]

    def to_dict(self) -> dict[str, Any]:
        return {"total": self.total, "negative": self.negative, "samples": self.samples, "terms": self.terms}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Window:
        return cls(int(data["total"]), int(data["negative"]), list(data["samples"]), dict(data["terms"]))


def _sample(s: Sighting) -> dict[str, Any]:
    return {
        "id": s.id,
        "text": s.text[:SAMPLE_CHARS],
        "author": s.author,
        "sentiment": s.sentiment or None,
        "created_at": epoch_to_rfc3339(s.ts),
    }


_DESCRIBE_KIND: dict[str, KeyKind] = {
    "topic": "topic",
    "watch_term": "term",
    "hashtag": "term",
    "source": "source",
    "all": "all",
}


@dataclass(frozen=True)
class Finding:
    """A backtest's answer: the rule would have fired (or resolved) for ``key`` in this window."""

    key: str
    action: str
    window_start: datetime
    window_end: datetime
    summary: str


class KeyTracker:
    """The state of one rule and key (see the module docstring); ``events`` of its methods are Alert v1 dicts."""

    def __init__(self, rule_name: str, key: str) -> None:
        self.rule_name = rule_name
        self.key = key
        self.windows: dict[int, Window] = {}
        #: Windows starting before this are closed (None until the first post).
        self.closed_until: int | None = None
        self.ewma_total = Ewma.with_half_life(HALF_LIFE)
        self.ewma_negative = Ewma.with_half_life(HALF_LIFE)
        self.history_total: SeasonalHistory | None = None
        self.history_negative: SeasonalHistory | None = None
        #: Totals of the last closed windows (a flatline sums them).
        self.recent: list[int] = []
        #: The firing alert, until it resolves.
        self.active: dict[str, Any] | None = None
        #: Event time of the last alert notified, for the rule's realert period.
        self.last_notified: float | None = None
        #: Highest offset counted per enriched-topic partition: a replayed post is not counted twice.
        self.offsets: dict[int, int] = {}
        self.watermark: float = 0.0
        #: new_term only: when the term's current appearance began, and the sighting before it.
        self.first_seen: float | None = None
        self.previously_seen: float | None = None
        self.last_seen: float | None = None
        #: Event time of the first post counted: the detector has watched this rule at least since then.
        self.created: float | None = None
        #: Posts not counted because they came after their window closed (reset by whoever reports them).
        self.late = 0
        #: True when the seasonal history changed since the flag was last cleared (it is stored apart: it is big).
        self.history_changed = False

    # --- feeding it ---------------------------------------------------------------------------
    def add(self, rule: Rule, sightings: Iterable[Sighting], clock: Clock) -> list[dict[str, Any]]:
        """Count new sightings (ones already counted are skipped), then close what is due and check open windows."""
        width = int(rule.window.total_seconds())
        fresh = sorted(
            (s for s in sightings if s.offset > self.offsets.get(s.partition, -1)), key=lambda s: (s.ts, s.offset)
        )
        touched: set[int] = set()
        for s in fresh:
            self.offsets[s.partition] = max(self.offsets.get(s.partition, -1), s.offset)
            start = int(s.ts // width) * width
            if self.closed_until is None:
                self.closed_until = start
            if start < self.closed_until:
                self.late += 1
                continue
            self.watermark = max(self.watermark, s.ts)
            self.created = s.ts if self.created is None else min(self.created, s.ts)
            if isinstance(rule, NewTermRule):
                self._sighted(s.ts, rule)
            self.windows.setdefault(start, Window()).add(s, prefer_negative=isinstance(rule, NegativeSpikeRule))
            touched.add(start)
        events = self.advance(rule, clock)
        for start in sorted(touched):
            if start in self.windows and self.active is None:
                events += self._check_open(rule, start, clock)
        return events

    def advance(self, rule: Rule, clock: Clock) -> list[dict[str, Any]]:
        """Close every window whose end plus the allowed lateness is past ``clock.now``, in order."""
        if self.closed_until is None:
            return []
        width = int(rule.window.total_seconds())
        last = int((clock.now - clock.lateness) // width) * width - width  # the latest start that may close
        if last < self.closed_until:
            return []
        if (last - self.closed_until) // width > MAX_CATCHUP:
            # Far behind (the key was silent for a long time): empty windows older than that teach nothing new.
            skip_to = last - MAX_CATCHUP * width
            self.windows = {s: w for s, w in self.windows.items() if s >= skip_to}
            self.closed_until = min([skip_to, *self.windows])
        events: list[dict[str, Any]] = []
        start = self.closed_until
        while start <= last:
            window = self.windows.pop(start, None) or Window()
            events += self._close(rule, start, window, clock)
            start += width
        self.closed_until = start
        return events

    # --- deciding -----------------------------------------------------------------------------
    def _baselines(self, rule: Rule, start: int) -> tuple[Baseline, Baseline]:
        warmup = getattr(rule, "warmup", 6)
        mode = getattr(rule, "baseline", "auto")
        if mode == "seasonal":
            min_seasons = 2
        elif mode == "ewma":
            return self.ewma_total.baseline(warmup), self.ewma_negative.baseline(warmup)
        else:
            min_seasons = 3
        total = baseline_for(start, self.ewma_total, self.history_total, warmup=warmup, min_seasons=min_seasons)
        negative = baseline_for(
            start, self.ewma_negative, self.history_negative, warmup=warmup, min_seasons=min_seasons
        )
        return total, negative

    def _decide(self, rule: Rule, start: int, window: Window, clock: Clock, *, closing: bool) -> Decision:
        minutes = rule.window_minutes
        total_base, negative_base = self._baselines(rule, start)
        active = self.active is not None
        detector = rule.detector()
        if isinstance(detector, NegativeSpike):
            return detector.evaluate(
                negative=window.negative,
                total=window.total,
                negative_baseline=negative_base,
                total_baseline=total_base,
                window_minutes=minutes,
                active=active,
            )
        if isinstance(detector, VolumeSpike):
            if not closing:
                # An open window's count can still grow: only a rise can be decided early.
                detector = replace(detector, direction="up")
            return detector.evaluate(count=window.total, baseline=total_base, window_minutes=minutes, active=active)
        if isinstance(detector, Flatline):
            spans = max(1, math.ceil(detector.minutes / minutes))
            recent = sum(self.recent[-(spans - 1) :]) + window.total if spans > 1 else window.total
            if len(self.recent) < spans - 1:
                recent = max(recent, detector.max_posts + 1)  # not yet watched for that long
            return detector.evaluate(recent=recent, baseline=total_base, window_minutes=minutes, active=active)
        assert isinstance(detector, NewTerm)
        first = self.first_seen if self.first_seen is not None else start
        previously = self.previously_seen
        if (
            previously is None
            and clock.rule_started is not None
            and first < clock.rule_started + getattr(rule, "warmup", 0) * minutes * 60
        ):
            # Seen in the rule's first windows: the detector had just started, the term need not be new.
            previously = first
        return detector.evaluate(
            count=window.total,
            first_seen=datetime.fromtimestamp(first, UTC),
            previously_seen=None if previously is None else datetime.fromtimestamp(previously, UTC),
            window_end=datetime.fromtimestamp(start + minutes * 60, UTC),
            window_minutes=minutes,
            active=active,
        )

    def _check_open(self, rule: Rule, start: int, clock: Clock) -> list[dict[str, Any]]:
        if isinstance(rule, VolumeSpikeRule) and rule.direction == "down":
            return []
        if not isinstance(rule, NegativeSpikeRule | VolumeSpikeRule | NewTermRule):
            return []
        decision = self._decide(rule, start, self.windows[start], clock, closing=False)
        return [self._fire(rule, start, self.windows[start], decision, clock)] if decision.fired else []

    def _close(self, rule: Rule, start: int, window: Window, clock: Clock) -> list[dict[str, Any]]:
        decision = self._decide(rule, start, window, clock, closing=True)
        events: list[dict[str, Any]] = []
        if decision.fired and self.active is None:
            events.append(self._fire(rule, start, window, decision, clock))
        elif (
            decision.action == "resolve"
            and self.active is not None
            and epoch_to_rfc3339(start) > self.active["window_start"]
        ):
            # Only a window after the alert's resolves it: the one before may close later than the
            # alert fired (its lateness), and it says nothing about whether the spike is over.
            events.append(self._resolve(rule, start, window, decision, clock))
        if (
            window.total
            or clock.stream_active is None
            or clock.stream_active(start, start + int(rule.window.total_seconds()))
        ):
            self._learn(rule, start, window, ewma=self.active is None)
        self.recent = [*self.recent, window.total][-64:]
        return events

    def _learn(self, rule: Rule, start: int, window: Window, *, ewma: bool) -> None:
        # The EWMA skips the windows of an active alert, or a long spike would become its normal; the seasonal
        # history records every window: a peak that comes back at the same hour every day is that hour's normal.
        if ewma:
            self.ewma_total = self.ewma_total.update(window.total)
            self.ewma_negative = self.ewma_negative.update(window.negative)
        if getattr(rule, "baseline", "auto") == "ewma":
            return
        period = WEEK if getattr(rule, "season", "day") == "week" else DAY
        if self.history_total is None or self.history_negative is None:
            self.history_total = SeasonalHistory(period=period, seasons=7)
            self.history_negative = SeasonalHistory(period=period, seasons=7)
        self.history_total = self.history_total.record(start, window.total)
        self.history_negative = self.history_negative.record(start, window.negative)
        self.history_changed = True

    def _sighted(self, ts: float, rule: NewTermRule) -> None:
        lookback = rule.lookback_days * DAY
        if self.last_seen is None or ts - self.last_seen >= lookback:
            self.previously_seen, self.first_seen = self.last_seen, ts
        self.last_seen = ts if self.last_seen is None else max(self.last_seen, ts)

    # --- alert events -------------------------------------------------------------------------
    def _fire(self, rule: Rule, start: int, window: Window, decision: Decision, clock: Clock) -> dict[str, Any]:
        width = int(rule.window.total_seconds())
        window_start, window_end = epoch_to_rfc3339(start), epoch_to_rfc3339(start + width)
        wall = clock.wall if clock.wall is not None else clock.now
        realert = rule.realert.total_seconds()
        notify = self.last_notified is None or clock.now - self.last_notified >= realert
        if clock.notify_within is not None and wall - (start + width) > clock.notify_within:
            notify = False  # history, not news
        elif notify:
            self.last_notified = clock.now
        share = decision.share_negative
        by_share = decision.metric == "negative_share"
        alert = new_alert(
            rule=rule.name,
            key=self.key,
            window_start=window_start,
            window_end=window_end,
            metric=decision.metric,
            observed=float(share if by_share and share is not None else decision.current),
            baseline=float(
                decision.share_baseline if by_share and decision.share_baseline is not None else decision.baseline.mean
            ),
            score=round(float(decision.z), 3),
            severity=decision.severity,
            sample_post_ids=[s["id"] for s in window.samples],
            created_at=epoch_to_rfc3339(wall),
            status="firing",
            kind=rule.kind,
            key_kind=rule.key,
            language=rule.language,
            summary=decision.describe(self.key, _DESCRIBE_KIND[rule.key], rule.language),
            window_minutes=rule.window_minutes,
            total=window.total,
            negative=window.negative,
            share_negative=None if window.total == 0 else round(window.negative / window.total, 4),
            share_baseline=None if decision.share_baseline is None else round(min(decision.share_baseline, 1.0), 4),
            baseline_std=round(float(decision.baseline.std), 3),
            baseline_source=decision.baseline.source if decision.kind != "new_term" else "none",
            ratio=None if decision.ratio is None else round(float(decision.ratio), 3),
            top_terms=window.top_terms(),
            samples=window.samples,
            search=alert_search(rule, self.key, window_start, window_end, clock.api_url),
            notify=notify,
        )
        self.active = dict(alert)
        return self.active

    def _resolve(self, rule: Rule, start: int, window: Window, decision: Decision, clock: Clock) -> dict[str, Any]:
        assert self.active is not None
        width = int(rule.window.total_seconds())
        wall = clock.wall if clock.wall is not None else clock.now
        resolved = {
            **self.active,
            "status": "resolved",
            "resolved_at": epoch_to_rfc3339(wall),
            "resolution": {
                "window_start": epoch_to_rfc3339(start),
                "window_end": epoch_to_rfc3339(start + width),
                "observed": float(decision.current),
                "summary": decision.describe(self.key, _DESCRIBE_KIND[rule.key], rule.language),
            },
        }
        self.active = None
        return resolved

    # --- state in a table ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule_name,
            "key": self.key,
            "windows": {str(s): w.to_dict() for s, w in self.windows.items()},
            "closed_until": self.closed_until,
            "ewma_total": self.ewma_total.to_dict(),
            "ewma_negative": self.ewma_negative.to_dict(),
            "recent": self.recent,
            "active": self.active,
            "last_notified": self.last_notified,
            "offsets": {str(p): o for p, o in self.offsets.items()},
            "watermark": self.watermark,
            "first_seen": self.first_seen,
            "previously_seen": self.previously_seen,
            "last_seen": self.last_seen,
            "created": self.created,
        }

    def history_dict(self) -> dict[str, Any] | None:
        """The seasonal history (a week of windows: stored apart from the rest, and only when it changed)."""
        if self.history_total is None or self.history_negative is None:
            return None
        return {"total": self.history_total.to_dict(), "negative": self.history_negative.to_dict()}

    def load_history(self, data: Mapping[str, Any] | None) -> None:
        if data is not None:
            self.history_total = SeasonalHistory.from_dict(data["total"])
            self.history_negative = SeasonalHistory.from_dict(data["negative"])

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> KeyTracker:
        t = cls(str(data["rule"]), str(data["key"]))
        t.windows = {int(s): Window.from_dict(w) for s, w in data["windows"].items()}
        t.closed_until = data["closed_until"]
        t.ewma_total = Ewma.from_dict(data["ewma_total"])
        t.ewma_negative = Ewma.from_dict(data["ewma_negative"])
        t.recent = list(data["recent"])
        t.active = data["active"]
        t.last_notified = data["last_notified"]
        t.offsets = {int(p): int(o) for p, o in data["offsets"].items()}
        t.watermark = float(data["watermark"])
        t.first_seen, t.previously_seen, t.last_seen = data["first_seen"], data["previously_seen"], data["last_seen"]
        t.created = data.get("created")
        return t


def alert_search(rule: Rule, key: str, window_start: str, window_end: str, api_url: str) -> dict[str, str]:
    """The posts behind an alert: an ``ascolto search`` line and the API URL with the same filters."""
    params: list[tuple[str, str]] = []
    query = ""
    filters = rule.filters
    if rule.key == "topic":
        params.append(("topic", key))
    elif rule.key == "source":
        params.append(("source", key))
    elif rule.key in ("watch_term", "hashtag") and key != ALL_KEY:
        field_name = "entities.watch_terms" if rule.key == "watch_term" else "entities.hashtags"
        query = f'{field_name}:"{key}"'
    for name, values in (("topic", filters.topic), ("source", filters.source), ("lang", filters.lang)):
        if name != rule.key:
            params += [(name, v) for v in values]
    sentiments = list(filters.sentiment) or (["negative"] if rule.kind == "negative_spike" else [])
    params += [("sentiment", s) for s in sentiments]
    if filters.watch_term and rule.key != "watch_term":
        terms = " OR ".join(f'entities.watch_terms:"{t}"' for t in filters.watch_term)
        query = f"({terms})" if not query else f"{query} AND ({terms})"
    params += [("since", window_start), ("until", window_end)]
    cli = "ascolto search" + (f" {_shell_quote(query)}" if query else "")
    cli += "".join(f" --{name} {_shell_quote(value)}" for name, value in params)
    url = f"{api_url.rstrip('/')}/api/search?" + urlencode(([("q", query)] if query else []) + params)
    return {"cli": cli, "url": url}


def _shell_quote(value: str) -> str:
    if value and all(c.isalnum() or c in "-_.:+" for c in value):
        return value
    return "'" + value.replace("'", "'\"'\"'") + "'"


def backtest(rule: Rule, series: Mapping[str, Sequence[tuple[int, int, int]]]) -> list[Finding]:
    """When ``rule`` would have fired and resolved, given complete per-window counts (start, posts, negative)
    of each key, in time order; windows are closed as they come, as the detector closes them."""
    width = int(rule.window.total_seconds())
    findings: list[Finding] = []
    for key, windows in series.items():
        tracker = KeyTracker(rule.name, key)
        ordered = sorted(windows)
        if not ordered:
            continue
        tracker.closed_until = ordered[0][0]
        started = float(ordered[0][0])
        for start, total, negative in ordered:
            window = Window(total=int(total), negative=int(negative))
            if isinstance(rule, NewTermRule) and total:
                tracker._sighted(float(start), rule)
            clock = Clock(now=float(start + width), lateness=0.0, rule_started=started)
            events: list[dict[str, Any]] = []
            if tracker.closed_until is not None and start < tracker.closed_until:
                continue
            # Fill any gap the series left, then close this window.
            if start > tracker.closed_until:
                events += tracker.advance(rule, Clock(now=float(start), lateness=0.0, rule_started=started))
            events += tracker._close(rule, start, window, clock)
            tracker.closed_until = start + width
            for event in events:
                resolution = event.get("resolution") or {}
                findings.append(
                    Finding(
                        key=key,
                        action="fire" if event["status"] == "firing" else "resolve",
                        window_start=to_datetime(resolution.get("window_start") or event["window_start"]),
                        window_end=to_datetime(resolution.get("window_end") or event["window_end"]),
                        summary=resolution.get("summary") or event["summary"],
                    )
                )
    return sorted(findings, key=lambda f: (f.window_start, f.key, f.action))
