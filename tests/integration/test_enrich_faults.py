"""Hostile posts through a real worker: each poison one is a counted dead letter, long ones are
indexed whole, odd timestamps are indexed in one form, and the worker keeps running."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import orjson
from kafka import KafkaProducer

from ascolto.metrics_reading import samples_of, scrape
from ascolto.testing import make_post
from core.kafka import kafka_client_config


def nested(depth: int) -> dict:
    root: dict = {}
    node = root
    for _ in range(depth - 1):
        node["a"] = {}
        node = node["a"]
    return root


def dead_letters_by_stage(pipeline) -> dict[str, float]:
    samples = samples_of(scrape(pipeline.settings.metrics_port), "ascolto_dead_letters_total")
    return {sample.labels["stage"]: sample.value for sample in samples}


def test_poison_far_dated_and_long_posts_through_a_worker(pipeline):
    normal = [make_post(f"post number {i}: the bill is wrong again", native_id=f"ok{i}") for i in range(6)]
    long_posts = [
        make_post(("but good " * 11_200)[:100_000], native_id="long-but"),
        make_post(("The bill is wrong again, but the staff were great! " * 2000)[:100_000], native_id="long-en"),
        make_post(("Bravi, complimenti... tre ore di fila! " * 2600)[:100_000], native_id="long-it"),
    ]
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    odd_time = make_post("lower-case t and z, and a leap second", native_id="odd", created_at=f"{yesterday}t23:59:60z")
    poison = {
        b"test:deep": json.dumps(make_post("deep raw object", native_id="deep", raw=nested(300))).encode(),
        b"test:future": orjson.dumps(make_post("year 9999", native_id="future", created_at="9999-01-01T00:00:00Z")),
        b"test:past": orjson.dumps(make_post("epoch zero", native_id="past", created_at="1970-01-01T00:00:00Z")),
    }
    producer = KafkaProducer(**kafka_client_config(pipeline.settings), acks="all", max_request_size=16 * 1024 * 1024)
    for post in [*normal[:3], *long_posts, odd_time, *normal[3:]]:
        producer.send(pipeline.topics.raw, key=post["id"].encode(), value=orjson.dumps(post))
    for key, value in poison.items():
        producer.send(pipeline.topics.raw, key=key, value=value)
    producer.flush()
    producer.close()

    pipeline.start_worker()
    letters = {letter["error"][:40]: letter for letter in pipeline.read_dead_letters(expected=len(poison))}
    assert len(letters) == len(poison)
    stages = sorted(letter["stage"] for letter in letters.values())
    assert stages == ["decode", "validate", "validate"]
    errors = " | ".join(letter["error"] for letter in letters.values())
    assert "levels deep" in errors
    assert "ASCOLTO_MAX_FUTURE_SECONDS" in errors and "ASCOLTO_OLDEST_POST_DATE" in errors

    expected = len(normal) + len(long_posts) + 1
    pipeline.wait_count(expected)
    docs = {
        hit["_source"]["native_id"]: hit["_source"]
        for hit in pipeline.es.search(index=pipeline.settings.es_index, size=expected)["hits"]["hits"]
    }
    for post in long_posts:
        assert docs[post["native_id"]]["text"] == post["text"]  # indexed whole
    assert docs["long-en"]["sentiment"]["model"] == "vader-3.3.2"
    assert docs["odd"]["created_at"] == f"{yesterday}T23:59:59.000Z"
    by_stage = dead_letters_by_stage(pipeline)
    assert by_stage.get("decode") == 1 and by_stage.get("validate") == 2, by_stage
    pipeline.assert_worker_alive()
