"""The worker's dead letters fit ASCOLTO_MAX_MESSAGE_BYTES, like the connectors' ones."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import orjson

from streams.stream_topics import StreamTopics


def topics(max_message_bytes: int) -> StreamTopics:
    dlq = SimpleNamespace(get_topic_name=lambda: "posts.dlq")
    return StreamTopics(cast(Any, None), cast(Any, None), cast(Any, dlq), max_message_bytes)


def test_a_dead_letter_of_a_message_near_the_limit_still_fits_it():
    limit = 64 * 1024
    # Quotes and control characters double in JSON: the letter would be ~2x the message.
    value = b'{"text": "' + b'\\"' * (limit // 2 - 20) + b'"}'
    record = topics(limit).dead_letter_record(
        "emit", "the enriched post is too big", key=b"k", value=value, topic="posts.raw", partition=0, offset=7
    )
    letter = orjson.loads(record.value)
    assert len(record.value) <= limit
    assert letter["truncated"] is True and letter["original_bytes"] == len(value)
    assert value.startswith(letter["original"].encode())
