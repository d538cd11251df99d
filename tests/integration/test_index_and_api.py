"""Elasticsearch as ops teams use it, on the real stack: stemmed search, filters and aggregations
through the CLI and the HTTP API, bad parameters, mapping errors, and the index lifecycle."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter

import orjson
import pytest
from elasticsearch.helpers import scan

import elastic.lifecycle as lifecycle
from ascolto.testing import LocalPipeline, free_port, make_post, wait_for
from elastic.client import async_es_client
from elastic.lifecycle import PostsIndex
from schemas import now_rfc3339

POSTS = [
    ("it-1", "Le bollette della luce sono arrivate doppie, vergogna"),
    ("it-2", "Ennesima bolletta sbagliata, nessuno risponde al call center"),
    ("it-3", "Grazie al personale dello sportello, gentilissimi"),
    ("it-4", "Il treno regionale è stato soppresso, che disastro"),
    ("it-5", "Domani apre il nuovo ufficio anagrafe in via Roma"),
    ("en-1", "Massive outages in the north, the network has been down all day"),
    ("en-2", "Another outage this morning, terrible service"),
    ("en-3", "Thanks for the quick refund, great job"),
    ("en-4", "The new app makes booking appointments easy"),
    ("en-5", "My bill is wrong again and nobody answers"),
]


def get(port: int, path: str, **params: str) -> tuple[int, dict]:
    url = f"http://127.0.0.1:{port}{path}?{urllib.parse.urlencode(params)}"
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status, orjson.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, orjson.loads(exc.read())


@pytest.fixture(scope="module")
def indexed(tmp_path_factory):
    """A worker with its HTTP API, and the ten posts above indexed."""
    port = free_port()
    with LocalPipeline(tmp_path_factory.mktemp("api"), web_port=str(port)) as p:
        p.start_worker()
        p.publish([make_post(text, native_id=key) for key, text in POSTS])
        p.wait_count(len(POSTS))
        docs = [h["_source"] for h in scan(p.es, index=p.settings.es_index)]
        yield p, port, docs


def ids(posts: list[dict]) -> set[str]:
    return {p["native_id"] for p in posts}


def test_stemmed_search_in_italian_and_english(indexed):
    p, port, _ = indexed
    found = [orjson.loads(line) for line in p.cli("search", "bolletta", "--json").stdout.splitlines()]
    assert ids(found) == {"it-1", "it-2"}  # "bollette" and "bolletta"
    _, body = get(port, "/api/search", q="outage")
    assert ids(body["posts"]) == {"en-1", "en-2"}  # "outages" and "outage"
    assert body["total"] == 2


def test_filters_and_aggregations_match_the_documents(indexed):
    p, port, docs = indexed
    for lang in ("it", "en"):
        _, body = get(port, "/api/search", lang=lang, size="100")
        assert ids(body["posts"]) == {d["native_id"] for d in docs if d["lang"] == lang}
    _, body = get(port, "/api/search", sentiment="negative", topic="billing", size="100")
    expected = {d["native_id"] for d in docs if d["sentiment"]["label"] == "negative" and "billing" in d["topics"]}
    assert expected and ids(body["posts"]) == expected
    cli = p.cli("search", "--sentiment", "negative", "--lang", "it", "--json").stdout.splitlines()
    assert len(cli) == sum(1 for d in docs if d["sentiment"]["label"] == "negative" and d["lang"] == "it")

    status, stats = get(port, "/api/stats", since="1h", interval="1m")
    assert status == 200
    assert stats["total"] == len(docs)
    assert stats["sentiment"] == dict(Counter(d["sentiment"]["label"] for d in docs))
    assert {x["lang"]: x["count"] for x in stats["languages"]} == dict(Counter(d["lang"] for d in docs))
    topic_counts = Counter(t for d in docs for t in d["topics"])
    assert {x["topic"]: x["count"] for x in stats["top_topics"]} == dict(topic_counts)
    negative_topics = Counter(t for d in docs if d["sentiment"]["label"] == "negative" for t in d["topics"])
    assert {x["topic"]: x["count"] for x in stats["top_negative_topics"]} == dict(negative_topics)
    for row in stats["top_topics"]:
        assert row["negative"] == negative_topics.get(row["topic"], 0)
    assert sum(b["count"] for b in stats["sentiment_over_time"]) == len(docs)
    assert stats["sources"] == [{"source": "test", "count": len(docs)}]


@pytest.mark.parametrize(
    ("path", "params", "fragment"),
    [
        ("/api/search", {"sentiment": "furious"}, "sentiment must be one of"),
        ("/api/search", {"size": "-1"}, "size must be between"),
        ("/api/search", {"page": "x"}, "page must be a whole number"),
        ("/api/search", {"since": "last tuesday"}, "since"),
        ("/api/search", {"sort": "random"}, "sort must be one of"),
        ("/api/search", {"colour": "red"}, "unknown parameter"),
        ("/api/search", {"q": "text:(unclosed"}, "not a valid query"),
        ("/api/stats", {"interval": "fortnightly"}, "interval must be"),
        ("/api/stats", {"since": "30d", "interval": "1m"}, "buckets"),
        ("/api/stats", {"top": "1000"}, "top must be between"),
    ],
)
def test_api_rejects_bad_parameters_with_400(indexed, path, params, fragment):
    _, port, _ = indexed
    status, body = get(port, path, **params)
    assert status == 400, body
    assert fragment in body["error"]


def test_mapping_error_dead_letters_one_document_and_indexes_the_rest(pipeline):
    good = [make_post(f"post numero {i} tutto bene", native_id=f"ok-{i}") for i in range(5)]
    bad = make_post("follower count out of range", native_id="bad")
    bad["author"]["followers"] = 2**63 + 5  # a valid JSON integer, one past the largest Elasticsearch long
    pipeline.start_worker()
    pipeline.publish([*good[:2], bad, *good[2:]])
    [letter] = pipeline.read_dead_letters(1)
    assert letter["stage"] == "index"
    assert "document_parsing_exception" in letter["error"] and "author.followers" in letter["error"]
    assert orjson.loads(letter["original"])["id"] == "test:bad"
    pipeline.wait_count(len(good))


def test_rollover_keeps_replays_idempotent_and_retention_deletes_old_indices(pipeline, monkeypatch):
    pipeline.start_worker()
    first = [make_post(f"primo lotto {i}", native_id=f"a{i}") for i in range(20)]
    pipeline.publish(first)
    pipeline.wait_count(20)
    assert "rolled over" in pipeline.cli("index", "rollover", "--force").stderr

    replay_from = now_rfc3339()
    pipeline.publish(first)  # same posts, same created_at: they must go back to the first index
    pipeline.wait_count(20, {"range": {"indexed_at": {"gt": replay_from}}})
    second = [make_post(f"secondo lotto {i}", native_id=f"b{i}") for i in range(7)]
    pipeline.publish(second)
    pipeline.wait_count(27)
    alias = pipeline.settings.es_index
    per_index = {r["index"]: int(r["docs.count"]) for r in pipeline.es.cat.indices(index=f"{alias}-*", format="json")}
    assert per_index == {f"{alias}-000001": 20, f"{alias}-000002": 7}

    # Two days later, with a one-day retention, the first index holds only expired posts.
    later = lifecycle._now_ms() + 2 * 86_400_000
    monkeypatch.setattr(lifecycle, "_now_ms", lambda: later)
    settings = pipeline.settings.model_copy(update={"es_retention_days": 1.0})

    async def retention() -> list[str]:
        client = async_es_client(settings)
        try:
            posts = PostsIndex(client, settings)
            await posts.refresh()
            return await posts.apply_retention()
        finally:
            await client.close()

    assert asyncio.run(retention()) == [f"{alias}-000001"]
    assert pipeline.count() == 7


def test_template_change_rolls_over_instead_of_breaking_writes(tmp_path, monkeypatch):
    import elastic.templates as templates

    with LocalPipeline(tmp_path) as p:

        async def bootstrap() -> PostsIndex:
            client = async_es_client(p.settings)
            try:
                posts = PostsIndex(client, p.settings)
                await posts.bootstrap()
                return posts
            finally:
                await client.close()

        assert asyncio.run(bootstrap()).write_index.name.endswith("-000001")
        assert asyncio.run(bootstrap()).write_index.name.endswith("-000001")  # unchanged: no rollover
        original = templates.template_file("posts.mappings")
        changed = {**original, "version": original["version"] + 1}
        real = templates.template_file
        monkeypatch.setattr(
            templates, "template_file", lambda name: changed if name == "posts.mappings" else real(name)
        )
        assert asyncio.run(bootstrap()).write_index.name.endswith("-000002")
        mapping = p.es.indices.get_mapping(index=f"{p.settings.es_index}-000002")
        assert (
            mapping[f"{p.settings.es_index}-000002"]["mappings"]["_meta"]["template_version"]
            == changed["version"] * 1000 + 1
        )
        wait_for(lambda: p.es.indices.exists_alias(name=p.settings.es_index), timeout=10, what="alias")
