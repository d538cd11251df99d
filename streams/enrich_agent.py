"""The enrich agent: ``posts.raw`` → enrichment chain → ``posts.enriched`` (or ``posts.dlq``)."""

from __future__ import annotations

import logging
import time

import faust

from schemas import ENRICHED_POST_HEADERS
from streams import metrics
from streams.enrichers import EnrichmentChain
from streams.processing import Enriched, enrich_message
from streams.stream_topics import StreamTopics

log = logging.getLogger(__name__)


def add_enrich_agent(app: faust.App, topics: StreamTopics, chain: EnrichmentChain) -> None:
    """Register the agent; the chain is built once, before the worker starts."""

    @app.agent(topics.raw, name="ascolto.enrich")
    async def enrich(stream: faust.StreamT) -> None:
        async for event in stream.events():
            msg = event.message
            metrics.MESSAGES_IN.labels("enrich").inc()
            started = time.perf_counter()
            outcome = enrich_message(chain, msg.value)
            metrics.ENRICH_SECONDS.observe(time.perf_counter() - started)
            if isinstance(outcome, Enriched):
                await topics.enriched.send(
                    key=outcome.post["id"].encode("utf-8"), value=outcome.value, headers=list(ENRICHED_POST_HEADERS)
                )
                metrics.POSTS_ENRICHED.inc()
            else:
                log.info("dead-lettering %s[%d]@%d: %s", msg.topic, msg.partition, msg.offset, outcome.reason[:200])
                await topics.send_dead_letter(
                    outcome.stage,
                    outcome.reason,
                    key=msg.key,
                    value=msg.value,
                    topic=msg.topic,
                    partition=msg.partition,
                    offset=msg.offset,
                )
