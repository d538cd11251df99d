"""The detector: enriched posts → counts per rule and key (changelog-backed) → ``alerts``.

Two stages, because a Faust table must be written by the worker that owns the key's partition,
while a post counts under many keys (its topics, watch terms, source, the whole stream):

1. **tally**, in the enrich agent: each batch it has just enriched becomes one record per rule and
   key on ``alerts.tallies``, keyed ``rule<US>key`` (:meth:`Detector.tap`,
   :func:`streams.alerting.tallies.tally_records`), published with the batch and acknowledged
   before the batch's raw offsets are. (A consumer of ``posts.enriched`` of its own did the same
   at 2.3× the CPU: it fetched, unpacked and decoded every post again; see the README's benchmark.)
2. **detect** (a Faust agent on ``alerts.tallies``): the key's
   :class:`~streams.alerting.tracker.KeyTracker` from the ``alert-trackers`` table counts the
   sightings (skipping any already counted: each carries its raw message's partition and offset),
   closes due windows, and decides. Alerts are published and acknowledged *before* the tracker is
   stored, so a crash in between re-raises the same alert (same id: the notifier and the index
   de-duplicate) and never loses one. The tables are changelog-backed: a restarted or rebalanced
   worker recovers the counts, baselines and the alert in force.
3. A timer closes the due windows of keys that had no posts (a flatline is the absence of posts)
   and reloads the rules file when it changed.

Time is event time: each rule's clock is the newest ``created_at`` it counted, moving on with the
wall clock while nothing arrives (:class:`StreamClock`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import faust
import orjson
from aiokafka.partitioner import DefaultPartitioner

from core.kafka import TopicNames
from core.kafka_config import KafkaConnection
from core.settings import Settings
from schemas import ALERT_HEADERS, dumps
from streams import metrics
from streams.alerting.rulebook import RuleBook
from streams.alerting.rules import NewTermRule, Rule
from streams.alerting.tallies import decode_tally, split_key, tally_records
from streams.alerting.tracker import Clock, KeyTracker
from streams.publishing import OutRecord

log = logging.getLogger(__name__)


class StreamClock:
    """Event time: the newest ``created_at`` seen, advancing with the wall clock while none newer comes."""

    def __init__(self, wall: Callable[[], float] = time.time) -> None:
        self.wall = wall
        self.event = 0.0
        self.at = wall()

    def saw(self, ts: float) -> None:
        if ts > self.now():
            self.event, self.at = ts, self.wall()

    def now(self) -> float:
        return self.event + max(0.0, self.wall() - self.at) if self.event else 0.0


class Activity:
    """The minutes (event time) in which the stream had any post, as the tallies this worker reads tell it,
    for the last :data:`DAYS` days.

    Not stored: after a restart the minutes before it count as silent, which is what the gap was.
    """

    DAYS = 8

    def __init__(self) -> None:
        self.minutes: set[int] = set()
        self._newest = 0

    def saw(self, minutes: Iterable[int]) -> None:
        for minute in minutes:
            self.minutes.add(minute)
            if minute > self._newest + 3600:  # prune about once an hour of event time
                self._newest = minute
                oldest = minute - self.DAYS * 86_400
                self.minutes = {m for m in self.minutes if m >= oldest}

    def active(self, start: float, end: float) -> bool:
        minute = int(start // 60) * 60
        return any(m in self.minutes for m in range(minute, int(end), 60))


def _shape(rule: Rule) -> str:
    """What a tracker's state depends on: when it changes (a new window length, say), the state starts over."""
    return f"{rule.kind}/{int(rule.window.total_seconds())}/{getattr(rule, 'season', '')}"


class Detector:
    """The detect stage's state: the tables, a cache of decoded trackers, the clock (see the module docstring)."""

    def __init__(self, app: faust.App, settings: Settings, rulebook: RuleBook, names: TopicNames) -> None:
        self.settings = settings
        self.rulebook = rulebook
        self.names = names

        def table(name: str, help: str) -> Any:
            return app.Table(
                name,
                help=help,
                default=None,
                key_type=bytes,
                value_type=bytes,
                partitions=settings.topic_partitions,
                # Written from the timer too, not only while handling a tally: the key picks the partition,
                # the same one its tallies are in (same bytes, same partitioner).
                use_partitioner=True,
            )

        self.trackers = table("alert-trackers", "Detector state per rule and key.")
        self.histories = table("alert-histories", "Seasonal history per rule and key.")
        self.alerts = app.topic(names.alerts, key_type=bytes, value_type=bytes)
        #: One event-time clock per rule: a rule added while the worker runs starts its own, so it can be
        #: fed a backfill (``connect generator --backdate``, a replay) without its posts being late.
        self.clocks: dict[str, StreamClock] = {}
        self.activity = Activity()
        self._cache: dict[bytes, tuple[bytes, KeyTracker]] = {}
        self._partitioner = DefaultPartitioner()
        self._partitions = list(range(settings.topic_partitions))
        self._started: dict[str, float] = {}
        self.app = app

    # --- one tracker ----------------------------------------------------------------------------
    def _load(self, key: bytes, rule: Rule) -> KeyTracker:
        raw = self.trackers.get(key)
        cached = self._cache.get(key)
        if raw is not None and cached is not None and cached[0] is raw:
            return cached[1]
        rule_name, name = split_key(key)
        tracker = KeyTracker(rule_name, name)
        if raw is not None:
            stored = orjson.loads(raw)
            if stored.get("shape") == _shape(rule):
                tracker = KeyTracker.from_dict(stored["tracker"])
                history = self.histories.get(key)
                tracker.load_history(orjson.loads(history) if history is not None else None)
            self.clock_of(rule).saw(tracker.watermark)
        if tracker.created is not None:
            self._started[rule.name] = min(self._started.get(rule.name, tracker.created), tracker.created)
        return tracker

    def _store(self, key: bytes, rule: Rule, tracker: KeyTracker) -> None:
        raw = orjson.dumps({"shape": _shape(rule), "tracker": tracker.to_dict()})
        self.trackers[key] = raw
        if tracker.history_changed:
            self.histories[key] = orjson.dumps(tracker.history_dict())
            tracker.history_changed = False
        self._cache[key] = (raw, tracker)

    def clock_of(self, rule: Rule) -> StreamClock:
        clock = self.clocks.get(rule.name)
        if clock is None:
            clock = self.clocks[rule.name] = StreamClock()
        return clock

    def _clock(self, rule: Rule) -> Clock:
        return Clock(
            now=self.clock_of(rule).now(),
            lateness=self.settings.alert_lateness_seconds,
            rule_started=self._started.get(rule.name),
            wall=time.time(),
            api_url=self.settings.api_url,
            notify_within=self.settings.alert_notify_within_seconds or None,
            stream_active=self.activity.active,
        )

    async def _publish(self, rule: Rule, events: list[dict[str, Any]]) -> None:
        for event in events:
            # Wait for the broker: the tracker (which now thinks the alert is out) is stored only after.
            delivery = await self.alerts.send(key=event["id"].encode(), value=dumps(event), headers=list(ALERT_HEADERS))
            await delivery
            if event["status"] == "firing":
                metrics.ALERTS_FIRED.labels(rule.name, rule.kind).inc()
                if not event.get("notify", True):
                    metrics.ALERTS_SUPPRESSED.labels(rule.name).inc()
                log.warning("ALERT %s [%s] %s (id %s)", rule.name, event["severity"], event["summary"], event["id"])
            else:
                metrics.ALERTS_RESOLVED.labels(rule.name, rule.kind).inc()
                log.warning("RESOLVED %s %s (id %s)", rule.name, event["key"], event["id"])

    # --- the agent and the timer ---------------------------------------------------------------
    async def count(self, key: bytes, value: bytes) -> None:
        """Handle one tally record."""
        rule_name, _ = split_key(key)
        rule = self.rulebook.rules.get(rule_name)
        if rule is None:
            return  # the rule was removed since this tally was written
        tally = decode_tally(value)
        sightings = tally.sightings
        clock = self.clock_of(rule)
        for s in sightings:
            clock.saw(s.ts)
        self.activity.saw(tally.minutes)
        tracker = self._load(key, rule)
        if sightings:
            first = min(s.ts for s in sightings)
            self._started[rule.name] = min(self._started.get(rule.name, first), first)
        events = tracker.add(rule, sightings, self._clock(rule))
        if tracker.late:
            metrics.ALERT_LATE_POSTS.labels(rule.name).inc(tracker.late)
            tracker.late = 0
        await self._publish(rule, events)
        self._store(key, rule, tracker)

    def tap(self, posts: Sequence[tuple[int, int, Mapping[str, Any]]]) -> list[OutRecord]:
        """The tallies of a batch the enrich agent has just enriched, for it to publish with the batch."""
        return tally_records(self.names.tallies, posts, self.rulebook.rules)

    def _owned(self, key: bytes, actives: set[int]) -> bool:
        return self._partitioner(key, self._partitions, self._partitions) in actives

    async def tick(self) -> None:
        """Close the due windows of every key this worker owns."""
        if self.app.rebalancing or self.app.tables.recovery.in_recovery:  # type: ignore[attr-defined]
            return  # the tables are being restored: what this worker owns, and its state, are not known yet
        if any(not self.clock_of(rule).event for rule in self.rulebook.rules.rules):
            # Just started (or a rule was added): a rule's clock begins where its recovered state ended, not at
            # the wall clock (a replay of old posts would otherwise find all its windows closed).
            for key in list(self.trackers.keys()):
                rule = self.rulebook.rules.get(split_key(key)[0])
                if rule is not None and not self.clock_of(rule).event:
                    self._load(key, rule)
        owned = 0
        actives = {tp.partition for tp in self.app.assignor.assigned_actives() if tp.topic == self.names.tallies}
        for key in list(self.trackers.keys()):
            if not self._owned(key, actives):
                self._cache.pop(key, None)
                continue
            owned += 1
            rule = self.rulebook.rules.get(split_key(key)[0])
            if rule is None:
                continue
            tracker = self._load(key, rule)
            if not self.clock_of(rule).event:
                continue  # nothing counted yet for this rule: no time to close windows by
            before = tracker.closed_until
            events = tracker.advance(rule, self._clock(rule))
            await self._publish(rule, events)
            if isinstance(rule, NewTermRule) and self._forgotten(tracker, rule):
                del self.trackers[key]
                self._cache.pop(key, None)
                owned -= 1
            elif tracker.closed_until != before:
                self._store(key, rule, tracker)
        metrics.ALERT_KEYS.set(owned)

    def _forgotten(self, tracker: KeyTracker, rule: NewTermRule) -> bool:
        # A term unseen for longer than the look-back is new again when it comes back: its state can go.
        idle = self.clock_of(rule).now() - (tracker.last_seen or 0)
        return tracker.active is None and idle > rule.lookback_days * 86_400 + rule.window.total_seconds()


def add_detector(
    app: faust.App, settings: Settings, rulebook: RuleBook, names: TopicNames, kafka: KafkaConnection
) -> Detector:
    """The detect agent and its timers on ``app``; the enrich agent sends the tallies (:meth:`Detector.tap`)."""
    detector = Detector(app, settings, rulebook, names)
    tallies_topic = app.topic(names.tallies, key_type=bytes, value_type=bytes, partitions=settings.topic_partitions)

    @app.agent(tallies_topic, name="ascolto.detect")
    async def detect(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            await detector.count(event.key, event.value)

    @app.timer(interval=settings.alert_tick_seconds, name="ascolto.detect_tick")
    async def tick() -> None:
        await detector.tick()

    @app.timer(interval=settings.reload_seconds, name="ascolto.alert_rules_reload")
    async def reload_rules() -> None:
        rulebook.refresh()

    return detector
