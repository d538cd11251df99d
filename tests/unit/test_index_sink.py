"""The index sink and its batching against an in-process fake Elasticsearch: no JVM, no waiting.

The fake sits below the real ``AsyncElasticsearch`` client, as its HTTP node: the sink, the
client's NDJSON serialisation and ``PostsIndex`` all run their real code and the fake answers the
few endpoints they call (``_bulk`` with per-item statuses and errors, a source that is not JSON
refused for that item alone, write blocks, ``_alias``, ``_settings``, an ``ids`` search that sees
only refreshed documents and a real-time ``_mget``) the way Elasticsearch 8 does, or refuses the
connection.

Routing uses the real ``PostsIndex`` (alias read, creation dates, retention); only its
``bootstrap`` (templates, analyzers) is replaced by a plain alias read, because installing
templates is Elasticsearch's business and the integration tests cover it on the real cluster.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
from elastic_transport import ApiResponseMeta, BaseAsyncNode, HttpHeaders
from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport._node import NodeApiResponse
from elasticsearch import AsyncElasticsearch
from prometheus_client import REGISTRY

import streams.index_sink
from core.settings import Settings
from elastic.lifecycle import PostsIndex
from schemas.wire import enriched_post_headers
from streams.batching import Batcher, Message, chunks_by_bytes, plan_requests
from streams.index_sink import Backpressure, IndexSink

ALIAS = "posts-unit"
TOPIC = "ascolto.posts.enriched"
DAY_MS = 86_400_000


def now_ms() -> int:
    return int(time.time() * 1000)


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


# --- the fake cluster ----------------------------------------------------------------------------
@dataclass
class FakeIndex:
    created_ms: int
    docs: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: the source line of each doc as it came in the bulk body
    raw: dict[str, bytes] = field(default_factory=dict)
    #: the docs a search sees: those indexed before the last refresh
    searchable: set[str] = field(default_factory=set)
    #: index.blocks.write: every write answers 403 cluster_block_exception
    write_block: bool = False


class FakeElasticsearch:
    """The endpoints the index sink uses, with a posts-like mapping: ``sentiment`` is an object."""

    def __init__(self) -> None:
        self.indices: dict[str, FakeIndex] = {}
        self.write_index = ""
        self.reachable = True
        #: doc id → statuses its next bulk items answer (then 201), e.g. [429, 503].
        self.item_faults: dict[str, list[int]] = {}
        #: statuses the next whole bulk requests answer (then 200).
        self.request_faults: list[int] = []
        #: every bulk request that reached the cluster: [(index, id), ...]
        self.bulk_requests: list[list[tuple[str, str]]] = []
        #: the content type of each bulk request
        self.bulk_content_types: list[str] = []
        #: the alias was deleted: reads of it answer 404
        self.alias_lost = False
        #: requests other than _bulk answer 401 this many more times
        self.login_refusals = 0
        #: every request other than _bulk: (method, path)
        self.other_requests: list[tuple[str, str]] = []

    def create_index(self, name: str, created_ms: int) -> None:
        """A new backing index that becomes the write index (what a rollover does)."""
        self.indices[name] = FakeIndex(created_ms)
        self.write_index = name

    def where(self) -> dict[str, str]:
        """Post id → the backing index holding it."""
        return {doc_id: name for name, index in self.indices.items() for doc_id in index.docs}

    def copies(self, doc_id: str) -> list[str]:
        """The backing indices holding a copy of the post: more than one is a duplicate."""
        return sorted(name for name, index in self.indices.items() if doc_id in index.docs)

    def refresh(self) -> None:
        """What Elasticsearch does every refresh interval: indexed docs become searchable."""
        for index in self.indices.values():
            index.searchable = set(index.docs)

    def source(self, doc_id: str) -> dict[str, Any]:
        [doc] = [index.docs[doc_id] for index in self.indices.values() if doc_id in index.docs]
        return doc

    def client(self) -> AsyncElasticsearch:
        cluster = self

        class Node(BaseAsyncNode):
            async def perform_request(  # type: ignore[override]
                self,
                method: str,
                target: str,
                body: bytes | None = None,
                headers: Any = None,
                request_timeout: Any = None,
            ) -> NodeApiResponse:
                if not cluster.reachable:
                    raise TransportConnectionError("Connection refused")
                if target.startswith("/_bulk"):
                    cluster.bulk_content_types.append(headers["content-type"])
                status, answer = cluster.answer(method, target, body)
                headers = HttpHeaders({"x-elastic-product": "Elasticsearch", "content-type": "application/json"})
                meta = ApiResponseMeta(status, "1.1", headers, 0.001, self.config)
                return NodeApiResponse(meta, orjson.dumps(answer))

            async def close(self) -> None:
                pass

        # No transport-level retries: the sink's own retries are what is under test.
        return AsyncElasticsearch("http://fake-es:9200", node_class=Node, max_retries=0)

    def answer(self, method: str, target: str, body: bytes | None) -> tuple[int, Any]:
        url = urlsplit(target)
        parts = url.path.strip("/").split("/")
        if parts == ["_bulk"]:
            return self._bulk(body or b"", parse_qs(url.query).get("filter_path", [""])[0])
        self.other_requests.append((method, url.path))
        if self.login_refusals:
            self.login_refusals -= 1
            return 401, {"error": {"type": "security_exception", "reason": "unable to authenticate"}, "status": 401}
        if self.alias_lost and ALIAS in parts:
            return 404, _not_found(ALIAS)
        if method == "GET" and parts == ["_alias", ALIAS]:
            return 200, {
                name: {"aliases": {ALIAS: {"is_write_index": name == self.write_index}}} for name in self.indices
            }
        if method == "GET" and len(parts) == 3 and parts[1:] == ["_settings", "index.creation_date"]:
            missing = [n for n in parts[0].split(",") if n not in self.indices]
            if missing:
                return 404, _not_found(missing[0])
            return 200, {
                n: {"settings": {"index": {"creation_date": str(self.indices[n].created_ms)}}}
                for n in parts[0].split(",")
            }
        if parts == [ALIAS, "_search"]:
            wanted = orjson.loads(body or b"{}")["query"]["ids"]["values"]
            hits = [
                {"_index": name, "_id": doc_id, "_source": {"created_at": index.docs[doc_id]["created_at"]}}
                for name, index in self.indices.items()
                for doc_id in wanted
                if doc_id in index.searchable
            ]
            return 200, {"hits": {"hits": hits}}
        if parts == ["_mget"]:
            docs = []
            for ask in orjson.loads(body or b"{}")["docs"]:
                index = self.indices.get(ask["_index"])
                if index is None:
                    docs.append({**ask, "error": _not_found(ask["_index"])["error"]})
                elif ask["_id"] in index.docs:  # real time: refreshed or not
                    source = {"created_at": index.docs[ask["_id"]]["created_at"]}
                    docs.append({**ask, "found": True, "_source": source})
                else:
                    docs.append({**ask, "found": False})
            return 200, {"docs": docs}
        raise AssertionError(f"the index sink is not expected to call {method} {target}")

    def _bulk(self, body: bytes, filter_path: str) -> tuple[int, Any]:
        if self.request_faults:
            status = self.request_faults.pop(0)
            kind, reason = {
                401: ("security_exception", "unable to authenticate user [ascolto] for REST request [/_bulk]"),
                403: ("security_exception", "action [indices:data/write/bulk] is unauthorized for user [ascolto]"),
            }.get(status, ("es_rejected_execution_exception", "busy"))
            return status, {"error": {"type": kind, "reason": reason}, "status": status}
        # Like Elasticsearch: lines split at "\n" only, action lines parsed at once (a bad one fails
        # the whole request), each source parsed when its item is indexed (a bad one fails that item).
        assert body.endswith(b"\n"), "a bulk body ends with a newline"
        lines = body.split(b"\n")[:-1]
        request, items = [], []
        for action, source in zip(lines[::2], lines[1::2], strict=True):
            (op, meta), = orjson.loads(action).items()  # fmt: skip
            assert op == "index", op
            request.append((meta["_index"], meta["_id"]))
            items.append({op: {"_index": meta["_index"], "_id": meta["_id"], **self._index_one(meta, source)}})
        self.bulk_requests.append(request)
        keep = {p.split(".")[-1] for p in filter_path.split(",") if p.startswith("items.*.")}
        if keep:  # Elasticsearch answers only the fields asked for
            items = [{op: {k: v for k, v in item.items() if k in keep} for op, item in i.items()} for i in items]
        return 200, {"errors": any("error" in next(iter(i.values())) for i in items), "items": items}

    def _index_one(self, meta: dict[str, str], raw: bytes) -> dict[str, Any]:
        faults = self.item_faults.get(meta["_id"])
        if faults:
            status = faults.pop(0)
            kind = "es_rejected_execution_exception" if status == 429 else "unavailable_shards_exception"
            return {"status": status, "error": {"type": kind, "reason": f"try again ({status})"}}
        index = self.indices.get(meta["_index"])
        if index is None:
            return {"status": 404, "error": _not_found(meta["_index"])["error"]}
        if index.write_block:
            reason = f"index [{meta['_index']}] blocked by: [FORBIDDEN/8/index write (api)];"
            return {"status": 403, "error": {"type": "cluster_block_exception", "reason": reason}}
        try:
            source = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            return {"status": 400, "error": {"type": "document_parsing_exception", "reason": f"failed to parse: {exc}"}}
        if "sentiment" in source and not isinstance(source["sentiment"], dict):
            return {
                "status": 400,
                "error": {
                    "type": "document_parsing_exception",
                    "reason": "[1:42] object mapping for [sentiment] tried to parse field [sentiment] as object, "
                    "but found a concrete value",
                },
            }
        created = meta["_id"] not in index.docs
        index.docs[meta["_id"]] = source
        index.raw[meta["_id"]] = raw
        return {"status": 201 if created else 200, "result": "created" if created else "updated"}


def _not_found(index: str) -> dict[str, Any]:
    return {
        "error": {"type": "index_not_found_exception", "reason": f"no such index [{index}]", "index": index},
        "status": 404,
    }


# --- the sink's surroundings ---------------------------------------------------------------------
class RoutingOnlyPostsIndex(PostsIndex):
    """The real routing; start-up reads the alias instead of installing templates, and puts a lost
    alias back (the integration tests check the real bootstrap does)."""

    def __init__(self, client: AsyncElasticsearch, settings: Settings, cluster: FakeElasticsearch) -> None:
        super().__init__(client, settings)
        self.cluster = cluster
        self.bootstraps = 0

    async def bootstrap(self) -> None:
        self.bootstraps += 1
        self.cluster.alias_lost = False
        await self.refresh()


@dataclass
class Harness:
    es: FakeElasticsearch
    sink: IndexSink
    letters: list[tuple[Message, str, str]]
    sleeps: list[float]
    ceilings: list[float]


def harness(
    es: FakeElasticsearch,
    on_sleep: Callable[[int], None] = lambda n: None,
    clock: Callable[[], float] = time.monotonic,
    **settings: Any,
) -> Harness:
    letters: list[tuple[Message, str, str]] = []
    sleeps: list[float] = []
    ceilings: list[float] = []

    async def dead_letter(msg: Message, stage: str, reason: str) -> None:
        letters.append((msg, stage, reason))

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        on_sleep(len(sleeps))

    def uniform(low: float, high: float) -> float:
        assert low == 0  # full jitter: anywhere between nothing and the ceiling
        ceilings.append(high)
        return high  # the worst case, so the delays are predictable

    config = Settings(es_index=ALIAS, index_retry_max_seconds=2.0, es_retention_days=30, **settings)
    client = es.client()
    posts = RoutingOnlyPostsIndex(client, config, es)
    sink = IndexSink(client, config, dead_letter, posts=posts, sleep=sleep, uniform=uniform, clock=clock)
    return Harness(es, sink, letters, sleeps, ceilings)


def post(doc_id: str, created_ms: int | None = None, **fields: Any) -> dict[str, Any]:
    return {
        "id": doc_id,
        "created_at": iso(created_ms if created_ms is not None else now_ms()),
        "text": f"post {doc_id}",
        "sentiment": {"label": "neutral", "compound": 0.0},
        **fields,
    }


def msg(partition: int, offset: int, value: dict[str, Any] | bytes | None) -> Message:
    """A record without key or headers, as an older worker or another tool may write: decoded."""
    raw = orjson.dumps(value) if isinstance(value, dict) else value
    return Message(None, raw, TOPIC, partition, offset)


def enriched(
    partition: int, offset: int, post_id: str, created_at: str, value: dict[str, Any] | bytes, inferred: bool = False
) -> Message:
    """A record as the enrich agent writes it: keyed by post id, ``created_at`` in a header."""
    raw = orjson.dumps(value) if isinstance(value, dict) else value
    headers = enriched_post_headers(created_at, inferred=inferred)
    return Message(post_id.encode(), raw, TOPIC, partition, offset, headers)


class CountingOrjson:
    """orjson as the sink sees it, recording every value it decodes."""

    def __init__(self) -> None:
        self.decoded: list[bytes] = []

    def loads(self, data: bytes) -> Any:
        self.decoded.append(bytes(data))
        return orjson.loads(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(orjson, name)


def one_index_cluster() -> FakeElasticsearch:
    es = FakeElasticsearch()
    es.create_index(f"{ALIAS}-000001", now_ms() - 60 * DAY_MS)
    return es


def metric(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


def run(coro: Awaitable[Any]) -> Any:
    async def main() -> Any:
        return await coro

    return asyncio.run(main())


# --- acknowledgement and offsets -----------------------------------------------------------------
def test_all_acknowledged_gives_last_offset_plus_one_per_partition():
    h = harness(one_index_cluster())
    batch = [msg(0, o, post(f"p0-{o}")) for o in range(10, 15)] + [msg(1, o, post(f"p1-{o}")) for o in range(3, 6)]
    indexed_before = metric("ascolto_docs_indexed_total")

    async def scenario() -> dict[tuple[str, int], int]:
        await h.sink.start()
        return await h.sink.write(batch)

    assert run(scenario()) == {(TOPIC, 0): 15, (TOPIC, 1): 6}
    assert set(h.es.where()) == {f"p0-{o}" for o in range(10, 15)} | {f"p1-{o}" for o in range(3, 6)}
    assert "indexed_at" in h.es.source("p0-10") and h.es.source("p0-10")["text"] == "post p0-10"
    assert h.letters == [] and h.sleeps == []
    assert metric("ascolto_docs_indexed_total") - indexed_before == 8
    assert not h.sink.busy


def test_partial_failure_retries_overload_dead_letters_mapping_errors_and_acknowledges_only_then():
    h = harness(one_index_cluster())
    h.es.item_faults = {"busy": [429], "flaky": [503, 503]}
    batch = [
        msg(0, 0, post("fine")),
        msg(0, 1, post("busy")),
        msg(0, 2, post("bad", sentiment="positive")),  # a string where the mapping has an object
        msg(1, 7, post("flaky")),
    ]

    async def scenario() -> None:
        h.sink.accept(batch)
        with pytest.raises(Backpressure) as first:
            await h.sink.flush()
        assert first.value.reason == "rejected"
        # Round one: the good doc is in, the mapping error is in the DLQ, two are held, nothing to commit.
        assert set(h.es.where()) == {"fine"}
        [(letter, stage, reason)] = h.letters
        assert (letter.partition, letter.offset, stage) == (0, 2, "index")
        assert "document_parsing_exception" in reason and "object mapping for [sentiment]" in reason
        with pytest.raises(RuntimeError):
            h.sink.accept([msg(0, 3, post("next"))])  # no second batch while one is in flight
        with pytest.raises(Backpressure):
            await h.sink.flush()
        assert set(h.es.where()) == {"fine", "busy"}
        assert await h.sink.flush() == {(TOPIC, 0): 3, (TOPIC, 1): 8}

    run(scenario())
    assert set(h.es.where()) == {"fine", "busy", "flaky"}
    assert len(h.letters) == 1  # the mapping error is sent once, not once per round
    sent = [doc_id for request in h.es.bulk_requests for _, doc_id in request]
    assert sorted(sent) == sorted(["fine", "busy", "bad", "flaky", "busy", "flaky", "flaky"])


def test_write_waits_with_growing_capped_back_off_until_everything_is_acknowledged():
    h = harness(one_index_cluster())
    h.es.item_faults = {"stubborn": [503] * 6}
    assert run(h.sink.write([msg(0, 0, post("stubborn"))])) == {(TOPIC, 0): 1}
    assert h.sleeps == [0.2, 0.4, 0.8, 1.6, 2.0, 2.0]  # doubles, capped by index_retry_max_seconds
    assert h.ceilings == h.sleeps and set(h.es.where()) == {"stubborn"}


def test_whole_request_overload_is_back_pressure_too():
    h = harness(one_index_cluster(), index_parallel=1)
    h.es.request_faults = [429, 503]
    retries_429 = metric("ascolto_index_retries_total", {"reason": "429"})
    assert run(h.sink.write([msg(0, 4, post("a")), msg(0, 5, post("b"))])) == {(TOPIC, 0): 6}
    assert len(h.sleeps) == 2 and set(h.es.where()) == {"a", "b"} and h.letters == []
    assert metric("ascolto_index_retries_total", {"reason": "429"}) - retries_429 == 1


def test_unreachable_elasticsearch_holds_the_batch_with_capped_back_off_then_recovers():
    es = one_index_cluster()
    es.reachable = False
    during: list[tuple[bool, int, int, float]] = []

    def on_sleep(n: int) -> None:
        # What the consumer loop would see while it waits: nothing acknowledged, nothing dead-lettered.
        during.append((h.sink.busy, len(es.where()), len(h.letters), metric("ascolto_elasticsearch_up")))
        if n in (3, 9):
            es.reachable = True

    h = harness(es, on_sleep=on_sleep)

    async def scenario() -> dict[tuple[str, int], int]:
        await h.sink.start()  # Elasticsearch is down when the worker starts: wait for it
        assert h.sink.ready
        es.reachable = False  # ...and it goes away again mid-stream
        return await h.sink.write([msg(2, 40, post("x")), msg(2, 41, post("y"))])

    assert run(scenario()) == {(TOPIC, 2): 42}
    # start(): 3 waits; write(): 6 waits, growing again from the start for the new batch, capped.
    assert h.sleeps == [0.2, 0.4, 0.8, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]
    assert all(indexed == 0 and letters == 0 and up == 0.0 for _, indexed, letters, up in during)
    assert [busy for busy, *_ in during] == [False] * 3 + [True] * 6  # the batch stayed with the sink
    assert set(es.where()) == {"x", "y"} and h.letters == []
    assert metric("ascolto_elasticsearch_up") == 1.0


# --- routing by created_at -----------------------------------------------------------------------
def test_routing_by_created_at_across_a_rollover():
    es = FakeElasticsearch()
    rolled_at = now_ms() - 2 * DAY_MS
    es.create_index(f"{ALIAS}-000001", now_ms() - 10 * DAY_MS)
    es.create_index(f"{ALIAS}-000002", rolled_at)
    h = harness(es)
    batch = [
        msg(0, 0, post("before-first", now_ms() - 20 * DAY_MS)),  # nothing older exists: the first index
        msg(0, 1, post("before-rollover", rolled_at - 1)),
        msg(0, 2, post("after-rollover", rolled_at + 1)),
        msg(0, 3, post("now")),
    ]
    run(h.sink.write(batch))
    assert es.where() == {
        "before-first": f"{ALIAS}-000001",
        "before-rollover": f"{ALIAS}-000001",
        "after-rollover": f"{ALIAS}-000002",
        "now": f"{ALIAS}-000002",
    }

    async def later() -> None:
        # Another worker rolls over; a post newer than the sink's view makes it re-read the alias.
        es.create_index(f"{ALIAS}-000003", now_ms())
        await h.sink.write([msg(0, 4, post("fresh", now_ms() + 1000)), msg(0, 5, post("replayed", rolled_at - 5))])

    run(later())
    assert es.where()["fresh"] == f"{ALIAS}-000003"
    assert es.where()["replayed"] == f"{ALIAS}-000001"  # a replay lands where it always did


def test_index_not_found_refreshes_the_routes_and_retries():
    es = FakeElasticsearch()
    es.create_index(f"{ALIAS}-000001", now_ms() - 29 * DAY_MS)
    es.create_index(f"{ALIAS}-000002", now_ms() - 20 * DAY_MS)
    h = harness(es)

    async def scenario() -> None:
        await h.sink.start()
        del es.indices[f"{ALIAS}-000001"]  # another worker's retention deleted it meanwhile
        # Created well before the view was read, so the sink routes by its (stale) view.
        assert await h.sink.write([msg(0, 0, post("old", now_ms() - 25 * DAY_MS))]) == {(TOPIC, 0): 1}

    run(scenario())
    assert es.where() == {"old": f"{ALIAS}-000002"}
    assert [idx for request in es.bulk_requests for idx, _ in request] == [f"{ALIAS}-000001", f"{ALIAS}-000002"]
    assert h.letters == [] and len(h.sleeps) == 1


def test_posts_older_than_the_retention_are_counted_not_indexed():
    h = harness(one_index_cluster())
    expired_before = metric("ascolto_docs_expired_total")
    batch = [msg(0, 0, post("ancient", now_ms() - 31 * DAY_MS)), msg(0, 1, post("recent", now_ms() - DAY_MS))]
    assert run(h.sink.write(batch)) == {(TOPIC, 0): 2}
    assert set(h.es.where()) == {"recent"} and h.letters == []
    assert metric("ascolto_docs_expired_total") - expired_before == 1


# --- what a batch contains -----------------------------------------------------------------------
def test_a_later_message_for_the_same_post_wins():
    h = harness(one_index_cluster())
    batch = [msg(0, 0, post("same", text="first")), msg(0, 1, post("other")), msg(0, 2, post("same", text="second"))]
    assert run(h.sink.write(batch)) == {(TOPIC, 0): 3}
    assert h.es.source("same")["text"] == "second"
    sent = sorted(doc_id for request in h.es.bulk_requests for _, doc_id in request)
    assert sent == ["other", "same"]  # one action per post


def test_undecodable_messages_are_dead_lettered_and_the_rest_indexed():
    h = harness(one_index_cluster())
    batch = [
        msg(0, 0, b"{not json"),
        msg(0, 1, post("ok")),
        msg(0, 2, b'{"text": "no id"}'),
        msg(0, 3, None),  # a tombstone
    ]
    assert run(h.sink.write(batch)) == {(TOPIC, 0): 4}
    assert set(h.es.where()) == {"ok"}
    reasons = {m.offset: (stage, reason) for m, stage, reason in h.letters}
    assert set(reasons) == {0, 2, 3} and {stage for stage, _ in reasons.values()} == {"index"}
    assert "not JSON" in reasons[0][1] and "no string id" in reasons[2][1] and "not JSON" in reasons[3][1]


def test_a_batch_is_split_into_requests_by_bytes_with_an_oversized_post_alone():
    h = harness(one_index_cluster(), index_batch_bytes=1024, index_parallel=1)
    padding = "x" * 300
    batch = [msg(0, i, post(f"small-{i}", text=padding)) for i in range(4)]
    batch.insert(2, msg(0, 99, post("huge", text="y" * 3000)))
    run(h.sink.write(batch))
    sizes = [[doc_id for _, doc_id in request] for request in h.es.bulk_requests]
    assert ["huge"] in sizes and all(len(r) <= 2 for r in sizes)
    assert sorted(d for r in sizes for d in r) == sorted(["huge", *(f"small-{i}" for i in range(4))])


# --- records as the enrich agent writes them: routed by key and header, never decoded -----------
def test_keyed_records_with_the_created_at_header_are_indexed_from_their_bytes(monkeypatch):
    es = FakeElasticsearch()
    rolled_at = now_ms() - 2 * DAY_MS
    es.create_index(f"{ALIAS}-000001", now_ms() - 10 * DAY_MS)
    es.create_index(f"{ALIAS}-000002", rolled_at)
    h = harness(es)
    counting = CountingOrjson()
    monkeypatch.setattr(streams.index_sink, "orjson", counting)
    decoded_before = metric("ascolto_index_decoded_total")
    # The header, not the value, decides the backing index: here they disagree on purpose.
    old = enriched(0, 0, "old", iso(rolled_at - 1), post("old", now_ms()))
    new = enriched(0, 1, "new", iso(rolled_at + 1), post("new", now_ms()))
    assert run(h.sink.write([old, new])) == {(TOPIC, 0): 2}
    assert counting.decoded == []  # not one value decoded
    assert metric("ascolto_index_decoded_total") == decoded_before
    assert es.where() == {"old": f"{ALIAS}-000001", "new": f"{ALIAS}-000002"}
    # The document is the record's bytes with indexed_at spliced in, nothing else changed.
    raw = es.indices[f"{ALIAS}-000002"].raw["new"]
    assert raw.startswith(new.value[:-1] + b',"indexed_at":"') and raw.count(b'"indexed_at"') == 1
    stamped = datetime.fromisoformat(es.source("new")["indexed_at"])
    assert abs(stamped.timestamp() * 1000 - now_ms()) < 60_000
    assert {k: v for k, v in es.source("new").items() if k != "indexed_at"} == orjson.loads(new.value)
    assert es.bulk_content_types and all("x-ndjson" in t for t in es.bulk_content_types)


def test_records_without_the_header_are_decoded_validated_and_counted(monkeypatch):
    h = harness(one_index_cluster())
    counting = CountingOrjson()
    monkeypatch.setattr(streams.index_sink, "orjson", counting)
    decoded_before = metric("ascolto_index_decoded_total")
    plain = msg(0, 0, post("plain"))
    # Keyed but from a tool that does not send the header; and one already stamped by someone else.
    keyed = Message(b"keyed", orjson.dumps(post("keyed")), TOPIC, 0, 1)
    stamped = enriched(0, 2, "stamped", iso(now_ms()), post("stamped", indexed_at="2000-01-01T00:00:00Z"))
    no_id = Message(b"no-id", b'{"text": "no id"}', TOPIC, 0, 3)
    assert run(h.sink.write([plain, keyed, stamped, no_id])) == {(TOPIC, 0): 4}
    assert sorted(counting.decoded) == sorted([plain.value, keyed.value, stamped.value, no_id.value])
    assert metric("ascolto_index_decoded_total") - decoded_before == 4
    assert set(h.es.where()) == {"plain", "keyed", "stamped"}
    for doc_id in ("plain", "keyed", "stamped"):
        assert h.es.source(doc_id)["indexed_at"].startswith(str(datetime.now(UTC).year))
    [(letter, stage, reason)] = h.letters
    assert letter is no_id and stage == "index" and "no string id" in reason


def test_a_value_that_is_not_json_despite_its_header_is_dead_lettered_alone():
    h = harness(one_index_cluster(), index_parallel=1)
    now = iso(now_ms())
    batch = [
        enriched(0, 0, "good-1", now, post("good-1")),
        enriched(0, 1, "braced", now, b"{not json}"),  # looks like an object: Elasticsearch refuses it
        enriched(0, 2, "bare", now, b"not json"),  # cannot be spliced: decoded, and refused here
        enriched(0, 3, "two-lines", now, b'{"id": "two-lines",\n"x": {"index": {}}}'),  # would split the body
        enriched(0, 4, "good-2", now, post("good-2")),
    ]
    assert run(h.sink.write(batch)) == {(TOPIC, 0): 5}
    assert set(h.es.where()) == {"good-1", "good-2", "two-lines"}  # the same request, not poisoned
    assert h.es.source("two-lines")["x"] == {"index": {}} and "indexed_at" in h.es.source("two-lines")
    reasons = {m.offset: (stage, reason) for m, stage, reason in h.letters}
    assert set(reasons) == {1, 2}
    assert {stage for stage, _ in reasons.values()} == {"index"}
    assert "Elasticsearch rejected the document: document_parsing_exception" in reasons[1][1]
    assert "not JSON" in reasons[2][1]
    assert len(h.es.bulk_requests) == 1 and h.sleeps == []


# --- what Elasticsearch refuses, and what the sink does about it ---------------------------------
def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "streams.index_sink" and r.levelname == "WARNING"]


def test_a_write_block_holds_the_batch_with_a_warning_a_minute_until_it_is_lifted(caplog):
    es = one_index_cluster()
    index = es.indices[f"{ALIAS}-000001"]
    index.write_block = True  # PUT posts-000001/_settings {"index.blocks.write": true}
    clock = [0.0]

    def on_sleep(n: int) -> None:
        clock[0] += 20  # what each wait lasted
        if n == 7:
            index.write_block = False  # the operator lifts the block

    h = harness(es, on_sleep=on_sleep, clock=lambda: clock[0])
    retries = metric("ascolto_index_retries_total", {"reason": "forbidden"})
    batch = [msg(0, 0, post("a")), msg(0, 1, post("b")), msg(1, 5, post("c"))]
    assert run(h.sink.write(batch)) == {(TOPIC, 0): 2, (TOPIC, 1): 6}
    assert set(es.where()) == {"a", "b", "c"} and h.letters == []  # held, then indexed: nothing dead-lettered
    assert len(h.sleeps) == 7 and metric("ascolto_index_retries_total", {"reason": "forbidden"}) - retries == 7
    # Seven refused rounds, 20 s apart: a warning at 0, 60 and 120 s, each saying what to do.
    warned = warnings_of(caplog)
    assert len(warned) == 3
    assert all("cluster_block_exception" in w and "index.blocks.write" in w and "holding" in w for w in warned)


def test_refused_credentials_or_privileges_hold_the_batch_instead_of_crashing(caplog):
    es = one_index_cluster()
    es.request_faults = [401, 403, 403]
    h = harness(es, index_parallel=1, es_username="ascolto", es_password="s3cret-pw")
    assert run(h.sink.write([msg(0, 0, post("a")), msg(0, 1, post("b"))])) == {(TOPIC, 0): 2}
    assert set(es.where()) == {"a", "b"} and h.letters == [] and len(h.sleeps) == 3
    first, second = warnings_of(caplog)  # the second 403 within a minute is not repeated
    assert "401" in first and "ASCOLTO_ES_USERNAME" in first
    assert "403" in second and "privileges" in second
    assert "s3cret-pw" not in caplog.text


def test_elasticsearch_refusing_the_login_at_start_is_waited_out():
    es = one_index_cluster()
    es.login_refusals = 2
    h = harness(es)
    run(h.sink.start())
    assert h.sink.ready and len(h.sleeps) == 2


def test_a_document_elasticsearch_cannot_map_is_dead_lettered_at_once_and_logged(caplog):
    caplog.set_level(logging.INFO, logger="streams.index_sink")
    h = harness(one_index_cluster())
    assert run(h.sink.write([msg(0, 0, post("bad", sentiment="positive")), msg(0, 1, post("ok"))])) == {(TOPIC, 0): 2}
    assert set(h.es.where()) == {"ok"} and h.sleeps == []
    [(_, stage, reason)] = h.letters
    assert stage == "index" and "document_parsing_exception" in reason
    [logged] = [r for r in caplog.records if r.levelname == "INFO" and "bad" in r.getMessage()]
    assert "document_parsing_exception" in logged.getMessage()


def test_a_lost_alias_is_bootstrapped_again_and_nothing_is_lost(caplog):
    h = harness(one_index_cluster())

    async def scenario() -> dict[tuple[str, int], int]:
        await h.sink.start()
        await h.sink.write([msg(0, 0, post("before"))])
        h.es.alias_lost = True  # someone deleted the alias (or its last index)
        return await h.sink.write([msg(0, 1, post("after")), msg(0, 2, post("also"))])

    assert run(scenario()) == {(TOPIC, 0): 3}
    assert set(h.es.where()) == {"before", "after", "also"} and h.letters == []
    assert h.sink.posts.bootstraps == 2  # type: ignore[attr-defined]
    [warned] = warnings_of(caplog)
    assert ALIAS in warned and "bootstrapping it again" in warned


# --- posts without a time of their own -----------------------------------------------------------
@pytest.mark.parametrize("refreshed", [True, False], ids=["searchable", "not-yet-refreshed"])
def test_replays_of_posts_without_a_time_land_on_their_first_copy_across_a_rollover(refreshed, monkeypatch):
    es = one_index_cluster()
    h = harness(es)
    first_seen = now_ms() - 3_600_000  # ascolto first received them an hour ago

    def inferred(offset: int, doc_id: str, received_ms: int, text: str) -> Message:
        value = post(doc_id, received_ms, text=text, created_at_inferred=True)
        if doc_id.startswith("keyed"):  # as the enrich agent writes it
            return enriched(0, offset, doc_id, iso(received_ms), value, inferred=True)
        return msg(0, offset, value)  # as an older worker or another tool writes it: decoded

    run(h.sink.write([inferred(0, "keyed", first_seen, "v1"), inferred(1, "plain", first_seen, "v1")]))
    if refreshed:
        es.refresh()
    es.create_index(f"{ALIAS}-000002", now_ms() - 60_000)  # a rollover a minute ago
    counting = CountingOrjson()
    monkeypatch.setattr(streams.index_sink, "orjson", counting)
    replayed = now_ms()  # the file or generator run again: "now" is a new time
    batch = [
        inferred(2, "keyed", replayed, "v2"),
        inferred(3, "plain", replayed, "v2"),
        inferred(4, "keyed-new", replayed, "v1"),
        enriched(0, 5, "timed", iso(replayed), post("timed", replayed)),
    ]
    assert run(h.sink.write(batch)) == {(TOPIC, 0): 6}
    for doc_id in ("keyed", "plain"):
        assert es.copies(doc_id) == [f"{ALIAS}-000001"]  # overwritten, not duplicated in the new index
        assert es.source(doc_id)["created_at"] == iso(first_seen)  # the first time ascolto heard of it
        assert es.source(doc_id)["text"] == "v2"  # the replay's content
        assert es.source(doc_id)["created_at_inferred"] is True
    assert es.copies("keyed-new") == es.copies("timed") == [f"{ALIAS}-000002"]
    assert es.source("keyed-new")["created_at"] == iso(replayed)
    # Only the replayed keyed record is re-encoded (its created_at changes); the new one goes as it came.
    keyed_replay = batch[0].value
    assert keyed_replay in counting.decoded and batch[2].value not in counting.decoded
    assert h.letters == []


def test_posts_with_a_time_of_their_own_cost_no_look_up():
    h = harness(one_index_cluster())
    now = iso(now_ms())
    run(h.sink.write([enriched(0, 0, "a", now, post("a")), msg(0, 1, post("b"))]))
    assert set(h.es.where()) == {"a", "b"}
    assert not [path for _, path in h.es.other_requests if path.endswith(("_search", "_mget"))]


# --- gathering batches (no Kafka) ----------------------------------------------------------------
class ScriptedFetch:
    """A ``getmany`` that answers from a script and moves a fake clock forward as it waits."""

    def __init__(self, script: Sequence[tuple[float, int]], clock: list[float]) -> None:
        self.script = list(script)  # (seconds the call takes, records it returns)
        self.clock = clock
        self.calls: list[tuple[int, int]] = []
        self.offset = 0

    async def __call__(self, *, timeout_ms: int, max_records: int) -> Mapping[Any, Sequence[Any]]:
        self.calls.append((timeout_ms, max_records))
        took, count = self.script.pop(0) if self.script else (timeout_ms / 1000, 0)
        if took > timeout_ms / 1000:  # the records arrive after this call gave up
            took, count = timeout_ms / 1000, 0
        self.clock[0] += took
        count = min(count, max_records)
        records = [
            SimpleNamespace(
                key=b"k", value=b"{}", topic=TOPIC, partition=0, offset=self.offset + i, headers=[("h", b"%d" % i)]
            )
            for i in range(count)
        ]
        self.offset += count
        return {("tp", 0): records} if records else {}


def batcher(script: Sequence[tuple[float, int]], size: int = 5, seconds: float = 1.0) -> tuple[Batcher, ScriptedFetch]:
    clock = [0.0]
    fetch = ScriptedFetch(script, clock)
    return Batcher(fetch, size=size, seconds=seconds, clock=lambda: clock[0]), fetch


def test_batching_by_count():
    b, fetch = batcher([(0.0, 3), (0.0, 3), (0.0, 3)], size=5)
    batch = run(b.next())
    assert [m.offset for m in batch] == [0, 1, 2, 3, 4]
    assert [m.header("h") for m in batch] == [b"0", b"1", b"2", b"0", b"1"]  # headers travel with the record
    assert [max_records for _, max_records in fetch.calls] == [5, 2]  # never asks for more than fits


def test_batching_by_time_since_the_first_record():
    b, fetch = batcher([(0.0, 1), (0.25, 1), (0.25, 1), (0.75, 1)], size=100, seconds=1.0)
    batch = run(b.next())
    # Records at t=0, 0.25 and 0.5; the next one, due at t=1.25, is after the deadline (t=1).
    assert len(batch) == 3
    assert [timeout_ms for timeout_ms, _ in fetch.calls] == [1000, 1000, 750, 500]  # waits only what is left


def test_batching_returns_empty_when_nothing_arrives():
    b, fetch = batcher([], size=10)
    assert run(b.next()) == [] and fetch.calls == [(1000, 10)]


def test_chunks_by_bytes_and_request_plan():
    assert chunks_by_bytes("abcd", [40, 40, 500, 30], 100) == [["a", "b"], ["c"], ["d"]]
    assert chunks_by_bytes("", [], 100) == []
    # Spread over 2 parallel requests, each also bounded in bytes.
    assert plan_requests(list("abcdef"), [10] * 6, parallel=2, limit=100) == [["a", "b", "c"], ["d", "e", "f"]]
    assert plan_requests(list("abcdef"), [60] * 6, parallel=2, limit=100) == [["a"], ["b"], ["c"], ["d"], ["e"], ["f"]]
    assert plan_requests([], [], parallel=2, limit=100) == []
