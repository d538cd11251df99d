"""What the faults feed the pipeline: generated posts, poison and malformed messages, long texts, and a
watch on the worker's API while they pass."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from kafka import KafkaProducer

from ascolto.testing import LocalPipeline, make_post
from connectors.generator import GeneratorSource
from core.kafka import kafka_client_config
from schemas import RawPost
from schemas.wire import RAW_POST_HEADERS


# --- inputs -----------------------------------------------------------------------------------
def posts(count: int, seed: int) -> list[RawPost]:
    """``count`` generated posts (repeatable with the same seed)."""
    return [post for post in GeneratorSource(count=count, seed=seed) if isinstance(post, dict)]


def nested_post(depth: int = 300, native_id: str = "poison") -> tuple[str, bytes]:
    """(id, bytes) of a valid RawPost whose ``raw`` is nested ``depth`` levels deep.

    Serialised with the standard library: orjson refuses such depth, which is the point.
    """
    post = make_post("un messaggio del tutto normale", native_id=native_id)
    nested: dict[str, Any] = {}
    for _ in range(depth):
        nested = {"a": nested}
    post["raw"] = nested
    return post["id"], json.dumps(post).encode("utf-8")


def malformed(i: int) -> bytes:
    """The ``i``-th of a cycle of messages that cannot be RawPosts."""
    kinds: list[Callable[[int], bytes]] = [
        lambda i: b"not json at all %d" % i,
        lambda i: b"\xff\xfe\x00garbage %d \x80\x81" % i,
        lambda i: b"",
        lambda i: b"[1, 2, %d]" % i,
        lambda i: json.dumps({"id": f"x:{i}", "text": 42}).encode(),
        lambda i: json.dumps(make_post(f"troncato {i}", native_id=f"cut-{i}")).encode()[:40],
        lambda i: json.dumps({**make_post(f"senza fonte {i}", native_id=f"nosrc-{i}"), "source": None}).encode(),
    ]
    return kinds[i % len(kinds)](i)


def send_raw(pipeline: LocalPipeline, records: Iterable[tuple[str, bytes]]) -> int:
    """Send (key, value) records straight to the raw topic with kafka-python; how many."""
    producer = KafkaProducer(
        **kafka_client_config(pipeline.settings), linger_ms=20, max_request_size=pipeline.settings.max_message_bytes
    )
    sent = 0
    try:
        for key, value in records:
            producer.send(pipeline.topics.raw, key=key.encode(), value=value, headers=list(RAW_POST_HEADERS))
            sent += 1
        producer.flush(timeout=120)
    finally:
        producer.close()
    return sent


def long_text(chars: int = 100_000) -> str:
    """English sentences full of "but" and "!" up to ``chars`` characters: plain VADER spends about
    20 s on one such post (its cost grows with the square of the words after each "but")."""
    sentences = (
        "The bill is wrong again, but the staff were great! ",
        "Not good at all, but nobody cares :( ",
        "WORST. DELIVERY. EVER!!! but good ",
    )
    unit = "".join(sentences)
    return (unit * (chars // len(unit) + 1))[:chars]


@contextmanager
def api_watch(pipeline: LocalPipeline) -> Iterator[list[tuple[float, int]]]:
    """Ask the worker's /api/stats over and over while the block runs; yields (seconds, HTTP status)
    per request. An error status is an answer; no answer within 10 s is (10.0, 0)."""
    url = f"http://127.0.0.1:{pipeline.settings.web_port}/api/stats"
    answers: list[tuple[float, int]] = []
    stop = threading.Event()

    def ask() -> tuple[float, int]:
        started = time.monotonic()
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:
                resp.read()
                status = int(resp.status)
        except urllib.error.HTTPError as exc:
            status = exc.code
        except OSError:
            return (10.0, 0)
        return (time.monotonic() - started, status)

    def watch() -> None:
        while not stop.is_set():
            answers.append(ask())
            stop.wait(0.2)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield answers
    finally:
        stop.set()
        thread.join(timeout=15)
