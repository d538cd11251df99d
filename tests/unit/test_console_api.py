"""The console's API without servers: parameters, shaping, the static files, the live feed's cursor,
its client limit and its clean-up, the health report's cache (fake Elasticsearch and Kafka)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from aiohttp import ClientSession, ClientTimeout
from aiohttp import web as aioweb

from core.settings import Settings
from elastic.console_queries import (
    AlertsRequest,
    ConsoleFilters,
    OverviewRequest,
    after_body,
    epoch_ms,
    event_id,
    iso_ms,
    parse_event_id,
    parse_overview,
    posts_query,
    summary,
)
from web.api import SearchApi
from web.console import ConsoleApi, LiveFeeds, serve_static, static_file
from web.console_health import PipelineHealth
from web.health import Readiness

NOW = datetime(2026, 11, 30, 12, 0, 30, tzinfo=UTC)


def settings(**over: Any) -> Settings:
    return Settings(es_index="posts", es_alerts_index="alerts", **over)


class Resp(SimpleNamespace):
    body: Any


class CannedEs:
    """Answers every search with ``answer``; records what it was asked."""

    def __init__(self, answer: Mapping[str, Any] | None = None) -> None:
        self.answer = answer or {"hits": {"total": {"value": 0}, "hits": []}}
        self.asked: list[dict[str, Any]] = []

    def options(self, **_: Any) -> CannedEs:
        return self

    async def search(self, **kwargs: Any) -> Resp:
        self.asked.append(kwargs)
        return Resp(body=self.answer)


def console(es: CannedEs, **over: Any) -> ConsoleApi:
    conf = settings(**over)
    return ConsoleApi(SearchApi(es, conf), conf, health=None)  # type: ignore[arg-type]


# --- parameters ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"range": "2h"}, "range must be one of 1h, 24h, 7d"),
        ({"sentiment": "angry"}, "sentiment must be one of"),
        ({"q": "/bolletta.*/"}, "regular expressions"),
        ({"colour": "red"}, "unknown parameter(s) colour"),
        ({"since": "1h"}, "unknown parameter(s) since"),
    ],
)
def test_overview_refuses_bad_parameters_with_a_sentence_and_asks_nothing(params, fragment):
    es = CannedEs()
    answer = asyncio.run(console(es).overview(params))
    assert answer.status == 400 and fragment in answer.body["error"]
    assert es.asked == []


def test_overview_query_applies_every_filter_and_the_whole_window():
    request = OverviewRequest.from_params(
        {"range": "1h", "q": "bolletta", "lang": "it", "sentiment": "negative", "topic": "billing",
         "term": "acme,globex", "source": "rss"},
        now=NOW,
    )  # fmt: skip
    body = request.body()
    filters = body["query"]["bool"]["filter"]
    assert {"terms": {"entities.watch_terms": ["acme", "globex"]}} in filters
    assert {"terms": {"sentiment.label": ["negative"]}} in filters
    assert {"range": {"created_at": {"gte": "2026-11-30T11:00:30.000Z", "lt": "2026-11-30T12:00:30.000Z"}}} in filters
    assert body["query"]["bool"]["must"][0]["query_string"]["query"] == "bolletta"
    histogram = body["aggs"]["over_time"]["date_histogram"]
    assert histogram["fixed_interval"] == "1m"
    assert histogram["extended_bounds"] == {"min": epoch_ms(NOW - timedelta(hours=1)), "max": epoch_ms(NOW) - 1}
    assert body["aggs"]["terms"]["terms"]["field"] == "entities.watch_terms"
    assert [OverviewRequest.from_params({"range": r}, now=NOW).interval for r in ("1h", "24h", "7d")] == [
        "1m", "15m", "1h",
    ]  # fmt: skip


def bucket(t: str, labels: dict[str, int]) -> dict[str, Any]:
    return {
        "key_as_string": t,
        "doc_count": sum(labels.values()),
        "labels": {"buckets": [{"key": k, "doc_count": v} for k, v in labels.items()]},
        "compound": {"value": 0.0},
    }


def keyed(key: str, count: int, negative: int, series: list[tuple[str, int, int]]) -> dict[str, Any]:
    return {
        "key": key,
        "doc_count": count,
        "negative": {"doc_count": negative},
        "over_time": {
            "buckets": [{"key_as_string": t, "doc_count": c, "negative": {"doc_count": n}} for t, c, n in series]
        },
    }


def test_overview_is_shaped_as_the_contract_says():
    request = OverviewRequest.from_params({"range": "1h"}, now=NOW)
    resp = {
        "hits": {"total": {"value": 5}},
        "aggregations": {
            "over_time": {"buckets": [bucket("T1", {"positive": 2, "negative": 1}), bucket("T2", {"neutral": 2})]},
            "topics": {"buckets": [keyed("billing", 3, 1, [("T1", 3, 1), ("T2", 0, 0)])]},
            "terms": {"buckets": [keyed("acme", 1, 0, [("T1", 0, 0), ("T2", 1, 0)])]},
            "languages": {"buckets": [{"key": "it", "doc_count": 5}]},
            "sources": {"buckets": [{"key": "rss", "doc_count": 5}]},
        },
    }
    assert parse_overview(resp, request) == {
        "range": "1h",
        "interval": "1m",
        "since": "2026-11-30T11:00:30.000Z",
        "until": "2026-11-30T12:00:30.000Z",
        "total": 5,
        "buckets": [{"t": "T1", "positive": 2, "neutral": 0, "negative": 1}, {"t": "T2", "positive": 0, "neutral": 2, "negative": 0}],  # noqa: E501
        "topics": [{"key": "billing", "count": 3, "negative": 1, "buckets": [{"t": "T1", "count": 3, "negative": 1}, {"t": "T2", "count": 0, "negative": 0}]}],  # noqa: E501
        "terms": [{"key": "acme", "count": 1, "negative": 0, "buckets": [{"t": "T1", "count": 0, "negative": 0}, {"t": "T2", "count": 1, "negative": 0}]}],  # noqa: E501
        "languages": [{"key": "it", "count": 5}],
        "sources": [{"key": "rss", "count": 5}],
    }  # fmt: skip
    empty = parse_overview({}, request)
    assert empty["total"] == 0 and empty["buckets"] == [] and empty["topics"] == []


# --- one post, alerts -----------------------------------------------------------------------------
def test_a_post_is_returned_whole_and_a_missing_one_is_a_404_sentence():
    post = {"id": "rss:1", "text": "ciao", "entities": {"watch_terms": ["acme"]}}
    found = asyncio.run(console(CannedEs({"hits": {"hits": [{"_source": post}]}})).post("rss:1", {}))
    assert found.status == 200 and found.body == post
    missing = asyncio.run(console(CannedEs({"hits": {"hits": []}})).post("rss:2", {}))
    assert missing.status == 404 and "no post 'rss:2'" in missing.body["error"]
    assert asyncio.run(console(CannedEs()).post("x" * 2000, {})).status == 400


def test_alerts_say_whether_rules_exist_and_carry_the_search_of_their_posts(tmp_path):
    alert = {"id": "a" * 32, "key": "billing", "key_kind": "topic", "kind": "negative_spike", "status": "firing",
             "window_start": "2026-11-30T11:50:00Z", "window_end": "2026-11-30T12:00:00Z"}  # fmt: skip
    es = CannedEs({"aggregations": {"active": {"newest": {"hits": {"hits": [{"_source": alert}]}}}}})
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules: []\n")
    answer = asyncio.run(console(es, alert_rules=rules).alerts({"limit": "5"}))
    assert answer.status == 200 and answer.body["enabled"] is True and answer.body["recent"] == []
    assert answer.body["active"][0]["posts_query"] == {
        "topic": "billing", "sentiment": "negative", "since": "2026-11-30T11:50:00Z", "until": "2026-11-30T12:00:00Z",
    }  # fmt: skip
    assert es.asked[0]["index"] == "alerts*"
    assert es.asked[0]["aggs"]["active"]["aggs"]["newest"]["top_hits"]["size"] == 5
    assert asyncio.run(console(CannedEs()).alerts({})).body == {"enabled": False, "active": [], "recent": []}
    assert asyncio.run(console(CannedEs()).alerts({"limit": "1000"})).status == 400
    assert AlertsRequest.from_params({}).limit == 50


@pytest.mark.parametrize(
    ("alert", "expected"),
    [
        ({"key": "acme", "key_kind": "watch_term", "kind": "volume_spike"}, {"term": "acme"}),
        ({"key": "rss", "key_kind": "source"}, {"source": "rss"}),
        ({"key": 'sciopero"x', "key_kind": "hashtag"}, {"q": 'entities.hashtags:"sciopero\\"x"'}),
        ({"key": "all", "key_kind": "all"}, {}),
    ],
)
def test_posts_query_of_each_key_kind_is_a_valid_search(alert, expected):
    query = posts_query(alert)
    assert query == expected
    ConsoleFilters.from_params(query)  # /api/search accepts it


# --- static files ---------------------------------------------------------------------------------
@pytest.fixture
def static_root(tmp_path: Path) -> Path:
    root = tmp_path / "console_static"
    (root / "js").mkdir(parents=True)
    (root / "index.html").write_text("<!doctype html><title>ascolto</title>")
    (root / "js" / "app.js").write_text("console.log(1)")
    (root / ".secret").write_text("no")
    (tmp_path / "outside.txt").write_text("no")
    return root


@pytest.mark.parametrize("path", ["../outside.txt", "js/../../outside.txt", ".secret", "js", "missing.css", ""])
def test_static_files_stay_inside_their_folder(static_root, path):
    assert static_file(static_root, path) is None


def test_static_files_have_their_type_and_revalidate(static_root):
    async def run() -> None:
        app = aioweb.Application()

        async def files(request: aioweb.Request) -> aioweb.StreamResponse:
            return serve_static(static_root, request.match_info["path"])

        app.router.add_get("/f/{path:.+}", files)
        async with serving(app) as server, ClientSession() as session:
            async with session.get(server.make_url("/f/js/app.js")) as resp:
                assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/javascript")
                assert resp.headers["Cache-Control"] == "no-cache" and await resp.text() == "console.log(1)"
            async with session.get(server.make_url("/f/index.html")) as resp:
                assert resp.headers["Content-Type"].startswith("text/html")
            async with session.get(server.make_url("/f/js/%2E%2E/%2E%2E/outside.txt")) as resp:
                assert resp.status == 404

    asyncio.run(run())


# --- the live feed --------------------------------------------------------------------------------
def test_event_ids_round_trip_to_the_exact_millisecond():
    start = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)
    for step in range(0, 5000, 7):
        stamp = start + timedelta(milliseconds=step)
        post = {"id": "rss:a|b", "indexed_at": iso_ms(stamp)}
        assert parse_event_id(event_id(post)) == (epoch_ms(stamp), "rss:a|b")
    for bad in ("nothing", "yesterday|rss:1", "2026-11-30T00:00:00Z|"):
        with pytest.raises(ValueError):
            parse_event_id(bad)


def test_feed_polls_after_the_cursor_only_up_to_the_settle_time():
    filters = ConsoleFilters.from_params({"lang": "it"})
    body = after_body(filters, (1000, "rss:1"), floor_ms=0, upper_ms=5000, size=100)
    assert body["search_after"] == [1000, "rss:1"] and body["sort"] == [{"indexed_at": "asc"}, {"id": "asc"}]
    assert {"range": {"indexed_at": {"lte": 5000, "format": "epoch_millis"}}} in body["query"]["bool"]["filter"]
    first = after_body(filters, None, floor_ms=4000, upper_ms=5000, size=100)
    assert "search_after" not in first
    assert {"range": {"indexed_at": {"lte": 5000, "format": "epoch_millis", "gt": 4000}}} in first["query"]["bool"][
        "filter"
    ]
    text = summary(
        {
            "id": "x",
            "text": "é" * 900,
            "author": {"handle": "h", "name": "N"},
            "sentiment": {"label": "neutral", "compound": 0.0, "model": "m", "pos": 0.1},
        }
    )
    assert len(text["text"]) == 500 and text["handle"] == "h" and text["author_name"] == "N"
    assert text["sentiment"] == {"label": "neutral", "compound": 0.0, "model": "m"}


class IndexedEs:
    """A posts index that answers the feed's searches: range on indexed_at, sort, search_after, size."""

    def __init__(self) -> None:
        self.docs: list[dict[str, Any]] = []

    def add(self, at_ms: int, post_id: str) -> None:
        stamp = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=at_ms)
        self.docs.append({"id": post_id, "indexed_at": iso_ms(stamp), "_ms": at_ms, "text": post_id})

    def options(self, **_: Any) -> IndexedEs:
        return self

    async def search(self, **body: Any) -> Resp:
        window: dict[str, int] = {}
        for clause in body["query"]["bool"]["filter"]:
            window.update(clause.get("range", {}).get("indexed_at", {}))
        docs = [d for d in self.docs if d["_ms"] <= window["lte"] and ("gt" not in window or d["_ms"] > window["gt"])]
        descending = body["sort"][0]["indexed_at"] == "desc"
        docs.sort(key=lambda d: (d["_ms"], d["id"]), reverse=descending)
        if "search_after" in body:
            after = tuple(body["search_after"])
            docs = [d for d in docs if (d["_ms"], d["id"]) > after]
        hits = [
            {"_source": {k: v for k, v in d.items() if k != "_ms"}, "sort": [d["_ms"], d["id"]]}
            for d in docs[: body["size"]]
        ]
        return Resp(body={"hits": {"hits": hits}})


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def read_events(resp: Any, count: int) -> list[str]:
    """The ids of the next ``count`` post events."""
    ids: list[str] = []
    async with asyncio.timeout(10):
        while len(ids) < count:
            line = (await resp.content.readline()).decode().rstrip("\n")
            if line.startswith("data: "):
                ids.append(orjson.loads(line[6:])["id"])
    return ids


def feed_server(es: IndexedEs, clock: Clock, **over: Any) -> tuple[LiveFeeds, aioweb.Application]:
    conf = settings(console_feed_poll_seconds=0.05, console_feed_settle_seconds=3, **over)
    feeds = LiveFeeds(es, conf, clock=clock)  # type: ignore[arg-type]
    app = aioweb.Application()
    app.router.add_get("/api/feed", feeds.stream)
    return feeds, app


def test_feed_sends_backlog_then_settled_posts_and_resumes_after_last_event_id():
    es, clock = IndexedEs(), Clock(100.0)
    for i in range(25):
        es.add(50_000 + i, f"p{i:02d}")
    es.add(99_000, "too-fresh")  # indexed 1 s ago: not settled yet (3 s)

    async def run() -> None:
        _, app = feed_server(es, clock)
        async with serving(app) as server, ClientSession(timeout=ClientTimeout(total=30)) as session:
            async with session.get(server.make_url("/api/feed")) as resp:
                assert resp.headers["Content-Type"] == "text/event-stream"
                assert await read_events(resp, 20) == [f"p{i:02d}" for i in range(5, 25)]  # the newest 20, oldest first
                clock.now = 104.0  # both settled now
                es.add(100_500, "new")
                assert await read_events(resp, 2) == ["too-fresh", "new"]
            last = "1970-01-01T00:00:50.024Z|p24"  # a client that saw up to p24 reconnects
            async with session.get(server.make_url("/api/feed"), headers={"Last-Event-ID": last}) as resp:
                assert await read_events(resp, 2) == ["too-fresh", "new"]
                es.add(100_600, "newer")
                clock.now = 105.0
                assert await read_events(resp, 1) == ["newer"]
            async with session.get(server.make_url("/api/feed"), headers={"Last-Event-ID": "junk"}) as resp:
                assert resp.status == 400 and "Last-Event-ID" in (await resp.json())["error"]

    asyncio.run(run())


@contextlib.asynccontextmanager
async def serving(app: aioweb.Application) -> AsyncIterator[Any]:
    """``app`` on a free port, run as Faust runs its web server (AppRunner: handlers are not cancelled
    when their client goes away, unlike aiohttp's TestServer); yields an object with ``make_url``."""
    runner = aioweb.AppRunner(app, access_log=None)
    await runner.setup()
    site = aioweb.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield SimpleNamespace(make_url=lambda path: f"http://127.0.0.1:{port}{path}")
    finally:
        await runner.cleanup()


def handling() -> list[asyncio.Task[Any]]:
    """The server's tasks still running a request handler (a feed left behind would be one)."""
    return [t for t in asyncio.all_tasks() if "_handle_request" in repr(t.get_coro())]


def test_feed_turns_away_clients_beyond_the_limit_and_cleans_up_those_that_leave():
    es, clock = IndexedEs(), Clock(100.0)

    async def run() -> None:
        feeds, app = feed_server(es, clock, console_max_feed_clients=2)
        async with serving(app) as server, ClientSession(timeout=ClientTimeout(total=30)) as session:
            first = await session.get(server.make_url("/api/feed"))
            second = await session.get(server.make_url("/api/feed"))
            third = await session.get(server.make_url("/api/feed"))
            assert third.status == 503 and "2 live feeds" in (await third.json())["error"]
            assert third.headers["Retry-After"]
            assert feeds.clients == 2
            first.close()
            second.close()
            async with asyncio.timeout(10):
                while feeds.clients or handling():
                    await asyncio.sleep(0.02)
            again = await session.get(server.make_url("/api/feed"))
            assert again.status == 200
            feeds.closing.set()  # the worker shutting down ends open streams at once
            async with asyncio.timeout(5):
                await again.read()
            assert feeds.clients == 0

    asyncio.run(run())


# --- health ---------------------------------------------------------------------------------------
class FakeOffsets:
    def __init__(self) -> None:
        self.calls = 0

    async def appended_since(self, topic: str, since_ms: int) -> int:
        self.calls += 1
        if topic.endswith("posts.dlq"):
            return 2
        return 120

    async def lag(self, group: str, topic: str) -> list[dict[str, Any]]:
        return [{"group": group, "topic": topic, "partition": 0, "lag": 3}]

    async def close(self) -> None:
        pass


class HealthEs:
    def options(self, **_: Any) -> HealthEs:
        return self

    async def count(self, query: dict[str, Any], **_: Any) -> Resp:
        return Resp(body={"count": 60 if "enriched_at" in query["range"] else 30})

    @property
    def cluster(self) -> Any:
        async def health(**_: Any) -> Resp:
            return Resp(body={"status": "yellow"})

        return SimpleNamespace(health=health)


def test_health_reports_whole_pipeline_figures_and_reuses_them_for_a_while():
    async def ok() -> None:
        return None

    offsets, clock = FakeOffsets(), Clock(1000.0)
    health = PipelineHealth(HealthEs(), settings(), Readiness({"kafka": ok}), offsets, clock)  # type: ignore[arg-type]

    async def run() -> None:
        report = await health.report()
        assert report["stages"] == [
            {"stage": "connectors", "posts_per_second": 2.0, "window_seconds": 60},
            {"stage": "enrich", "posts_per_second": 1.0, "window_seconds": 60},
            {"stage": "index", "posts_per_second": 0.5, "window_seconds": 60},
        ]
        assert report["dead_letters_last_hour"] == 2 and report["elasticsearch"] == {"status": "yellow"}
        assert report["ready"] == {"ready": True, "checks": {"kafka": "ok"}}
        assert [row["group"] for row in report["lag"]] == ["ascolto", "ascolto-index"]
        calls = offsets.calls
        await health.report()
        assert offsets.calls == calls  # cached
        clock.now += 5
        await health.report()
        assert offsets.calls > calls

    asyncio.run(run())


def test_health_answers_with_unknown_figures_when_kafka_fails():
    class Down(FakeOffsets):
        async def appended_since(self, topic: str, since_ms: int) -> int:
            raise ConnectionError("no broker")

    async def ok() -> None:
        return None

    health = PipelineHealth(HealthEs(), settings(), Readiness({"x": ok}), Down(), Clock(1.0))  # type: ignore[arg-type]
    report = asyncio.run(health.report())
    assert [s["posts_per_second"] for s in report["stages"]] == [None, 1.0, 0.5]
    assert report["dead_letters_last_hour"] is None
