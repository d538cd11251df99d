"""File connector → Kafka → enrich agent → index agent → Elasticsearch, on the real stack."""

from __future__ import annotations

import time

import orjson
from elasticsearch.helpers import scan
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from connectors.generator import GeneratorSource
from schemas import now_rfc3339

N = 1200


def write_posts(path, count: int, seed: int) -> list[dict]:
    # English only: the contract says English sentiment is exactly vaderSentiment's.
    posts = list(GeneratorSource(count=count, seed=seed, italian_share=0.0))
    path.write_bytes(b"".join(orjson.dumps(p) + b"\n" for p in posts))
    return posts


def test_file_is_indexed_exactly_once_with_vader_sentiment_and_replays_are_idempotent(pipeline, tmp_path):
    posts = write_posts(tmp_path / "posts.jsonl", N, seed=11)
    pipeline.start_worker()

    out = pipeline.cli("connect", "file", str(tmp_path / "posts.jsonl"))
    assert f"{N} posts published" in out.stderr
    pipeline.wait_count(N)

    vader = SentimentIntensityAnalyzer()
    docs = {h["_id"]: h["_source"] for h in scan(pipeline.es, index=pipeline.settings.es_index)}
    assert set(docs) == {p["id"] for p in posts}
    for doc_id, doc in docs.items():
        assert doc["id"] == doc_id
        expected = vader.polarity_scores(doc["text"])
        assert {k: doc["sentiment"][k] for k in expected} == expected, doc_id
        assert doc["sentiment"]["model"] == "vader-3.3.2"
        assert doc["lang"] == "en"

    # Replay the same file: every document is written again, none is added.
    replay_started = now_rfc3339()
    time.sleep(0.01)  # indexed_at has millisecond resolution; make "after" strict
    pipeline.cli("connect", "file", str(tmp_path / "posts.jsonl"))
    pipeline.wait_count(N, query={"range": {"indexed_at": {"gt": replay_started}}})
    assert pipeline.count() == N

    # What a person sees through the CLI.
    found = pipeline.cli("search", "outage OR down", "--lang", "en", "--json", "--limit", "1000").stdout.splitlines()
    assert found, "search found nothing"
    assert all(orjson.loads(line)["id"] in docs for line in found)
    negative = pipeline.cli("search", "--sentiment", "negative", "--json", "--limit", "5000").stdout.splitlines()
    assert len(negative) == sum(1 for d in docs.values() if d["sentiment"]["label"] == "negative")


def test_worker_metrics_count_what_happened(pipeline, tmp_path):
    from ascolto.metrics_reading import samples_of, scrape

    write_posts(tmp_path / "few.jsonl", 25, seed=3)
    pipeline.start_worker()
    pipeline.cli("connect", "file", str(tmp_path / "few.jsonl"))
    pipeline.wait_count(25)
    samples = scrape(pipeline.settings.metrics_port)
    assert [s.value for s in samples_of(samples, "ascolto_posts_enriched_total")] == [25.0]
    assert [s.value for s in samples_of(samples, "ascolto_docs_indexed_total")] == [25.0]
    # The enrich agent's records carry their key and created_at header: the index sink never decodes them.
    assert [s.value for s in samples_of(samples, "ascolto_index_decoded_total")] == [0.0]


def test_connector_metrics_count_acknowledged_records(pipeline):
    from prometheus_client import REGISTRY

    def acked() -> float:
        return REGISTRY.get_sample_value("ascolto_connector_acked_total", {"source": "test"}) or 0.0

    before = acked()
    assert pipeline.publish(list(GeneratorSource(count=30, seed=8))) == 30
    assert acked() - before == 30
    assert REGISTRY.get_sample_value("ascolto_connector_delivery_errors_total", {"source": "test"}) in (None, 0.0)
