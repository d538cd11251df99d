"""Reading the dead-letter topic and sending the fixable dead letters back through the pipeline.

``ascolto dlq list|show|replay`` is built on this. A replay publishes a dead letter's original
bytes, under its original key, to the topic it was read from (posts.raw or posts.enriched): the
post keeps its id, so the index overwrites instead of duplicating, and a second replay changes
nothing. Reads go from the topic's start (or ``--since``) to the end it had when the read began,
so letters written meanwhile (a replayed post failing again) are left for the next run.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError, KafkaTimeoutError

from core.errors import DeliveryError, KafkaUnavailable
from core.kafka import TopicNames, kafka_client_config, unreachable
from core.settings import Settings
from schemas import ENRICHED_POST_HEADERS, RAW_POST_HEADERS
from schemas.dead_letters import original_of
from schemas.timestamps import to_datetime

log = logging.getLogger(__name__)

#: Stages whose dead letters hold input that is itself malformed: sent back unchanged it would
#: only fail the same way (and add a dead letter per replay), so they are replayed only on request.
MALFORMED_STAGES = ("decode", "validate")

#: Header a replayed record carries: the dead letter it came from (topic:partition:offset).
REPLAY_HEADER = "ascolto-replay-of"

#: How long a read may go without receiving anything before Kafka is declared gone.
STALL_SECONDS = 30.0

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


# --- what a dead letter is ----------------------------------------------------------------------
@dataclass(frozen=True)
class StoredLetter:
    """One record of the dead-letter topic: where it sits, its key, and the DeadLetter it holds
    (``letter`` is None when the record is not a JSON object, so it is still listed)."""

    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    letter: dict[str, Any] | None
    size: int

    @classmethod
    def from_record(
        cls, partition: int, offset: int, timestamp_ms: int, key: bytes | None, value: bytes | None
    ) -> StoredLetter:
        try:
            decoded = orjson.loads(value or b"")
        except orjson.JSONDecodeError:
            decoded = None
        letter = decoded if isinstance(decoded, dict) else None
        return cls(partition, offset, timestamp_ms, key, letter, len(value or b""))

    @property
    def ref(self) -> str:
        """How ``ascolto dlq show`` names it: ``partition:offset`` in the dead-letter topic."""
        return f"{self.partition}:{self.offset}"

    @property
    def post_id(self) -> str:
        return self.key.decode("utf-8", "replace") if self.key else ""

    @property
    def stage(self) -> str:
        return str(self.letter.get("stage", "?")) if self.letter else "?"

    @property
    def reason(self) -> str:
        return str(self.letter.get("error", "")) if self.letter else "not a DeadLetter (not a JSON object)"

    @property
    def at(self) -> datetime:
        """When it was dead-lettered: the letter's ``at``, else the record's timestamp."""
        if self.letter and isinstance(self.letter.get("at"), str):
            try:
                return to_datetime(self.letter["at"]).astimezone(UTC)
            except ValueError:
                pass
        return datetime.fromtimestamp(self.timestamp_ms / 1000, UTC)

    @property
    def source(self) -> str:
        """Where the original was read: ``topic[partition]@offset``, or "" for a connector's reject."""
        if not self.letter or not self.letter.get("topic"):
            return ""
        where = str(self.letter["topic"])
        if self.letter.get("partition") is not None:
            where += f"[{self.letter['partition']}]"
        if self.letter.get("offset") is not None:
            where += f"@{self.letter['offset']}"
        return where

    @property
    def truncated(self) -> bool:
        return bool(self.letter and self.letter.get("truncated"))

    def original(self) -> bytes | None:
        """The original bytes as stored (maybe truncated: see :attr:`truncated`); None when undecodable."""
        return original_of(self.letter) if self.letter else None

    def matches(self, stages: Sequence[str]) -> bool:
        """Whether its stage is one of ``stages`` (``enrich`` also matches ``enrich:<name>``); all when empty."""
        return not stages or any(self.stage == s or self.stage.startswith(f"{s}:") for s in stages)


# --- reading ---------------------------------------------------------------------------------------
def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``--since``: a time (ISO 8601, naive = UTC) or a duration ago (``30m``, ``12h``, ``7d``, ``2w``).

    Raises ValueError with the sentence a user reads.
    """
    now = now or datetime.now(UTC)
    duration = _DURATION.match(text)
    if duration:
        return now - timedelta(seconds=float(duration.group(1)) * _UNIT_SECONDS[duration.group(2)])
    try:
        when = to_datetime(text.strip())
    except ValueError:
        raise ValueError(
            f"{text!r} is neither a time (2025-01-31, 2025-01-31T08:00:00Z) nor a duration ago "
            "(30m, 12h, 7d, 2w): give one of those."
        ) from None
    return when.astimezone(UTC)


def read_dead_letters(
    settings: Settings, *, since: datetime | None = None, at: tuple[int, int] | None = None
) -> Iterator[StoredLetter]:
    """The dead letters from the start of the topic (or ``since``) to its end when the read began.

    ``at=(partition, offset)`` reads that one record only. Nothing when the topic does not exist
    yet. Kafka unreachable, or silent for :data:`STALL_SECONDS`, raises :class:`KafkaUnavailable`.
    """
    topic = TopicNames.of(settings).dlq
    try:
        consumer = KafkaConsumer(
            **kafka_client_config(settings),
            enable_auto_commit=False,
            allow_auto_create_topics=False,  # a read must not create the topic with the broker's defaults
            auto_offset_reset="earliest",
            bootstrap_timeout_ms=15000,
            request_timeout_ms=15000,
            max_partition_fetch_bytes=settings.max_message_bytes + 1024 * 1024,
            fetch_max_bytes=max(64 * 1024 * 1024, settings.max_message_bytes + 1024 * 1024),
        )
    except KafkaError as exc:
        raise unreachable(settings, exc) from None
    try:
        yield from _read(consumer, topic, since, at)
    except KafkaError as exc:
        raise unreachable(settings, exc) from None
    finally:
        consumer.close()


def _read(
    consumer: KafkaConsumer, topic: str, since: datetime | None, at: tuple[int, int] | None
) -> Iterator[StoredLetter]:
    if topic not in consumer.topics():
        return
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
    if at is not None:
        partitions = [tp for tp in partitions if tp.partition == at[0]]
    if not partitions:
        return
    consumer.assign(partitions)
    ends: dict[TopicPartition, int] = consumer.end_offsets(partitions)
    starts: dict[TopicPartition, int] = consumer.beginning_offsets(partitions)
    if at is not None:
        tp = partitions[0]
        starts = {tp: max(starts[tp], at[1])}
        ends = {tp: min(ends[tp], at[1] + 1)}
    elif since is not None:
        found = consumer.offsets_for_times({tp: int(since.timestamp() * 1000) for tp in partitions})
        starts = {tp: ends[tp] if found.get(tp) is None else found[tp].offset for tp in partitions}
    remaining = {tp for tp in partitions if starts[tp] < ends[tp]}
    for tp in partitions:
        if tp in remaining:
            consumer.seek(tp, starts[tp])
        else:
            consumer.pause(tp)
    since_ms = int(since.timestamp() * 1000) if since is not None else None
    last_progress = time.monotonic()
    while remaining:
        batches = consumer.poll(timeout_ms=1000)
        for tp, records in batches.items():
            for record in records:
                if record.offset >= ends[tp]:
                    break
                if since_ms is not None and record.timestamp < since_ms:
                    continue
                yield StoredLetter.from_record(tp.partition, record.offset, record.timestamp, record.key, record.value)
        for tp in list(remaining):
            if consumer.position(tp) >= ends[tp]:
                remaining.discard(tp)
                consumer.pause(tp)
        if batches:
            last_progress = time.monotonic()
        elif remaining and time.monotonic() - last_progress > STALL_SECONDS:
            raise KafkaUnavailable(
                f"Kafka stopped sending {topic} (nothing for {STALL_SECONDS:.0f}s): "
                "check `ascolto stack status` or the brokers, then run the command again."
            )


def parse_ref(ref: str) -> tuple[int, int] | None:
    """``partition:offset`` as numbers, or None when ``ref`` is not of that form (then it is a post id)."""
    match = re.fullmatch(r"\s*(\d+):(\d+)\s*", ref)
    return (int(match.group(1)), int(match.group(2))) if match else None


def find_dead_letters(settings: Settings, ref: str) -> list[StoredLetter]:
    """The dead letter at ``partition:offset``, else every dead letter of the post with id ``ref``."""
    position = parse_ref(ref)
    if position is not None:
        found = list(read_dead_letters(settings, at=position))
        if found:
            return found
    key = ref.strip().encode("utf-8")
    return [stored for stored in read_dead_letters(settings) if stored.key == key]


# --- replaying --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Resend:
    """A dead letter's original, ready to publish again."""

    topic: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]


def replay_plan(stored: StoredLetter, names: TopicNames, *, dlq_topic: str, malformed_ok: bool = False) -> Resend | str:
    """What to publish for one dead letter, or why it cannot be replayed (a short reason, counted by the caller).

    ``malformed_ok`` also replays decode/validate letters (asked for by naming their stage).
    """
    letter = stored.letter
    if letter is None:
        return "not a DeadLetter"
    topic = letter.get("topic")
    if not topic:
        return "rejected by a connector (no original topic): fix the input and run the connector again"
    if topic not in (names.raw, names.enriched):
        return f"read from {topic}, not this deployment's {names.raw} or {names.enriched}"
    if stored.stage in MALFORMED_STAGES and not malformed_ok:
        return f"malformed input ({stored.stage}): it would fail again; name --stage {stored.stage} to replay anyway"
    if stored.truncated:
        return "original truncated"
    value = stored.original()
    if value is None:
        return "original not decodable"
    if not value:
        return "no original value"
    contract = RAW_POST_HEADERS if topic == names.raw else ENRICHED_POST_HEADERS
    # No created-at header for posts.enriched: the index sink then reads the time from the post itself.
    headers = [*contract, (REPLAY_HEADER, f"{dlq_topic}:{stored.ref}".encode())]
    return Resend(topic, stored.key, value, headers)


@dataclass
class ReplayReport:
    """What a replay did: records sent per topic, dead letters skipped per reason."""

    replayed: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    dry_run: bool = False

    @property
    def total_replayed(self) -> int:
        return sum(self.replayed.values())

    @property
    def total_skipped(self) -> int:
        return sum(self.skipped.values())


def plan_replay(
    letters: Iterable[StoredLetter], names: TopicNames, *, stages: Sequence[str] = ()
) -> Iterator[tuple[StoredLetter, Resend | str]]:
    """The decision for each dead letter of the selected ``stages``; a second letter of the same original
    (a post that failed twice) is skipped, since one resend covers both."""
    malformed_ok = any(stage in MALFORMED_STAGES for stage in stages)
    seen: set[tuple[str, bytes | None, bytes]] = set()
    for stored in letters:
        if not stored.matches(stages):
            continue
        decision = replay_plan(stored, names, dlq_topic=names.dlq, malformed_ok=malformed_ok)
        if isinstance(decision, Resend):
            fingerprint = (decision.topic, decision.key, hashlib.sha256(decision.value).digest())
            if fingerprint in seen:
                decision = "same original as an earlier dead letter"
            seen.add(fingerprint)
        yield stored, decision


def replay_dead_letters(
    settings: Settings, *, stages: Sequence[str] = (), since: datetime | None = None, dry_run: bool = False
) -> ReplayReport:
    """Send the fixable dead letters back to their original topics (see :func:`replay_plan`).

    Waits for every acknowledgement; a refused record raises :class:`DeliveryError` (replaying again is safe).
    """
    names = TopicNames.of(settings)
    report = ReplayReport(dry_run=dry_run)
    decisions = plan_replay(read_dead_letters(settings, since=since), names, stages=stages)
    if dry_run:
        for _, decision in decisions:
            _count(report, decision)
        return report
    producer = _producer(settings)
    errors: list[str] = []
    try:
        for stored, decision in decisions:
            if isinstance(decision, Resend):
                future = producer.send(decision.topic, key=decision.key, value=decision.value, headers=decision.headers)
                future.add_errback(lambda exc, ref=stored.ref: errors.append(f"{ref}: {type(exc).__name__}: {exc}"))
            _count(report, decision)
        producer.flush(timeout=120)
    except KafkaTimeoutError:
        raise DeliveryError(
            "Kafka did not acknowledge the replayed posts within 120s: check the brokers (`ascolto stack status`) "
            "and replay again (replays are idempotent)."
        ) from None
    except KafkaError as exc:
        raise unreachable(settings, exc) from None
    finally:
        producer.close(timeout=10)
    if errors:
        raise DeliveryError(
            f"Kafka refused {len(errors)} replayed record(s) (first: dead letter {errors[0]}): "
            "fix that and replay again (replays are idempotent)."
        )
    return report


def _count(report: ReplayReport, decision: Resend | str) -> None:
    if isinstance(decision, Resend):
        report.replayed[decision.topic] += 1
    else:
        report.skipped[decision] += 1


def _producer(settings: Settings) -> KafkaProducer:
    compression = None if settings.kafka_compression == "none" else settings.kafka_compression
    try:
        return KafkaProducer(
            **kafka_client_config(settings),
            acks="all",
            enable_idempotence=True,
            compression_type=compression,
            linger_ms=20,
            max_request_size=settings.max_message_bytes,
            bootstrap_timeout_ms=15000,
        )
    except KafkaError as exc:
        raise unreachable(settings, exc) from None
