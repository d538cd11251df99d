"""The index agent: ``posts.enriched`` → bulk requests → Elasticsearch, and the index lifecycle timer."""

from __future__ import annotations

import logging

import faust
from elasticsearch import AsyncElasticsearch

from ascolto.settings import Settings
from ascolto.streams import metrics
from ascolto.streams.indexer import BulkIndexer, Incoming
from ascolto.streams.topics import StreamTopics

log = logging.getLogger(__name__)


def add_index_agent(app: faust.App, topics: StreamTopics, client: AsyncElasticsearch, settings: Settings) -> None:
    """Batches of up to ASCOLTO_INDEX_BATCH_SIZE posts or ASCOLTO_INDEX_BATCH_SECONDS, whichever first."""

    async def dead_letter(msg: Incoming, stage: str, reason: str) -> None:
        await topics.send_dead_letter(
            stage, reason, key=msg.key, value=msg.value, topic=msg.topic, partition=msg.partition, offset=msg.offset
        )

    indexer = BulkIndexer(client, settings, dead_letter)

    # Several actors keep bulk requests in flight while the next batch fills. Faust commits an
    # offset only once every earlier event of the partition is acknowledged, so this stays at-least-once;
    # the price is that two copies of one post in flight at once may land in either order.
    @app.agent(topics.enriched, name="ascolto.index", concurrency=settings.index_concurrency)
    async def index(stream: faust.StreamT) -> None:
        await indexer.ensure_ready()
        # take_events acks (and so lets Faust commit) a batch only after this loop body returns,
        # i.e. after Elasticsearch acknowledged it: at-least-once into the index.
        async for events in stream.take_events(settings.index_batch_size, within=settings.index_batch_seconds):
            metrics.MESSAGES_IN.labels("index").inc(len(events))
            batch = [
                Incoming(e.message.key, e.message.value, e.message.topic, e.message.partition, e.message.offset)
                for e in events
            ]
            await indexer.index(batch)

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
