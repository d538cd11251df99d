"""The pipeline's Prometheus series, as a scrape would read them: lag per partition, latency from
ingestion to the index, bulk errors and posts per topic and sentiment, with bounded labels."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka import TopicPartition
from prometheus_client import REGISTRY

from ascolto.testing import make_post
from schemas import dumps, enriched_post_headers
from streams import metrics
from streams.batching import Message
from streams.enrich_agent import BatchEnricher
from streams.index_agent import report_lag
from streams.publishing import BatchPublisher
from tests.unit.test_enrich_batches import Event, FakeProducer, chain, run, topics  # noqa: F401 (fixtures)
from tests.unit.test_index_sink import TOPIC, harness, iso, now_ms, one_index_cluster, post
from tests.unit.test_index_sink import run as run_sink


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@dataclass
class StampedMsg:
    """A Faust message of posts.raw: its timestamp is when the connector's record entered Kafka (seconds)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: float


class StampingProducer(FakeProducer):
    """Also keeps the timestamp each record was appended with."""

    def __init__(self) -> None:
        super().__init__()
        self.stamps: list[float | None] = []

    def create_batch(self) -> Any:
        builder = super().create_batch()
        append = builder.append

        def stamped(*, timestamp: float | None, **kwargs: Any) -> object | None:
            self.stamps.append(timestamp)
            return append(timestamp=timestamp, **kwargs)

        builder.append = stamped
        return builder


def raw_event(partition: int, offset: int, text: str, stamp: float) -> Event:
    post_ = make_post(text, native_id=f"{partition}-{offset}")
    return Event(StampedMsg("t.posts.raw", partition, offset, post_["id"].encode(), dumps(post_), stamp))  # type: ignore[arg-type]


def test_enrich_batch_reports_lag_per_partition_and_keeps_the_raw_timestamp(chain, topics):  # noqa: F811
    producer = StampingProducer()
    ends = {("t.posts.raw", 0): 50, ("t.posts.raw", 1): 7}
    step = BatchEnricher(chain, BatchPublisher(producer), topics, 1_000_000, highwater=lambda t, p: ends[t, p])
    stamp = time.time() - 30
    events = [raw_event(0, 10, "uno", stamp), raw_event(0, 11, "due", stamp), raw_event(1, 6, "tre", stamp)]
    acked, error = run_enrich(step, events)
    assert error is None and len(acked) == 3
    assert value("ascolto_consumer_lag", agent="enrich", topic="t.posts.raw", partition="0") == 50 - 12
    assert value("ascolto_consumer_lag", agent="enrich", topic="t.posts.raw", partition="1") == 0
    assert producer.stamps == [round(stamp * 1000)] * 3


def run_enrich(step: BatchEnricher, events: list[Event]) -> tuple[list[Event], Exception | None]:
    import asyncio

    return asyncio.run(run(step, events))


def test_enriched_posts_are_counted_per_topic_and_sentiment(chain, topics):  # noqa: F811
    step = BatchEnricher(chain, BatchPublisher(FakeProducer()), topics, 1_000_000)
    labels = metrics.TopicLabels(10)
    before = value("ascolto_topic_posts_total", topic="none", sentiment="negative")
    metrics.count_topic_sentiment(
        labels,
        [
            {"topics": ["trasporti", "sanita"], "sentiment": {"label": "negative"}},
            {"topics": ["trasporti"], "sentiment": {"label": "positive"}},
            {"topics": [], "sentiment": {"label": "negative"}},
        ],
    )
    assert value("ascolto_topic_posts_total", topic="trasporti", sentiment="negative") >= 1
    assert value("ascolto_topic_posts_total", topic="sanita", sentiment="negative") >= 1
    assert value("ascolto_topic_posts_total", topic="none", sentiment="negative") - before == 1
    # Through the agent's batch step: each enriched post lands in exactly one sentiment per topic.
    total_before = sum(
        s.value
        for m in REGISTRY.collect()
        if m.name == "ascolto_topic_posts"
        for s in m.samples
        if s.name.endswith("_total")
    )
    acked, _ = run_enrich(step, [raw_event(2, i, f"post {i}", time.time()) for i in range(5)])
    total_after = sum(
        s.value
        for m in REGISTRY.collect()
        if m.name == "ascolto_topic_posts"
        for s in m.samples
        if s.name.endswith("_total")
    )
    assert len(acked) == 5 and total_after - total_before >= 5


def test_topic_labels_are_bounded_and_odd_names_fold_into_other():
    labels = metrics.TopicLabels(2)
    assert [labels.label(t) for t in ("a_one", "b_two", "c_three", "a_one")] == ["a_one", "b_two", "other", "a_one"]
    assert labels.label("Not A Taxonomy Id") == "other"
    assert labels.label("x" * 200) == "other"
    assert labels.label(42) == "other"


def test_lag_series_of_revoked_partitions_disappear():
    gauge = metrics.LagGauge("test-revoke")
    gauge.report({("t", 0): 5, ("t", 1): 3})
    gauge.report({("t", 1): 0})
    assert (
        REGISTRY.get_sample_value("ascolto_consumer_lag", {"agent": "test-revoke", "topic": "t", "partition": "0"})
        is None
    )
    assert value("ascolto_consumer_lag", agent="test-revoke", topic="t", partition="1") == 0


class FakeConsumer:
    def __init__(self, ends: dict[int, int | None], positions: dict[int, int]) -> None:
        self.ends, self.positions = ends, positions

    def assignment(self) -> set[TopicPartition]:
        return {TopicPartition("t.posts.enriched", p) for p in self.ends}

    def highwater(self, tp: TopicPartition) -> int | None:
        return self.ends[tp.partition]

    async def position(self, tp: TopicPartition) -> int:
        return self.positions[tp.partition]


def test_index_consumer_lag_is_high_watermark_minus_position():
    import asyncio

    gauge = metrics.LagGauge("test-index")
    asyncio.run(report_lag(FakeConsumer({0: 120, 1: 9, 2: None}, {0: 100, 1: 9, 2: 0}), gauge))  # type: ignore[arg-type]
    assert value("ascolto_consumer_lag", agent="test-index", topic="t.posts.enriched", partition="0") == 20
    assert value("ascolto_consumer_lag", agent="test-index", topic="t.posts.enriched", partition="1") == 0
    # Not fetched yet: no high watermark, no series (rather than a made-up number).
    assert (
        REGISTRY.get_sample_value(
            "ascolto_consumer_lag", {"agent": "test-index", "topic": "t.posts.enriched", "partition": "2"}
        )
        is None
    )


def test_index_sink_observes_latency_from_ingestion_and_counts_bulk_errors():
    h = harness(one_index_cluster())
    h.es.item_faults = {"bad": [400]}
    ingested = now_ms() - 2_000
    created = now_ms() - 3_600_000  # an old post: created_at says nothing about the pipeline's speed
    batch = [
        Message(
            doc_id.encode(), orjson.dumps(post(doc_id, created)), TOPIC, 0, offset,
            enriched_post_headers(iso(created)), ingested,
        )
        for offset, doc_id in enumerate(["a", "b", "bad"])
    ]  # fmt: skip
    count_before = value("ascolto_ingest_to_index_seconds_count")
    sum_before = value("ascolto_ingest_to_index_seconds_sum")
    errors_before = value("ascolto_bulk_errors_total", kind="document")

    async def scenario() -> Any:
        await h.sink.start()
        return await h.sink.write(batch)

    run_sink(scenario())
    assert value("ascolto_ingest_to_index_seconds_count") - count_before == 2
    mean = (value("ascolto_ingest_to_index_seconds_sum") - sum_before) / 2
    assert 2.0 <= mean < 60.0
    assert value("ascolto_bulk_errors_total", kind="document") - errors_before == 1
    assert len(h.letters) == 1
