"""The index agent: ``posts.enriched`` → bulk requests → Elasticsearch."""

from __future__ import annotations

import faust

from ascolto.es import async_es_client
from ascolto.settings import Settings
from ascolto.streams import metrics
from ascolto.streams.indexer import BulkIndexer, Incoming
from ascolto.streams.topics import StreamTopics


def add_index_agent(app: faust.App, topics: StreamTopics, settings: Settings) -> None:
    """Register the agent; batches of up to ASCOLTO_INDEX_BATCH_SIZE or ASCOLTO_INDEX_BATCH_SECONDS."""

    async def dead_letter(msg: Incoming, stage: str, reason: str) -> None:
        await topics.send_dead_letter(
            stage, reason, key=msg.key, value=msg.value, topic=msg.topic, partition=msg.partition, offset=msg.offset
        )

    @app.agent(topics.enriched, name="ascolto.index")
    async def index(stream: faust.StreamT) -> None:
        client = async_es_client(settings)
        indexer = BulkIndexer(client, settings, dead_letter)
        try:
            await indexer.ensure_template()
            # take_events acks (and so lets Faust commit) a batch only after this loop body returns,
            # i.e. after Elasticsearch acknowledged it: at-least-once into the index.
            async for events in stream.take_events(settings.index_batch_size, within=settings.index_batch_seconds):
                metrics.MESSAGES_IN.labels("index").inc(len(events))
                batch = [
                    Incoming(e.message.key, e.message.value, e.message.topic, e.message.partition, e.message.offset)
                    for e in events
                ]
                await indexer.index(batch)
        finally:
            await client.close()
