"""The index agent: ``posts.enriched`` → bulk requests → Elasticsearch, and the index lifecycle timer.

It runs inside the Faust worker but reads Kafka in batches with its own aiokafka consumer
(group ``<app id>-index``) instead of as a Faust agent: an index sink needs batches, not events,
and Faust's per-event path tops out at about 5,000 events/s on a small machine (see the README's
benchmark), a third of what Elasticsearch can take. The loop is thin: a :class:`Batcher` gathers
records, the :class:`IndexSink` writes them (waiting while Elasticsearch is away), and the offsets
it returns are committed, only after Elasticsearch acknowledged (or the DLQ received) every post of
the batch: at-least-once. Both pieces are unit-tested without Kafka or Elasticsearch.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import faust
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from elasticsearch import AsyncElasticsearch

from core.kafka_config import KafkaConnection
from core.settings import Settings
from streams import metrics
from streams.batching import Batcher, Message
from streams.index_sink import IndexSink, Partition
from streams.stream_topics import StreamTopics

log = logging.getLogger(__name__)


def batch_consumer(
    settings: Settings, kafka: KafkaConnection, topic: str, group_suffix: str = "index"
) -> AIOKafkaConsumer:
    """A batch consumer of ``topic`` in group ``<app id>-<group_suffix>``, committing only when told."""
    return AIOKafkaConsumer(
        topic,
        group_id=f"{settings.app_id}-{group_suffix}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=settings.index_batch_size,
        fetch_max_bytes=max(settings.index_batch_bytes, settings.max_message_bytes),
        max_partition_fetch_bytes=settings.max_message_bytes,
        # While Elasticsearch is down a batch can wait a long time between polls: stay in the group.
        max_poll_interval_ms=3_600_000,
        # A dead worker's partitions go to the others (or to it, restarted) after this long.
        session_timeout_ms=int(settings.kafka_session_timeout_seconds * 1000),
        heartbeat_interval_ms=int(settings.kafka_heartbeat_seconds * 1000),
        # Brokers, TLS context and SASL login: the same connection the rest of the worker uses.
        **kafka.for_aiokafka(),
    )


def add_index_agent(
    app: faust.App, topics: StreamTopics, client: AsyncElasticsearch, settings: Settings, kafka: KafkaConnection
) -> None:
    """Batches of up to ASCOLTO_INDEX_BATCH_SIZE posts or ASCOLTO_INDEX_BATCH_SECONDS, whichever first."""

    # Dead letters wait for the broker's acknowledgement: the batch's offsets are committed right after.
    sink = IndexSink(client, settings, topics.dead_letter_of)
    source = topics.enriched.get_topic_name()

    @app.task
    async def index() -> None:
        await sink.start()
        # sink.write returns only once every message is acknowledged or dead-lettered; while
        # Elasticsearch is away it waits, and nothing further is read.
        await consume_batches(batch_consumer(settings, kafka, source), settings, "index", sink.write)

    @app.timer(interval=settings.es_lifecycle_seconds, on_leader=True, name="ascolto.index_lifecycle")
    async def lifecycle() -> None:
        """Rollover and retention, run by one worker of the group."""
        if not sink.ready:
            return
        try:
            await sink.posts.maintain()
        except Exception as exc:  # the next round tries again; indexing goes on meanwhile
            metrics.LIFECYCLE_ERRORS.inc()
            log.warning("index lifecycle round failed: %s", exc)


async def consume_batches(
    consumer: AIOKafkaConsumer,
    settings: Settings,
    agent: str,
    write: Callable[[list[Message]], Awaitable[dict[Partition, int]]],
) -> None:
    """Read batches (ASCOLTO_INDEX_BATCH_SIZE / _SECONDS) forever, ``write`` each, and commit the offsets it returns."""
    await consumer.start()
    batcher = Batcher(consumer.getmany, size=settings.index_batch_size, seconds=settings.index_batch_seconds)
    lag = metrics.LagGauge(agent)
    try:
        while True:
            batch = await batcher.next()
            if batch:
                metrics.MESSAGES_IN.labels(agent).inc(len(batch))
                await commit_offsets(consumer, await write(batch))
            await report_lag(consumer, lag)  # also when idle, so a caught-up consumer shows 0
    finally:
        await consumer.stop()


async def commit_offsets(consumer: AIOKafkaConsumer, offsets: dict[Partition, int]) -> None:
    try:
        await consumer.commit({TopicPartition(topic, partition): at for (topic, partition), at in offsets.items()})
    except (CommitFailedError, KafkaError) as exc:
        # The group rebalanced meanwhile: these posts will be read again and re-indexed under
        # the same ids, which leaves the index unchanged.
        log.warning("offset commit failed (%s); the batch will be indexed again", exc)


async def report_lag(consumer: AIOKafkaConsumer, lag: metrics.LagGauge) -> None:
    """``ascolto_consumer_lag`` of every assigned partition: high watermark minus the position read up to.

    The high watermark comes with each fetch response; a partition not fetched yet has none and is left out.
    """
    lags: dict[tuple[str, int], int] = {}
    for tp in consumer.assignment():
        try:
            end = consumer.highwater(tp)
            at = await consumer.position(tp)
        except (AssertionError, KafkaError):  # revoked meanwhile (a rebalance): nothing to say about it
            continue
        if end is not None:
            lags[tp.topic, tp.partition] = end - at
    lag.report(lags)
