"""The index sink: a batch of ``posts.enriched`` messages in, the offsets safe to commit out.

One batch at a time: :meth:`IndexSink.accept` takes a batch (and refuses a second one while the
first is in flight), :meth:`IndexSink.flush` runs one bulk round and either returns the batch's
offsets, once every message is acknowledged by Elasticsearch, dead-lettered, superseded by a later
message for the same post or older than the retention, or raises :class:`Backpressure` saying
how long to wait before flushing again. :meth:`IndexSink.write` does both, waiting as told.

So the agent that calls ``write`` between fetching and committing stops consuming while
Elasticsearch is down or overloaded, holds at most one batch, and commits only what was acknowledged.

The values are not decoded: a record written by the enrich agent carries the post id as its key
and ``created_at`` in a header (:func:`schemas.wire.enriched_post_headers`), so the bulk body is
the action line plus the record's bytes, with ``indexed_at`` spliced in before the closing brace.
A record without them (an older worker's, another tool's) is decoded and checked as before; a
value that is not JSON after all is refused by Elasticsearch for that item alone, and dead-lettered.

What Elasticsearch refuses is sorted by what can fix it. A document it cannot parse or map is
dead-lettered (logged at INFO): retrying cannot help. Anything an operator or time fixes (429,
5xx, a write block, missing privileges, refused credentials) holds the batch with back-off and a
WARNING at most once a minute, so the posts go in once the cause is gone. A lost alias (deleted,
or gone with its write index) is bootstrapped again, and the batch goes on.

A post whose source gave no time (``created_at_inferred``, in a header on the fast path) has only
the time ascolto received it, which a replay does not share: before routing such posts the sink
looks their ids up across the alias and writes each one where its first copy is, with that
copy's ``created_at``, so the replay overwrites it whatever rollover happened in between.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import ConnectionTimeout
from elasticsearch import ApiError, AsyncElasticsearch, NotFoundError

from core.settings import Settings
from elastic.lifecycle import PostsIndex
from schemas import now_rfc3339
from schemas.timestamps import to_epoch
from schemas.wire import CREATED_AT_HEADER, CREATED_AT_INFERRED_HEADER
from streams import metrics
from streams.batching import Message, plan_requests

log = logging.getLogger(__name__)

#: A Kafka partition as (topic, partition).
Partition = tuple[str, int]

#: Called for a message that cannot be indexed: (message, stage, reason). Must return only once
#: the dead letter is durable: the message's offset may be committed right after.
DeadLetterSink = Callable[[Message, str, str], Awaitable[None]]

#: First back-off ceiling in seconds; it doubles per attempt up to ASCOLTO_INDEX_RETRY_MAX_SECONDS.
BACKOFF_BASE_SECONDS = 0.2

_UNREACHABLE = (TransportConnectionError, ConnectionTimeout)

#: Only what the retry and dead-letter logic reads of a bulk answer: a fraction of the full response.
_BULK_FILTER = "errors,items.*._id,items.*.status,items.*.error"

_INDEXED_AT = b'"indexed_at"'

#: Seconds between two warnings about the same cause of holding a batch (a block, a refused login).
WARN_EVERY_SECONDS = 60.0

#: Ids per look-up of first copies: the search answers twice as many hits, within Elasticsearch's
#: default index.max_result_window of 10,000.
LOOKUP_IDS = 5000


class _AliasLost(Exception):
    """The alias the sink writes through lost its write index."""


class Backpressure(Exception):
    """Elasticsearch cannot take the batch now: flush again after ``retry_after`` seconds."""

    def __init__(self, retry_after: float, reason: str) -> None:
        super().__init__(f"Elasticsearch is not taking documents ({reason}); retry in {retry_after:.2f}s")
        self.retry_after = retry_after
        self.reason = reason


@dataclass(frozen=True)
class _Doc:
    """A post waiting for Elasticsearch, with the message that carried it.

    ``body`` is the post as one compact JSON object without ``indexed_at`` (which each bulk round
    adds): the record's own value when it came with its routing header, else a re-encoding.
    """

    body: bytes
    created_ms: int | None
    message: Message
    #: The source gave no time: created_at is when ascolto received the post.
    inferred: bool = False


@dataclass(frozen=True)
class _Copy:
    """Where a post already is in the index, and the created_at it has there."""

    index: str
    created_at: str
    created_ms: int


def _retryable_status(status: int) -> bool:
    return status == 429 or status >= 500


def _permanent(status: int) -> bool:
    """An error about the document itself: retrying the same bytes cannot help.

    Not among them: 401/403 (credentials, privileges, a write block: an operator fixes those),
    404 (an index gone: routes are re-read), 408/409/429 (timing).
    """
    return 400 <= status < 500 and status not in (401, 403, 404, 408, 409, 429)


def _what_to_do(status: int, alias: str) -> str:
    if status == 401:
        return "check ASCOLTO_ES_USERNAME and ASCOLTO_ES_PASSWORD (or ASCOLTO_ES_API_KEY)"
    if status == 403:
        return (
            f'lift the write block (PUT {alias}-*/_settings {{"index.blocks.write": null}}) or grant the '
            f"user the index, create_index and manage privileges on {alias}*"
        )
    return "see the Elasticsearch log for the cause"


def _created_ms(created_at: object) -> int | None:
    try:
        return int(to_epoch(str(created_at)) * 1000)
    except ValueError:
        return None


def _routed(msg: Message) -> tuple[str, _Doc] | None:
    """Id and document from the key and the ``created_at`` header, the value left as it is; None
    when the record lacks them or its value cannot take ``indexed_at`` by splicing."""
    created_at = msg.header(CREATED_AT_HEADER)
    value = msg.value
    if created_at is None or not msg.key or not value:
        return None
    # The splice needs one object closed by the last byte; a newline would break the NDJSON body
    # (and so every post in the request); an indexed_at already there would be a duplicate key.
    if value[:1] != b"{" or value[-1:] != b"}" or b"\n" in value or _INDEXED_AT in value:
        return None
    try:
        doc_id = msg.key.decode("utf-8")
        created = created_at.decode("ascii")
    except UnicodeDecodeError:
        return None
    inferred = msg.header(CREATED_AT_INFERRED_HEADER) == b"true"
    return doc_id, _Doc(value, _created_ms(created), msg, inferred)


def _decoded(msg: Message) -> tuple[str, _Doc] | str:
    """Id and document by decoding the value, or why it is not an EnrichedPost."""
    metrics.INDEX_DECODED.inc()
    try:
        doc = orjson.loads(msg.value or b"")
    except orjson.JSONDecodeError as exc:
        return f"not an EnrichedPost: not JSON ({exc})"
    if not isinstance(doc, dict) or not isinstance(doc.get("id"), str) or not doc["id"]:
        return "not an EnrichedPost: no string id"
    doc.pop("indexed_at", None)  # the sink's to set
    inferred = doc.get("created_at_inferred") is True
    return doc["id"], _Doc(orjson.dumps(doc), _created_ms(doc.get("created_at")), msg, inferred)


def _with_created_at(doc: _Doc, copy: _Copy) -> _Doc:
    """The doc with the created_at of the copy already indexed (a replay of a post without a time)."""
    metrics.INDEX_DECODED.inc()
    try:
        body = orjson.loads(doc.body)
    except orjson.JSONDecodeError:
        return doc  # Elasticsearch refuses it, and it is dead-lettered as it came
    body["created_at"] = copy.created_at
    return _Doc(orjson.dumps(body), copy.created_ms, doc.message, doc.inferred)


class IndexSink:
    """Indexes EnrichedPosts with ``_id`` = post id into the backing index their time belongs to,
    so a replay overwrites the same document instead of adding one.

    ``posts`` routes documents (the real :class:`PostsIndex` unless given); ``sleep``, ``uniform``
    and ``clock`` are injectable so back-off can be tested without waiting.
    """

    def __init__(
        self,
        client: AsyncElasticsearch,
        settings: Settings,
        dead_letter: DeadLetterSink,
        *,
        posts: PostsIndex | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        uniform: Callable[[float, float], float] = random.uniform,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.settings = settings
        self.posts = posts or PostsIndex(client, settings)
        self.dead_letter = dead_letter
        self.ready = False
        self._sleep = sleep
        self._uniform = uniform
        self._clock = clock
        self._attempt = 0
        self._warned: dict[str, float] = {}
        self._held_reason = "rejected"
        # The batch in flight: None when idle.
        self._offsets: dict[Partition, int] | None = None
        self._rejects: list[tuple[Message, str]] = []
        self._docs: dict[str, _Doc] = {}

    # --- the consumer loop's interface ---------------------------------------------------------
    async def start(self) -> None:
        """Templates and write alias in place, waiting for Elasticsearch if it is not up yet."""
        while True:
            try:
                await self._ensure_ready()
                return
            except Backpressure as bp:
                await self._sleep(bp.retry_after)

    async def write(self, batch: Sequence[Message]) -> dict[Partition, int]:
        """Index a batch; the offsets to commit (per partition, the last offset + 1), once all are done."""
        self.accept(batch)
        while True:
            try:
                return await self.flush()
            except Backpressure as bp:
                await self._sleep(bp.retry_after)

    @property
    def busy(self) -> bool:
        """A batch is in flight: :meth:`accept` takes no other until :meth:`flush` returned."""
        return self._offsets is not None

    def accept(self, batch: Sequence[Message]) -> None:
        """Take a batch to flush. Never more than one: the consumer must not read further meanwhile."""
        if self.busy:
            raise RuntimeError("IndexSink.accept: the previous batch is not flushed yet")
        offsets: dict[Partition, int] = {}
        for msg in batch:
            tp = (msg.topic, msg.partition)
            offsets[tp] = max(offsets.get(tp, 0), msg.offset + 1)
            read = _routed(msg) or _decoded(msg)
            if isinstance(read, str):
                self._rejects.append((msg, read))
                continue
            # A later message for the same post wins, as it would in the index: the earlier ones
            # are done when it is (the batch's offsets are committed only as a whole).
            doc_id, doc = read
            self._docs[doc_id] = doc
        self._offsets = offsets
        self._attempt = 0

    async def flush(self) -> dict[Partition, int]:
        """One round for the batch in flight: its offsets when done, else :class:`Backpressure`."""
        if self._offsets is None:
            raise RuntimeError("IndexSink.flush: no batch accepted")
        while self._rejects:
            msg, why = self._rejects[0]
            await self.dead_letter(msg, "index", why)
            self._rejects.pop(0)
        if self._docs:
            await self._ensure_ready()
            try:
                await self._round()
            except _UNREACHABLE as exc:
                raise self._unreachable(exc, f"holding {len(self._docs)} docs until it is back") from exc
            except (NotFoundError, _AliasLost) as exc:
                raise self._lost(exc) from exc
            except ApiError as exc:
                raise self._refused(exc) from exc
            metrics.ES_UP.set(1)
            if self._docs:
                raise self._backoff(self._held_reason)
        offsets, self._offsets = self._offsets, None
        return offsets

    # --- internals -------------------------------------------------------------------------------
    async def _ensure_ready(self) -> None:
        if self.ready:
            return
        try:
            await self.posts.bootstrap()
        except _UNREACHABLE as exc:
            raise self._unreachable(exc, "waiting for it") from exc
        except ApiError as exc:
            raise self._refused(exc) from exc
        self.ready = True
        metrics.ES_UP.set(1)

    def _unreachable(self, exc: Exception, doing: str) -> Backpressure:
        metrics.ES_UP.set(0)
        if self._attempt % 10 == 0:
            log.warning("Elasticsearch at %s is unreachable (%s); %s", self.settings.es_url_safe, exc, doing)
        return self._backoff("unreachable")

    def _refused(self, exc: ApiError) -> Backpressure:
        """Back-off for a request Elasticsearch refused as a whole, and a warning when it is not mere overload.

        Credentials, privileges, a cluster-wide block: an operator's fix, after which the held
        batch goes through. Crashing would only restart the worker into the same refusal.
        """
        status = exc.meta.status
        if not _retryable_status(status):
            self._warn_once(
                f"request-{status}",
                "Elasticsearch refused a request (%s); %s until it accepts them: %s",
                str(exc)[:300],
                f"holding {len(self._docs)} posts" if self._docs else "waiting",
                _what_to_do(status, self.posts.alias),
            )
        return self._backoff(str(status))

    def _lost(self, exc: Exception) -> Backpressure:
        # Someone deleted the alias, or its write index (the alias goes with its last index):
        # bootstrap again before the next round, which puts the alias back on the indices left
        # or creates the first one. The batch stays in flight meanwhile.
        self.ready = False
        log.warning(
            "the posts alias %s or its write index is gone (%s); bootstrapping it again, holding %d posts meanwhile",
            self.posts.alias,
            str(exc)[:300],
            len(self._docs),
        )
        return self._backoff("alias lost")

    def _warn_once(self, cause: str, message: str, *args: object) -> None:
        """``log.warning`` at most once per WARN_EVERY_SECONDS for the same cause: a hold can last hours."""
        now = self._clock()
        last = self._warned.get(cause)
        if last is None or now - last >= WARN_EVERY_SECONDS:
            self._warned[cause] = now
            log.warning(message, *args)

    def _backoff(self, reason: str) -> Backpressure:
        # Exponential back-off with full jitter, capped: many workers must not retry in lockstep.
        metrics.INDEX_RETRIES.labels(reason).inc()
        ceiling = min(self.settings.index_retry_max_seconds, BACKOFF_BASE_SECONDS * 2 ** min(self._attempt, 32))
        self._attempt += 1
        return Backpressure(self._uniform(0, ceiling), reason)

    def _report_expired(self, doc_id: str) -> None:
        self._warn_once(
            "expired",
            "post %s is older than the retention (%g days) and is not indexed; "
            "raise ASCOLTO_ES_RETENTION_DAYS (0 keeps everything) to index old posts",
            doc_id,
            self.settings.es_retention_days,
        )

    async def _first_copies(self, ids: list[str]) -> dict[str, _Copy]:
        """Where posts with these ids are already indexed, with their created_at (the earliest copy wins)."""
        copies: dict[str, _Copy] = {}

        def keep(hit: dict[str, Any]) -> None:
            created_at = (hit.get("_source") or {}).get("created_at")
            created_ms = _created_ms(created_at) if isinstance(created_at, str) else None
            if created_at is None or created_ms is None:
                return
            known = copies.get(hit["_id"])
            if known is None or created_ms < known.created_ms:
                copies[hit["_id"]] = _Copy(hit["_index"], created_at, created_ms)

        for start in range(0, len(ids), LOOKUP_IDS):
            chunk = ids[start : start + LOOKUP_IDS]
            resp = await self.client.search(
                index=self.posts.alias,
                query={"ids": {"values": chunk}},
                size=2 * len(chunk),  # a post indexed twice before this fix has two copies
                source_includes=["created_at"],
                track_total_hits=False,
                filter_path="hits.hits._id,hits.hits._index,hits.hits._source",
            )
            for hit in resp.body.get("hits", {}).get("hits", ()):
                keep(hit)
        # A search sees only what was refreshed. A copy indexed since can only be in the write
        # index, or the one before it if a rollover just happened: a real-time get finds it.
        missing = [doc_id for doc_id in ids if doc_id not in copies]
        recent = [b.name for b in self.posts.backing[-2:]]
        if missing and recent:
            resp = await self.client.mget(
                docs=[{"_index": name, "_id": doc_id} for name in recent for doc_id in missing],
                realtime=True,
                source_includes=["created_at"],
                filter_path="docs._id,docs._index,docs.found,docs._source",
            )
            for doc in resp.body.get("docs", ()):
                if doc.get("found"):
                    keep(doc)
        return copies

    async def _round(self) -> None:
        """One bulk round over the docs in flight: acknowledged ones leave, rejected ones are
        dead-lettered, the rest (429, 5xx, a backing index gone) stay for the next round."""
        # Every body is one JSON object ending in "}": indexed_at goes in place of that brace.
        tail = b',"indexed_at":"' + now_rfc3339().encode("ascii") + b'"}\n'
        times = [d.created_ms for d in self._docs.values() if d.created_ms is not None]
        await self.posts.ensure_current(max(times, default=0))
        if not self.posts.has_write_index:
            raise _AliasLost(f"{self.posts.alias} has no write index")
        copies = await self._first_copies([doc_id for doc_id, doc in self._docs.items() if doc.inferred])
        actions: list[tuple[bytes, bytes]] = []
        sizes: list[int] = []
        for doc_id, doc in list(self._docs.items()):
            copy = copies.get(doc_id)
            if copy is None:
                target = self.posts.route(doc.created_ms)
            else:
                # A replay of a post without a time of its own: over its first copy, whatever the clock says now.
                target = copy.index
                if copy.created_ms != doc.created_ms:
                    doc = self._docs[doc_id] = _with_created_at(doc, copy)
            if target is None:
                # Older than the retention: it would be deleted at once. Counted and reported, not indexed.
                metrics.DOCS_EXPIRED.inc()
                self._report_expired(doc_id)
                del self._docs[doc_id]
                continue
            action = orjson.dumps({"index": {"_index": target, "_id": doc_id}}, option=orjson.OPT_APPEND_NEWLINE)
            actions.append((action, doc.body))
            sizes.append(len(action) + len(doc.body) + len(tail))
        requests = plan_requests(
            actions, sizes, parallel=self.settings.index_parallel, limit=self.settings.index_batch_bytes
        )
        semaphore = asyncio.Semaphore(self.settings.index_parallel)

        async def send(chunk: list[tuple[bytes, bytes]]) -> list[tuple[bool, dict[str, Any]]]:
            parts: list[bytes | memoryview] = []
            for action, body in chunk:
                parts += (action, memoryview(body)[:-1], tail)
            ndjson = b"".join(parts)
            async with semaphore:
                started = time.perf_counter()
                # Bytes go to Elasticsearch as they are: the client's NDJSON serializer passes them through.
                resp = await self.client.bulk(operations=ndjson, filter_path=_BULK_FILTER)  # type: ignore[arg-type]
                metrics.BULK_SECONDS.observe(time.perf_counter() - started)
                metrics.BULK_DOCS.observe(len(chunk))
            # One {"index": {...}} per action; _apply matches them to the docs by _id.
            items: list[dict[str, Any]] = [next(iter(item.values()), {}) for item in resp.body.get("items", ())]
            return [(200 <= int(info.get("status", 500)) < 300, info) for info in items]

        results = await asyncio.gather(*(send(r) for r in requests), return_exceptions=True)
        # Apply what the requests that did answer said before raising what the others did.
        outcomes = [item for r in results if not isinstance(r, BaseException) for item in r]
        await self._apply(outcomes)
        for r in results:
            if isinstance(r, BaseException):
                metrics.BULK_ERRORS.labels("request").inc(sum(isinstance(x, BaseException) for x in results))
                raise r

    async def _apply(self, outcomes: list[tuple[bool, dict[str, Any]]]) -> None:
        now_ms = time.time() * 1000
        rejected: list[tuple[str, str]] = []
        held: list[str] = []
        refresh_routes = False
        indexed = 0
        for ok, item in outcomes:
            doc_id = item.get("_id")
            doc = self._docs.get(doc_id) if isinstance(doc_id, str) else None
            if doc is None or not isinstance(doc_id, str):
                continue  # an answer without a known id: the doc stays in flight and is sent again
            if ok:
                del self._docs[doc_id]
                indexed += 1
                if doc.created_ms is not None:
                    metrics.INDEX_LAG_SECONDS.observe(max(0.0, (now_ms - doc.created_ms) / 1000))
                if doc.message.timestamp:
                    metrics.INGEST_TO_INDEX_SECONDS.observe(max(0.0, (now_ms - doc.message.timestamp) / 1000))
                continue
            metrics.BULK_ERRORS.labels("document").inc()
            cause = item.get("error", {})
            kind = str(cause.get("type", "error")) if isinstance(cause, dict) else "error"
            why = cause.get("reason", cause) if isinstance(cause, dict) else cause
            status = int(item.get("status", 500))
            if kind == "index_not_found_exception":
                refresh_routes = True  # another worker's retention or rollover changed the indices
            elif _permanent(status):
                rejected.append((doc_id, f"Elasticsearch rejected the document: {kind}: {why}"))
            elif status in (401, 403):
                held.append(f"{status} {kind}: {why}")
        metrics.DOCS_INDEXED.inc(indexed)  # once per round: a counter call per post shows in profiles
        self._held_reason = "rejected"
        if held:
            self._held_reason = "forbidden"
            self._warn_once(
                "forbidden",
                "Elasticsearch refuses to write %d posts (%s); holding them until it accepts them: %s",
                len(held),
                str(held[0])[:300],
                _what_to_do(403, self.posts.alias),
            )
        for doc_id, reason in rejected:
            log.info("dead-lettering post %s: %s", doc_id, reason[:300])
            await self.dead_letter(self._docs[doc_id].message, "index", reason)
            del self._docs[doc_id]
        if refresh_routes:
            await self.posts.refresh()
