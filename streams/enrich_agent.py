"""The enrich agent: ``posts.raw`` → enrichment chain → ``posts.enriched`` (or ``posts.dlq``), in batches.

A Faust agent that works on batches of events rather than one event at a time:

1. ``stream.noack_take(ASCOLTO_ENRICH_BATCH_SIZE, within=ASCOLTO_ENRICH_BATCH_SECONDS)`` hands
   over up to that many events, or what arrived within that time. Unlike ``take()`` and
   ``take_events()``, which ack the previous batch's events when the next batch is requested
   (and also when the generator is closed, say after the agent raised), ``noack_take`` never
   acks: Faust leaves every event unacknowledged until we ack it.
2. The chain runs over the batch enricher by enricher (:func:`streams.processing.enrich_batch`),
   in slices of at most :data:`SLICE_BYTES` of raw posts, giving the event loop a turn between
   slices: with each post's enrichment time bounded (long texts are analysed in bounded pieces),
   the worker's HTTP API, Kafka heartbeats and the index agent keep running while a batch of long
   posts is enriched. (A thread for the chain cost ~40 µs more CPU per post, measured: the GIL
   handoffs with the busy event loop.) Every message of the batch gets an outcome, enriched or
   dead-lettered with its stage and reason, whatever its content.
3. One :class:`~streams.publishing.BatchPublisher` call sends the batch's enriched posts and dead
   letters, one record batch per partition, through the agent's own idempotent ``acks=all``
   aiokafka producer, and waits for the broker's acknowledgement of all of them.
4. Only then are the events acked (``stream.ack``), in order, and only those whose records, and
   every record before them, the broker acknowledged. Faust commits an offset only once every
   earlier event of its partition is acked, so no offset is ever committed for a post whose
   result Kafka has not confirmed.

If Kafka refuses part of a batch, the events from the first unacknowledged record on stay
unacked and the agent raises :class:`DeliveryError`. Its supervisor is ``CrashingSupervisor``:
the worker stops (committing what was acked) instead of restarting the agent in-process, which
would carry on past the unacked events, and whoever runs it (``ascolto worker --processes``,
systemd, Kubernetes) starts it again; it re-reads the batch from the committed offsets:
at-least-once, and re-published posts keep their ids, so the index is unchanged.

The batch step is :class:`BatchEnricher`, unit-tested with fakes; the agent is a thin loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar, cast

import faust
from faust.types import TP
from mode import CrashingSupervisor

from core.errors import DeliveryError
from core.kafka_config import KafkaConnection
from core.settings import Settings
from schemas import enriched_post_headers
from streams import metrics
from streams.enrichers import EnrichmentChain
from streams.processing import DateWindow, Enriched, Failed, enrich_batch
from streams.publishing import BatchPublisher, OutRecord, enrich_producer
from streams.stream_topics import StreamTopics

log = logging.getLogger(__name__)

#: Most bytes of raw posts enriched at once without giving the event loop a turn: a normal batch
#: of 1,000 posts is one or two slices; 100,000-character posts (0.1–0.3 s each) two or three.
SLICE_BYTES = 256 * 1024


def slices(messages: Sequence[Incoming], limit: int) -> list[Sequence[Incoming]]:
    """``messages`` cut, in order, into runs of at most ``limit`` value bytes (at least one message each)."""
    runs: list[Sequence[Incoming]] = []
    start, size = 0, 0
    for i, msg in enumerate(messages):
        n = len(msg.value or b"")
        if i > start and size + n > limit:
            runs.append(messages[start:i])
            start, size = i, 0
        size += n
    runs.append(messages[start:])
    return runs


#: Bytes a record adds to its key, value and headers in a record batch, rounded up: what keeps an
#: enriched post that grew past ASCOLTO_MAX_MESSAGE_BYTES out of a batch the broker would refuse.
RECORD_OVERHEAD = 128


class Incoming(Protocol):
    """What the batch step reads of a consumed message (Faust's ``Message`` has it)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


#: More records made from a batch's enriched posts, given as (partition, offset, post) of their raw message,
#: published with the batch (the detector's tallies: :func:`streams.alerting.tallies.tally_records`).
Tap = Callable[[Sequence[tuple[int, int, Mapping[str, Any]]]], list[OutRecord]]


class HasMessage(Protocol):
    @property
    def message(self) -> Any: ...  # an Incoming


E = TypeVar("E", bound=HasMessage)


class BatchEnricher:
    """Enrich a batch of events, publish the results at once, then ack what Kafka acknowledged."""

    def __init__(
        self,
        chain: EnrichmentChain,
        publisher: BatchPublisher,
        topics: StreamTopics,
        max_message_bytes: int,
        window: DateWindow | None = None,
        tap: Tap | None = None,
        highwater: Callable[[str, int], int | None] | None = None,
        max_topic_labels: int = 100,
    ) -> None:
        self.chain = chain
        self.highwater = highwater
        self.lag = metrics.LagGauge("enrich")
        self.topic_labels = metrics.TopicLabels(max_topic_labels)
        self.tap = tap
        self.window = window or DateWindow()
        self.publisher = publisher
        self.topics = topics
        self.enriched_topic = topics.enriched.get_topic_name()
        self.max_message_bytes = max_message_bytes
        self._consumed = metrics.MESSAGES_IN.labels("enrich")

    async def process(self, events: Sequence[E], ack: Callable[[E], Awaitable[object]]) -> None:
        """Enrich ``events``, publish one record for each, then ``ack`` each event whose record and all
        before it were acknowledged; raises :class:`DeliveryError` when not all of them were."""
        if not events:
            return
        self._consumed.inc(len(events))
        messages: list[Incoming] = [event.message for event in events]
        started = time.perf_counter()
        outcomes: list[Enriched | Failed] = []
        for piece in slices(messages, SLICE_BYTES):
            outcomes += enrich_batch(self.chain, [m.value for m in piece], self.window)
            await asyncio.sleep(0)  # the API, heartbeats and the index agent run between slices
        metrics.ENRICH_BATCH_SECONDS.observe(time.perf_counter() - started)
        metrics.ENRICH_BATCH_POSTS.observe(len(events))

        records, stages = await self._records(messages, outcomes)
        # The tap's records go first: an event is acked only once they are acknowledged too.
        tapped = self._tapped(messages, outcomes)
        started = time.perf_counter()
        published = await self.publisher.publish(tapped + records)
        metrics.ENRICH_PUBLISH_SECONDS.observe(time.perf_counter() - started)

        done = max(0, published.acknowledged - len(tapped))
        for stage, n in Counter(stages[:done]).items():
            if stage is None:
                metrics.POSTS_ENRICHED.inc(n)
            else:
                metrics.DEAD_LETTERS.labels(stage.split(":")[0]).inc(n)
        for event in events[:done]:
            await ack(event)
        metrics.count_topic_sentiment(self.topic_labels, [o.post for o in outcomes[:done] if isinstance(o, Enriched)])
        self._report_lag(messages[:done])
        if published.error is not None or done < len(events):
            raise DeliveryError(
                f"Kafka did not acknowledge {len(events) - done} of {len(events)} records of an enrich batch "
                f"({published.error!r}); the worker stops and re-reads them once restarted: check that Kafka is up."
            ) from published.error

    def _report_lag(self, messages: Sequence[Incoming]) -> None:
        """Lag of the partitions this batch came from: their high watermark minus the next offset to read."""
        if self.highwater is None:
            return
        next_offsets = {(m.topic, m.partition): m.offset + 1 for m in messages}
        lags = {}
        for (topic, partition), at in next_offsets.items():
            try:
                end = self.highwater(topic, partition)
            except Exception:  # not assigned any more (a rebalance): nothing to report for it
                continue
            if end is not None:
                lags[topic, partition] = end - at
        self.lag.report(lags, complete=False)

    def _tapped(self, messages: Sequence[Incoming], outcomes: Sequence[Enriched | Failed]) -> list[OutRecord]:
        if self.tap is None:
            return []
        posts = [
            (msg.partition, msg.offset, outcome.post)
            for msg, outcome in zip(messages, outcomes, strict=True)
            if isinstance(outcome, Enriched)
        ]
        return self.tap(posts)

    async def _records(
        self, messages: Sequence[Incoming], outcomes: Sequence[Enriched | Failed]
    ) -> tuple[list[OutRecord], list[str | None]]:
        """One record per message, in order, and its dead-letter stage (None for an enriched post)."""
        # Both topics are keyed by post id: with as many partitions, the default partitioner puts
        # a post where it already is, so reuse that partition instead of hashing every key again.
        try:
            out_count = await self.publisher.partition_count(self.enriched_topic)
            same_layout = out_count == await self.publisher.partition_count(messages[0].topic)
        except Exception:  # no metadata now: hash the keys; the publisher reports what it could not send
            same_layout = False
        records: list[OutRecord] = []
        stages: list[str | None] = []
        for msg, outcome in zip(messages, outcomes, strict=True):
            if isinstance(outcome, Enriched):
                post = outcome.post
                key = post["id"].encode("utf-8")
                headers = enriched_post_headers(post["created_at"], inferred=post.get("created_at_inferred") is True)
                size = len(key) + len(outcome.value) + sum(len(k) + len(v) for k, v in headers) + RECORD_OVERHEAD
                if size <= self.max_message_bytes:
                    partition = msg.partition if same_layout and key == msg.key else None
                    stamp = getattr(msg, "timestamp", None)  # Faust's: seconds, the raw record's Kafka timestamp
                    records.append(
                        OutRecord(
                            self.enriched_topic, key, outcome.value, headers, partition,
                            round(stamp * 1000) if isinstance(stamp, int | float) and stamp > 0 else None,
                        )
                    )  # fmt: skip
                    stages.append(None)
                    continue
                outcome = Failed("emit", f"the enriched post is {size} bytes, over ASCOLTO_MAX_MESSAGE_BYTES")
            log.info("dead-lettering %s[%d]@%d: %s", msg.topic, msg.partition, msg.offset, outcome.reason[:200])
            records.append(
                self.topics.dead_letter_record(
                    outcome.stage, outcome.reason, key=msg.key, value=msg.value,
                    topic=msg.topic, partition=msg.partition, offset=msg.offset,
                )
            )  # fmt: skip
            stages.append(outcome.stage)
        return records, stages


def add_enrich_agent(
    app: faust.App,
    topics: StreamTopics,
    chain: EnrichmentChain,
    settings: Settings,
    kafka: KafkaConnection,
    tap: Tap | None = None,
) -> None:
    """Register the agent; the chain is built once, before the worker starts."""

    # CrashingSupervisor: a batch Kafka did not acknowledge stops the worker (see the module docstring).
    @app.agent(topics.raw, name="ascolto.enrich", supervisor_strategy=CrashingSupervisor)
    async def enrich(stream: faust.StreamT) -> None:
        producer = enrich_producer(settings, kafka)  # aiokafka binds it to the running loop
        await producer.start()
        step = BatchEnricher(
            chain,
            BatchPublisher(producer),
            topics,
            settings.max_message_bytes,
            DateWindow.from_settings(settings),
            tap,
            highwater=lambda topic, partition: app.consumer.highwater(TP(topic, partition)),
            max_topic_labels=settings.metrics_max_topics,
        )
        # noack_take is on the Stream class, not (yet) on the StreamT interface agents are typed with.
        batches = cast("faust.Stream[Any]", stream).noack_take(
            settings.enrich_batch_size, within=settings.enrich_batch_seconds
        )
        try:
            async for events in batches:  # Events (noack_take buffers events, not values)
                await step.process(events, stream.ack)
        finally:
            await producer.stop()
