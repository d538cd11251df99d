"""Malformed input lands in the dead-letter topic with a reason; valid posts around it are indexed."""

from __future__ import annotations

import base64

import orjson
from kafka import KafkaProducer

from core.kafka import kafka_client_config
from schemas import raw_post, validate


def post(i: int, **over) -> dict:
    p = dict(raw_post(source="test", native_id=i, text=f"post number {i} is great", handle="u"))
    p.update(over)
    return p


def test_malformed_messages_go_to_the_dlq_and_the_stream_keeps_running(pipeline):
    malformed = {
        b"bad-json": (b'{"id": "test:x", "text": ', "not JSON"),
        b"missing-text": (orjson.dumps({k: v for k, v in post(90).items() if k != "text"}), "text"),
        b"wrong-types": (orjson.dumps(post(91, text=42, author="someone")), "must be"),
        b"bad-utf8": (b'{"text": "caf\xe9"}', "not valid UTF-8"),
        b"huge": (orjson.dumps(post(92, text="x" * 5_000_000)), "100000"),
        b"not-object": (b'"just a string"', "not an object"),
    }
    valid = [post(i) for i in range(8)]
    producer = KafkaProducer(**kafka_client_config(pipeline.settings), acks="all", max_request_size=16 * 1024 * 1024)
    raw_topic = pipeline.topics.raw
    bad_items = list(malformed.items())
    for i, p in enumerate(valid):
        producer.send(raw_topic, key=p["id"].encode(), value=orjson.dumps(p))
        if i < len(bad_items):
            key, (value, _) = bad_items[i]
            producer.send(raw_topic, key=key, value=value)
    producer.flush()
    producer.close()

    pipeline.start_worker()
    letters = pipeline.read(pipeline.topics.dlq, expected=len(malformed))
    assert len(letters) == len(malformed)
    by_key = {}
    for record in letters:
        letter = orjson.loads(record.value)
        validate("dead_letter", letter)
        by_key[record.key] = letter
    assert set(by_key) == set(malformed)
    for key, (value, fragment) in malformed.items():
        letter = by_key[key]
        assert fragment in letter["error"], (key, letter["error"])
        assert letter["stage"] in ("decode", "validate")
        assert letter["topic"] == raw_topic and letter["offset"] is not None
        original = (
            base64.b64decode(letter["original"])
            if letter["original_encoding"] == "base64"
            else letter["original"].encode()
        )
        assert original == value, key

    pipeline.wait_count(len(valid))
    pipeline.assert_worker_alive()
