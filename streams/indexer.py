"""Bulk indexing into Elasticsearch with retries and back-pressure.

The index agent hands a batch to :meth:`BulkIndexer.index` and only moves on (letting Faust
commit the offsets) once every document is acknowledged or dead-lettered. While
Elasticsearch is unreachable the call keeps retrying, so the agent stops consuming instead
of buffering without bound.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import ConnectionTimeout
from elasticsearch import ApiError, AsyncElasticsearch
from elasticsearch.helpers import async_bulk

from ascolto.es import posts_template
from ascolto.schemas import now_rfc3339
from ascolto.settings import Settings
from ascolto.streams import metrics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Incoming:
    """One message from ``posts.enriched`` with where it came from (for dead letters)."""

    key: bytes | None
    value: bytes | None
    topic: str
    partition: int
    offset: int


#: Called for a message that cannot be indexed: (message, stage, reason).
DeadLetterSink = Callable[[Incoming, str, str], Awaitable[None]]


def _retryable_status(status: int) -> bool:
    return status == 429 or status >= 500


def _created_epoch(created_at: str) -> float | None:
    try:
        return datetime.fromisoformat(created_at).timestamp()
    except (TypeError, ValueError):
        return None


class BulkIndexer:
    """Indexes EnrichedPosts with ``_id`` = post id, so replays overwrite instead of duplicating."""

    def __init__(self, client: AsyncElasticsearch, settings: Settings, dead_letter: DeadLetterSink) -> None:
        self.client = client
        self.settings = settings
        self.index_name = settings.es_index
        self.dead_letter = dead_letter
        self._template_installed = False

    async def _backoff(self, attempt: int, reason: str) -> None:
        # Exponential back-off with full jitter, capped: many workers must not retry in lockstep.
        metrics.INDEX_RETRIES.labels(reason).inc()
        delay = random.uniform(0, min(self.settings.index_retry_max_seconds, 0.2 * 2**attempt))
        await asyncio.sleep(delay)

    async def ensure_template(self) -> None:
        """Install the posts index template, waiting for Elasticsearch if it is not up yet."""
        attempt = 0
        while not self._template_installed:
            try:
                await self.client.indices.put_index_template(**posts_template(self.settings))
                self._template_installed = True
                metrics.ES_UP.set(1)
            except (TransportConnectionError, ConnectionTimeout) as exc:
                metrics.ES_UP.set(0)
                if attempt % 10 == 0:
                    log.warning("Elasticsearch at %s is unreachable (%s); waiting for it", self.settings.es_url, exc)
                await self._backoff(attempt, "unreachable")
                attempt += 1

    async def index(self, batch: Sequence[Incoming]) -> int:
        """Index a batch; returns how many documents Elasticsearch acknowledged."""
        await self.ensure_template()
        pending: dict[str, tuple[Incoming, dict[str, Any]]] = {}
        for msg in batch:
            try:
                doc = orjson.loads(msg.value or b"")
                doc_id = doc["id"]
                if not isinstance(doc_id, str) or not doc_id:
                    raise ValueError("id is not a non-empty string")
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                await self.dead_letter(msg, "index", f"not an EnrichedPost: {exc}")
                continue
            pending[doc_id] = (msg, doc)  # a later message for the same post wins, as in the index
        acknowledged = 0
        attempt = 0
        while pending:
            indexed_at = now_rfc3339()
            actions = [
                {
                    "_op_type": "index",
                    "_index": self.index_name,
                    "_id": doc_id,
                    "_source": {**doc, "indexed_at": indexed_at},
                }
                for doc_id, (_, doc) in pending.items()
            ]
            started = time.perf_counter()
            try:
                ok, errors = await async_bulk(
                    self.client,
                    actions,
                    chunk_size=len(actions),
                    max_retries=0,
                    raise_on_error=False,
                    raise_on_exception=True,
                )
            except (TransportConnectionError, ConnectionTimeout) as exc:
                metrics.ES_UP.set(0)
                if attempt % 10 == 0:
                    log.warning(
                        "Elasticsearch unreachable while indexing (%s); holding %d docs and retrying", exc, len(pending)
                    )
                await self._backoff(attempt, "unreachable")
                attempt += 1
                continue
            except ApiError as exc:
                if not _retryable_status(exc.status):
                    raise
                await self._backoff(attempt, str(exc.status))
                attempt += 1
                continue
            metrics.ES_UP.set(1)
            metrics.BULK_SECONDS.observe(time.perf_counter() - started)
            metrics.BULK_DOCS.observe(len(actions))
            now = time.time()
            retry: dict[str, tuple[Incoming, dict[str, Any]]] = {}
            for error in errors:
                item = error.get("index", {})
                doc_id = item.get("_id")
                if doc_id not in pending:
                    continue
                if _retryable_status(int(item.get("status", 500))):
                    retry[doc_id] = pending[doc_id]
                else:
                    cause = item.get("error", {})
                    kind, why = cause.get("type", "error"), cause.get("reason", cause)
                    reason = f"Elasticsearch rejected the document: {kind}: {why}"
                    await self.dead_letter(pending[doc_id][0], "index", reason)
            for doc_id in pending.keys() - retry.keys():
                created = _created_epoch(pending[doc_id][1].get("created_at", ""))
                if created is not None:
                    metrics.INDEX_LAG_SECONDS.observe(max(0.0, now - created))
            acknowledged += ok
            metrics.DOCS_INDEXED.inc(ok)
            pending = retry
            if pending:
                await self._backoff(attempt, "rejected")
                attempt += 1
        return acknowledged
