"""Each live source through a real worker into Elasticsearch: N posts from its loopback server become exactly N
enriched documents under the expected ids, and running the source again from an empty checkpoint (a replay)
rewrites those documents without adding any.

One worker serves the whole module; each test counts only its own source's documents. Retention is off: the
fixtures keep the dates the networks' documentation shows, older than the default 90 days, and a worker drops
posts older than its retention (as it should).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from elasticsearch.helpers import scan
from pydantic import SecretStr
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from ascolto.testing import LocalPipeline, free_port, publish_live, wait_until
from connectors.bluesky import BlueskySource
from connectors.http_ingest import IngestEndpoint, serve
from connectors.live import Checkpoint, CheckpointStore, LiveReport
from connectors.mastodon import MastodonSource
from connectors.producer import PostProducer
from connectors.reddit import RedditSource
from connectors.rss import RssSource, native_id
from tests.feeds import Feed, FeedServer, rss_document, rss_item
from tests.integration.mastodon_server import HOST_TAG, TOKEN, FakeMastodon, status
from tests.integration.mastodon_server import serve as serve_mastodon
from tests.jetstream import JetstreamServer, post_event, post_id
from tests.reddit_server import CLIENT_ID, CLIENT_SECRET, USER_AGENT, RedditServer, comment_thing, post_thing

ITALIAN_MODEL = "ascolto-it-1"
LABELS = {"positive", "negative", "neutral"}
VADER = SentimentIntensityAnalyzer()


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPipeline]:
    with LocalPipeline(tmp_path_factory.mktemp("sources"), es_retention_days="0") as p:
        p.start_worker()
        yield p


# --- running a source ------------------------------------------------------------------------------------


# --- what the index holds --------------------------------------------------------------------------------


def of_source(name: str, **extra: Any) -> dict[str, Any]:
    return {"bool": {"filter": [{"term": {"source": name}}, *({"range": {k: v}} for k, v in extra.items())]}}


def documents(pipeline: LocalPipeline, source: str) -> dict[str, dict[str, Any]]:
    hits = scan(pipeline.es, index=pipeline.settings.es_index, query={"query": of_source(source)})
    return {h["_id"]: h["_source"] for h in hits}


def assert_indexed_once(pipeline: LocalPipeline, source: str, expected_ids: set[str]) -> dict[str, dict[str, Any]]:
    """Exactly ``expected_ids`` are the documents of ``source``, each enriched (language and sentiment)."""
    pipeline.wait_count(len(expected_ids), query=of_source(source), timeout=120)
    docs = documents(pipeline, source)
    assert set(docs) == expected_ids
    for doc_id, doc in docs.items():
        assert doc["id"] == doc_id and doc["source"] == source
        assert doc["lang"] not in (None, "", "und"), doc_id
        assert doc["sentiment"]["label"] in LABELS and -1 <= doc["sentiment"]["compound"] <= 1, doc_id
        assert doc["enriched_at"] and doc["indexed_at"], doc_id
    return docs


def assert_replay_rewrote(pipeline: LocalPipeline, source: str, first: dict[str, dict[str, Any]]) -> None:
    """Every document of the first pass was indexed again by the replay, and none was added."""
    last_indexed = max(doc["indexed_at"] for doc in first.values())
    pipeline.wait_count(len(first), query=of_source(source, indexed_at={"gt": last_indexed}), timeout=120)
    assert pipeline.count(of_source(source)) == len(first)
    assert set(documents(pipeline, source)) == set(first)


def assert_vader(docs: dict[str, dict[str, Any]]) -> None:
    """English posts carry exactly vaderSentiment's scores of their text."""
    for doc_id, doc in docs.items():
        assert doc["lang"] == "en", doc_id
        expected = VADER.polarity_scores(doc["text"])
        assert {k: doc["sentiment"][k] for k in expected} == expected, doc_id


def assert_italian(docs: dict[str, dict[str, Any]]) -> None:
    for doc_id, doc in docs.items():
        assert doc["lang"] == "it", doc_id
        assert doc["sentiment"]["model"] == ITALIAN_MODEL, doc_id


# --- the sources -----------------------------------------------------------------------------------------


def test_rss_entries_are_indexed_once_and_a_replay_adds_nothing(pipeline: LocalPipeline, tmp_path: Path) -> None:
    n = 12
    with FeedServer() as server:
        server.feeds["/avvisi.rss"] = Feed(rss_document(rss_item(i) for i in range(n, 0, -1)))
        url = server.url("/avvisi.rss")

        def run(checkpoints: Path) -> LiveReport:
            store = CheckpointStore(checkpoints, "rss")
            return asyncio.run(publish_live(pipeline.settings, RssSource([url], once=True), store))

        assert run(tmp_path / "first").published == n
        expected = {f"rss:{native_id(url, f'avviso-{i}')}" for i in range(1, n + 1)}
        docs = assert_indexed_once(pipeline, "rss", expected)
        assert_italian(docs)
        assert {doc["url"] for doc in docs.values()} == {f"https://comune.example/avvisi/{i}" for i in range(1, n + 1)}

        assert run(tmp_path / "replay").published == n  # an empty checkpoint: the whole feed again
    assert_replay_rewrote(pipeline, "rss", docs)


def test_mastodon_statuses_are_indexed_once_and_a_rewound_backfill_adds_nothing(
    pipeline: LocalPipeline, tmp_path: Path
) -> None:
    n, first_id = 15, 1001
    port = free_port()
    statuses = [
        status(first_id + i, f"Lo sportello di via Roma è chiuso anche oggi, che disservizio ({i})", acct="anna")
        for i in range(n)
    ]
    last = str(first_id + n - 1)

    expected = {f"mastodon:127.0.0.1:{port}/{first_id + i}" for i in range(n)}

    async def scenario() -> tuple[LiveReport, LiveReport, dict[str, dict[str, Any]]]:
        fake = FakeMastodon()
        runner = await serve_mastodon(fake, port)
        try:
            source = MastodonSource(f"http://127.0.0.1:{port}", hashtag=HOST_TAG, token=TOKEN, idle_timeout=10)

            async def post_on_the_stream() -> None:
                await wait_until(lambda: fake.listeners, "the stream to open")
                for entity in statuses:
                    fake.post(entity)

            store = CheckpointStore(tmp_path / "first", source.checkpoint_name)
            live = await publish_live(
                pipeline.settings, source, store, during=post_on_the_stream, done=lambda c: c.get("since_id") == last
            )
            docs = await asyncio.to_thread(assert_indexed_once, pipeline, "mastodon", expected)
            # The stream has no catch-up, so an empty checkpoint would only hear new statuses: the replay is a
            # checkpoint rewound to before the first status, which the REST backfill pages through again.
            replay_store = CheckpointStore(tmp_path / "replay", source.checkpoint_name)
            replay_store.save({"since_id": str(first_id - 1)})
            backfill = await publish_live(
                pipeline.settings, source, replay_store, done=lambda c: c.get("since_id") == last
            )
            assert fake.timeline_requests >= 1
            return live, backfill, docs
        finally:
            await runner.cleanup()

    live, backfill, docs = asyncio.run(scenario())
    assert live.published == n and backfill.published == n
    assert_italian(docs)
    doc = docs[f"mastodon:127.0.0.1:{port}/{first_id}"]
    assert doc["author"]["handle"] == f"anna@127.0.0.1:{port}" and doc["author"]["followers"] == 42
    assert doc["url"] == f"https://remote.example/@anna/{first_id}"
    assert_replay_rewrote(pipeline, "mastodon", docs)


def test_bluesky_posts_are_indexed_once_and_a_replay_adds_nothing(pipeline: LocalPipeline, tmp_path: Path) -> None:
    n = 20
    events = [post_event(i, f"The new bus line {i} is great, thank you for listening!") for i in range(1, n + 1)]
    last = events[-1]["time_us"]
    server = JetstreamServer([])
    server.add(*events)

    def run(checkpoints: Path) -> LiveReport:
        store = CheckpointStore(checkpoints, "bluesky")
        source = BlueskySource(url=server.url)
        # Jetstream never ends: the source is done once its checkpoint holds the last event.
        return asyncio.run(publish_live(pipeline.settings, source, store, done=lambda c: c.get("time_us") == last))

    with server:
        run(tmp_path / "first")
        expected = {post_id(e) for e in events}
        docs = assert_indexed_once(pipeline, "bluesky", expected)
        assert_vader(docs)
        connections = len(server.cursors)
        run(tmp_path / "replay")  # an empty checkpoint: no cursor, the server sends every event again
        assert server.cursors[connections] is None
    assert_replay_rewrote(pipeline, "bluesky", docs)


def test_http_ingest_posts_are_indexed_once_and_a_resend_adds_nothing(pipeline: LocalPipeline) -> None:
    n, token, port = 25, "es-test-token", free_port()
    settings = pipeline.settings.model_copy(update={"ingest_token": SecretStr(token)})
    body = [
        {
            "id": f"ticket-{i}",
            "text": f"Waited two hours on the phone for ticket {i}, terrible service and nobody helped.",
            "author": {"handle": f"caller{i}", "name": f"Caller {i}"},
            "created_at": "2026-11-29T09:30:00Z",
            "lang": "en",
        }
        for i in range(n)
    ]

    expected = {f"crm:ticket-{i}" for i in range(n)}

    async def send_twice() -> tuple[list[tuple[int, Any]], dict[str, dict[str, Any]]]:
        stop = asyncio.Event()
        with PostProducer(settings, stage="connector:http") as producer:
            endpoint = IngestEndpoint(settings, producer, default_source="crm")
            server = asyncio.create_task(serve(endpoint, host="127.0.0.1", port=port, stop=stop))
            try:
                answers = []
                async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:

                    async def up() -> bool:
                        try:
                            async with session.get(f"http://127.0.0.1:{port}/healthz") as resp:
                                return resp.status == 200
                        except aiohttp.ClientError:
                            return False

                    loop = asyncio.get_running_loop()
                    deadline = loop.time() + 30
                    while not await up():
                        assert not server.done() and loop.time() < deadline, "the ingest endpoint did not start"
                        await asyncio.sleep(0.05)
                    headers = {"Authorization": f"Bearer {token}"}
                    async with session.post(f"http://127.0.0.1:{port}/ingest", json=body, headers=headers) as r:
                        answers.append((r.status, await r.json()))
                    docs = await asyncio.to_thread(assert_indexed_once, pipeline, "crm", expected)
                    # The same batch again, as a sender that never saw the 202 would send it.
                    async with session.post(f"http://127.0.0.1:{port}/ingest", json=body, headers=headers) as r:
                        answers.append((r.status, await r.json()))
                return answers, docs
            finally:
                stop.set()
                await asyncio.wait_for(server, timeout=30)

    answers, docs = asyncio.run(send_twice())
    assert len(answers) == 2
    for status_code, answer in answers:
        assert status_code == 202 and answer["accepted"] == n and answer["rejected"] == 0
        assert set(answer["ids"]) == expected
    assert_vader(docs)
    assert {doc["author"]["handle"] for doc in docs.values()} == {f"caller{i}" for i in range(n)}
    assert all(doc["sentiment"]["label"] == "negative" for doc in docs.values())
    assert_replay_rewrote(pipeline, "crm", docs)


def test_reddit_posts_and_comments_are_indexed_once_and_a_replay_adds_nothing(
    pipeline: LocalPipeline, tmp_path: Path
) -> None:
    n = 8
    title = "Il treno regionale delle otto è in ritardo anche oggi, linea {}"
    posts = [post_thing(i, title=title.format(i)) for i in range(1, n + 1)]
    comments = [
        comment_thing(i, body=f"Concordo, il servizio è peggiorato molto negli ultimi mesi ({i})")
        for i in range(1, n + 1)
    ]
    names = {"posts": {p["data"]["name"] for p in posts}, "comments": {c["data"]["name"] for c in comments}}

    def published_all(checkpoint: Checkpoint) -> bool:
        return all(wanted <= set((checkpoint.get(kind) or {}).get("seen") or []) for kind, wanted in names.items())

    with RedditServer() as server:
        server.add(*posts, *comments)

        def run(checkpoints: Path) -> LiveReport:
            source = RedditSource(
                ["italy"],
                client_id=CLIENT_ID,
                client_secret=CLIENT_SECRET,
                user_agent=USER_AGENT,
                every=0.2,
                base_url=server.url,
                auth_url=server.auth_url,
            )
            store = CheckpointStore(checkpoints, source.checkpoint_name)
            # Reddit is polled for ever: the source is done once its checkpoint holds every post and comment.
            return asyncio.run(publish_live(pipeline.settings, source, store, done=published_all))

        assert run(tmp_path / "first").published == 2 * n
        expected = {f"reddit:{name}" for wanted in names.values() for name in wanted}
        docs = assert_indexed_once(pipeline, "reddit", expected)
        assert_italian(docs)
        comment = docs["reddit:t1_c2"]
        assert comment["in_reply_to"] == "reddit:t1_c1" and comment["author"]["handle"] == "giulia_b"

        assert run(tmp_path / "replay").published == 2 * n  # an empty checkpoint: the newest page again
        assert server.over_budget == 0
    assert_replay_rewrote(pipeline, "reddit", docs)
