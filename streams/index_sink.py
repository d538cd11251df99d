"""Bulk indexing into Elasticsearch with retries and back-pressure.

The index agent hands a batch to :meth:`BulkIndexer.index` and commits its offsets only once
every document is acknowledged or dead-lettered. While Elasticsearch
is unreachable or overloaded the call keeps retrying with exponential back-off and jitter, so the
agent stops consuming instead of buffering without bound.
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

from core.settings import Settings
from elastic.lifecycle import PostsIndex
from schemas import now_rfc3339
from streams import metrics

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

_UNREACHABLE = (TransportConnectionError, ConnectionTimeout)


def _retryable_status(status: int) -> bool:
    return status == 429 or status >= 500


def _created_ms(created_at: object) -> int | None:
    try:
        return int(datetime.fromisoformat(str(created_at)).timestamp() * 1000)
    except ValueError:
        return None


class BulkIndexer:
    """Indexes EnrichedPosts with ``_id`` = post id into the backing index their time belongs to,
    so a replay overwrites the same document instead of adding one."""

    def __init__(self, client: AsyncElasticsearch, settings: Settings, dead_letter: DeadLetterSink) -> None:
        self.client = client
        self.settings = settings
        self.posts = PostsIndex(client, settings)
        self.dead_letter = dead_letter
        self.ready = False
        self._expired_reported = 0.0

    async def _backoff(self, attempt: int, reason: str) -> None:
        # Exponential back-off with full jitter, capped: many workers must not retry in lockstep.
        metrics.INDEX_RETRIES.labels(reason).inc()
        delay = random.uniform(0, min(self.settings.index_retry_max_seconds, 0.2 * 2**attempt))
        await asyncio.sleep(delay)

    async def ensure_ready(self) -> None:
        """Templates and write alias in place, waiting for Elasticsearch if it is not up yet."""
        attempt = 0
        while not self.ready:
            try:
                await self.posts.bootstrap()
                self.ready = True
                metrics.ES_UP.set(1)
            except _UNREACHABLE as exc:
                metrics.ES_UP.set(0)
                if attempt % 10 == 0:
                    log.warning(
                        "Elasticsearch at %s is unreachable (%s); waiting for it", self.settings.es_url_safe, exc
                    )
                await self._backoff(attempt, "unreachable")
                attempt += 1

    def _report_expired(self, doc_id: str) -> None:
        now = time.monotonic()
        if now - self._expired_reported > 60:
            self._expired_reported = now
            log.warning(
                "post %s is older than the retention (%g days) and is not indexed; "
                "raise ASCOLTO_ES_RETENTION_DAYS (0 keeps everything) to index old posts",
                doc_id,
                self.settings.es_retention_days,
            )

    def _decode(self, msg: Incoming) -> dict[str, Any] | str:
        """The document, or why it is not one."""
        try:
            doc = orjson.loads(msg.value or b"")
        except orjson.JSONDecodeError as exc:
            return f"not an EnrichedPost: not JSON ({exc})"
        if not isinstance(doc, dict) or not isinstance(doc.get("id"), str) or not doc["id"]:
            return "not an EnrichedPost: no string id"
        return doc

    async def index(self, batch: Sequence[Incoming]) -> int:
        """Index a batch; returns how many documents Elasticsearch acknowledged."""
        await self.ensure_ready()
        pending: dict[str, tuple[Incoming, dict[str, Any]]] = {}
        for msg in batch:
            doc = self._decode(msg)
            if isinstance(doc, str):
                await self.dead_letter(msg, "index", doc)
            else:
                pending[doc["id"]] = (msg, doc)  # a later message for the same post wins, as in the index
        acknowledged = 0
        attempt = 0
        while pending:
            try:
                ok, retry = await self._attempt(pending)
            except _UNREACHABLE as exc:
                metrics.ES_UP.set(0)
                if attempt % 10 == 0:
                    log.warning("Elasticsearch unreachable while indexing (%s); holding %d docs", exc, len(pending))
                await self._backoff(attempt, "unreachable")
                attempt += 1
                continue
            except ApiError as exc:
                if not _retryable_status(exc.meta.status):
                    raise
                await self._backoff(attempt, str(exc.meta.status))
                attempt += 1
                continue
            metrics.ES_UP.set(1)
            acknowledged += ok
            metrics.DOCS_INDEXED.inc(ok)
            pending = retry
            if pending:
                await self._backoff(attempt, "rejected")
                attempt += 1
        return acknowledged

    async def _attempt(
        self, pending: dict[str, tuple[Incoming, dict[str, Any]]]
    ) -> tuple[int, dict[str, tuple[Incoming, dict[str, Any]]]]:
        """One bulk round: (documents acknowledged, documents to retry). Rejections become dead letters."""
        indexed_at = now_rfc3339()
        created = {doc_id: _created_ms(doc.get("created_at")) for doc_id, (_, doc) in pending.items()}
        await self.posts.ensure_current(max((c for c in created.values() if c is not None), default=0))
        actions, sizes = [], []
        for doc_id, (msg, doc) in pending.items():
            target = self.posts.route(created[doc_id])
            if target is None:
                # Older than the retention: it would be deleted at once. Counted and reported, not indexed.
                metrics.DOCS_EXPIRED.inc()
                self._report_expired(doc_id)
                continue
            actions.append(
                {"_op_type": "index", "_index": target, "_id": doc_id, "_source": {**doc, "indexed_at": indexed_at}}
            )
            sizes.append(len(msg.value or b"") + 100)
        started = time.perf_counter()
        ok, errors = await self._bulk(actions, sizes)
        metrics.BULK_SECONDS.observe(time.perf_counter() - started)
        metrics.BULK_DOCS.observe(len(actions))
        retry: dict[str, tuple[Incoming, dict[str, Any]]] = {}
        failed: set[str] = set()
        refresh_routes = False
        for error in errors:
            item = next(iter(error.values()), {})
            doc_id = item.get("_id")
            if doc_id not in pending:
                continue
            failed.add(doc_id)
            cause = item.get("error", {})
            kind = cause.get("type", "error") if isinstance(cause, dict) else "error"
            if _retryable_status(int(item.get("status", 500))) or kind == "index_not_found_exception":
                retry[doc_id] = pending[doc_id]
                refresh_routes |= kind == "index_not_found_exception"
            else:
                why = cause.get("reason", cause) if isinstance(cause, dict) else cause
                await self.dead_letter(
                    pending[doc_id][0], "index", f"Elasticsearch rejected the document: {kind}: {why}"
                )
        if refresh_routes:
            await self.posts.refresh()  # another worker's retention or rollover changed the indices
        now_ms = time.time() * 1000
        for action in actions:
            created_ms = created[action["_id"]]
            if action["_id"] not in failed and created_ms is not None:
                metrics.INDEX_LAG_SECONDS.observe(max(0.0, (now_ms - created_ms) / 1000))
        return ok, retry

    async def _bulk(self, actions: list[dict[str, Any]], sizes: list[int]) -> tuple[int, list[dict[str, Any]]]:
        """Bulk requests of at most ASCOLTO_INDEX_BATCH_BYTES, up to ASCOLTO_INDEX_PARALLEL at once."""
        if not actions:
            return 0, []
        # Spread the batch over the parallel requests, each also bounded in bytes.
        per_request = -(-len(actions) // self.settings.index_parallel)
        chunks = [
            chunk
            for start in range(0, len(actions), per_request)
            for chunk in _chunks_by_bytes(
                actions[start : start + per_request],
                sizes[start : start + per_request],
                self.settings.index_batch_bytes,
            )
        ]
        semaphore = asyncio.Semaphore(self.settings.index_parallel)

        async def send(chunk: list[dict[str, Any]]) -> tuple[int, list[dict[str, Any]]]:
            async with semaphore:
                ok, errors = await async_bulk(
                    self.client, chunk, chunk_size=len(chunk), max_chunk_bytes=2**31, max_retries=0,
                    raise_on_error=False, raise_on_exception=True,
                    # Only what the retry and dead-letter logic reads: halves the response to parse.
                    filter_path="errors,items.*._id,items.*.status,items.*.error",
                )  # fmt: skip
                return ok, list(errors)  # type: ignore[arg-type]

        results = await asyncio.gather(*(send(c) for c in chunks))
        return sum(r[0] for r in results), [e for r in results for e in r[1]]


def _chunks_by_bytes(actions: list[dict[str, Any]], sizes: list[int], limit: int) -> list[list[dict[str, Any]]]:
    """Split actions so that each request stays under ``limit`` bytes (one oversized action goes alone)."""
    chunks: list[list[dict[str, Any]]] = [[]]
    size = 0
    for action, action_size in zip(actions, sizes, strict=True):
        if chunks[-1] and size + action_size > limit:
            chunks.append([])
            size = 0
        chunks[-1].append(action)
        size += action_size
    return chunks
