"""The index agent: ``posts.enriched`` → bulk requests → Elasticsearch, and the index lifecycle timer.

It runs inside the Faust worker but reads Kafka in batches with its own aiokafka consumer
(group ``<app id>-index``) instead of as a Faust agent: an index sink needs batches, not events,
and Faust's per-event path tops out at about 5,000 events/s on a small machine (see the README's
benchmark), a third of what Elasticsearch can take. Offsets are committed only after
Elasticsearch acknowledged (or the DLQ received) every post of a batch: at-least-once.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import faust
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from elasticsearch import AsyncElasticsearch

from core.kafka import kafka_client_config
from core.settings import Settings
from streams import metrics
from streams.index_sink import BulkIndexer, Incoming
from streams.stream_topics import StreamTopics

log = logging.getLogger(__name__)


def _consumer(settings: Settings, topic: str) -> AIOKafkaConsumer:
    security = {k: v for k, v in kafka_client_config(settings).items() if k != "bootstrap_servers"}
    return AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.broker_list,
        group_id=f"{settings.app_id}-index",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=settings.index_batch_size,
        fetch_max_bytes=max(settings.index_batch_bytes, settings.max_message_bytes),
        max_partition_fetch_bytes=settings.max_message_bytes,
        # While Elasticsearch is down a batch can wait a long time between polls: stay in the group.
        max_poll_interval_ms=3_600_000,
        **security,
    )


def add_index_agent(app: faust.App, topics: StreamTopics, client: AsyncElasticsearch, settings: Settings) -> None:
    """Batches of up to ASCOLTO_INDEX_BATCH_SIZE posts or ASCOLTO_INDEX_BATCH_SECONDS, whichever first."""

    async def dead_letter(msg: Incoming, stage: str, reason: str) -> None:
        # Wait for the broker's acknowledgement: the batch's offsets are committed right after.
        await topics.send_dead_letter(
            stage, reason, key=msg.key, value=msg.value, topic=msg.topic, partition=msg.partition, offset=msg.offset,
            wait=True,
        )  # fmt: skip

    indexer = BulkIndexer(client, settings, dead_letter)
    source = topics.enriched.get_topic_name()

    @app.task
    async def index() -> None:
        await indexer.ensure_ready()
        consumer = _consumer(settings, source)
        await consumer.start()
        try:
            while True:
                fetched = await _next_batch(consumer, settings.index_batch_size, settings.index_batch_seconds)
                records = [r for batch in fetched.values() for r in batch]
                if not records:
                    continue
                metrics.MESSAGES_IN.labels("index").inc(len(records))
                await indexer.index([Incoming(r.key, r.value, r.topic, r.partition, r.offset) for r in records])
                await _commit(consumer, fetched)
        finally:
            await consumer.stop()

    @app.timer(interval=settings.es_lifecycle_seconds, on_leader=True, name="ascolto.index_lifecycle")
    async def lifecycle() -> None:
        """Rollover and retention, run by one worker of the group."""
        if not indexer.ready:
            return
        try:
            await indexer.posts.maintain()
        except Exception as exc:  # the next round tries again; indexing goes on meanwhile
            metrics.LIFECYCLE_ERRORS.inc()
            log.warning("index lifecycle round failed: %s", exc)


async def _next_batch(consumer: AIOKafkaConsumer, size: int, seconds: float) -> dict[TopicPartition, list[Any]]:
    """Records until ``size`` are there or ``seconds`` have passed since the first arrived.

    A trickle of posts is gathered into one bulk request instead of one request per poll.
    """
    fetched: dict[TopicPartition, list[Any]] = {}
    count = 0
    deadline: float | None = None
    while count < size:
        remaining = 1.0 if deadline is None else deadline - time.monotonic()
        if remaining <= 0:
            break
        got = await consumer.getmany(timeout_ms=max(1, int(remaining * 1000)), max_records=size - count)
        for tp, batch in got.items():
            fetched.setdefault(tp, []).extend(batch)
            count += len(batch)
        if count and deadline is None:
            deadline = time.monotonic() + seconds
        elif not count and not got:
            break  # nothing at all this second: let the caller loop
    return fetched


async def _commit(consumer: AIOKafkaConsumer, fetched: dict[TopicPartition, Any]) -> None:
    offsets = {tp: batch[-1].offset + 1 for tp, batch in fetched.items() if batch}
    try:
        await consumer.commit(offsets)
    except (CommitFailedError, KafkaError) as exc:
        # The group rebalanced meanwhile: these posts will be read again and re-indexed under
        # the same ids, which leaves the index unchanged.
        log.warning("offset commit failed (%s); the batch will be indexed again", exc)
