"""One scenario per fault: inject it into a running pipeline, lift it, and return the :class:`Outcome`
(the accounting and the recovery time: from the fault being lifted, or injected for bad input, to
the index count rising again)."""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ascolto.faults.accounting import (
    Accounting,
    DeadLetterRecord,
    account,
    count,
    dead_letters,
    indexed_count,
    indexed_ids,
    indexed_metric,
    metric,
    wait_indexed,
    wait_rising,
    wait_settled,
)
from ascolto.faults.inputs import api_watch, long_text, malformed, nested_post, posts, send_raw
from ascolto.faults.private_stack import PrivateStack
from ascolto.testing import LocalPipeline, make_post, wait_for
from schemas import RawPost
from schemas.posts import post_id


# --- scenarios --------------------------------------------------------------------------------
@dataclass
class Outcome:
    """What one scenario measured."""

    name: str
    accounting: Accounting
    recovery_seconds: float | None
    dead_letters: list[DeadLetterRecord] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Scenario:
    """A fault: the settings its pipeline needs, and how to inject and lift it."""

    name: str
    run: Callable[[PrivateStack, LocalPipeline, int], Outcome]
    settings: dict[str, str] = field(default_factory=dict)


def _publish_mid_stream(pipeline: LocalPipeline, produced: list[RawPost], share: float = 0.2) -> int:
    """Start the worker, publish, and return once a share (not all) of the posts is indexed."""
    pipeline.start_worker()
    pipeline.publish(produced)
    reached = wait_indexed(pipeline, int(len(produced) * share))
    if reached >= len(produced):
        raise AssertionError("every post was indexed before the fault: it did not hit mid-stream")
    return reached


def _finish(
    name: str, pipeline: LocalPipeline, produced: Sequence[str], recovery: float | None, **notes: Any
) -> Outcome:
    wait_settled(pipeline)
    pipeline.assert_worker_alive()
    letters = dead_letters(pipeline)
    return Outcome(name, account(pipeline, produced, letters=letters), recovery, letters, notes)


def plain(stack: PrivateStack, pipeline: LocalPipeline, n: int) -> Outcome:
    """No fault: the throughput to compare the others with."""
    produced = posts(n, seed=1)
    pipeline.start_worker()
    started = time.monotonic()
    pipeline.publish(produced)
    pipeline.wait_count(n, timeout=300)
    seconds = time.monotonic() - started
    return _finish("plain", pipeline, [p["id"] for p in produced], None, posts_per_second=n / seconds)


def worker_sigkill(stack: PrivateStack, pipeline: LocalPipeline, n: int) -> Outcome:
    produced = posts(n, seed=2)
    at_fault = _publish_mid_stream(pipeline, produced)
    assert pipeline.worker is not None
    os.kill(pipeline.worker.pid, signal.SIGKILL)
    pipeline.worker.wait(timeout=30)
    lifted = time.monotonic()  # its restart included: what a user waits for
    pipeline.start_worker()
    # The new process's own count: Elasticsearch may still finish a bulk the dead one had sent.
    recovery = wait_rising(pipeline, lifted, indexed_metric(pipeline), 0)
    return _finish("worker SIGKILL", pipeline, [p["id"] for p in produced], recovery, indexed_at_fault=at_fault)


def kafka_sigkill(stack: PrivateStack, pipeline: LocalPipeline, n: int) -> Outcome:
    produced = posts(n, seed=3)
    _publish_mid_stream(pipeline, produced)
    stack.kill("kafka")
    baseline = count(pipeline)
    lifted = time.monotonic()  # the restart's start: its start-up is part of what a user waits for
    stack.up("kafka")
    after = posts(n // 4, seed=33)  # new input once it is back
    pipeline.publish(after)
    recovery = wait_rising(pipeline, lifted, indexed_count(pipeline), baseline)
    return _finish("Kafka SIGKILL", pipeline, [p["id"] for p in produced + after], recovery)


def es_sigstop(stack: PrivateStack, pipeline: LocalPipeline, n: int) -> Outcome:
    produced = posts(n, seed=4)
    _publish_mid_stream(pipeline, produced)
    stack.freeze("elasticsearch")
    frozen = time.monotonic()
    try:
        # Longer than the bulk timeout: until the worker has noticed a request time out.
        wait_for(lambda: metric(pipeline, "ascolto_elasticsearch_up") == 0, timeout=120, what="ES marked down")
        baseline = metric(pipeline, "ascolto_docs_indexed_total")
    finally:
        stack.thaw("elasticsearch")
    lifted = time.monotonic()
    frozen_for = lifted - frozen
    recovery = wait_rising(pipeline, lifted, indexed_metric(pipeline), baseline)
    return _finish("Elasticsearch SIGSTOP", pipeline, [p["id"] for p in produced], recovery, frozen_seconds=frozen_for)


def es_sigkill(stack: PrivateStack, pipeline: LocalPipeline, n: int) -> Outcome:
    produced = posts(n, seed=5)
    _publish_mid_stream(pipeline, produced)
    stack.kill("elasticsearch")
    during = posts(n // 4, seed=55)  # Kafka keeps taking posts meanwhile
    pipeline.publish(during)
    wait_for(lambda: metric(pipeline, "ascolto_elasticsearch_up") == 0, timeout=120, what="ES marked down")
    baseline = metric(pipeline, "ascolto_docs_indexed_total")
    lifted = time.monotonic()  # the restart's start, as for Kafka
    stack.up("elasticsearch")
    recovery = wait_rising(pipeline, lifted, indexed_metric(pipeline), baseline)
    return _finish("Elasticsearch SIGKILL", pipeline, [p["id"] for p in produced + during], recovery)


def poison(stack: PrivateStack, pipeline: LocalPipeline, n: int) -> Outcome:
    first, second = posts(n // 2, seed=6), posts(n - n // 2, seed=66)
    pipeline.start_worker()
    pipeline.publish(first)
    pipeline.wait_count(len(first))
    poison_id, value = nested_post()
    injected = time.monotonic()
    send_raw(pipeline, [(poison_id, value)])
    pipeline.publish(second)
    recovery = wait_rising(pipeline, injected, indexed_count(pipeline), len(first))
    ids = [p["id"] for p in first + second]
    outcome = _finish("poison (depth 300)", pipeline, [*ids, poison_id], recovery)
    outcome.notes["poison_id"] = poison_id
    outcome.notes["dead_letters_metric"] = metric(pipeline, "ascolto_dead_letters_total")
    return outcome


def oversized_line(stack: PrivateStack, pipeline: LocalPipeline, n: int) -> Outcome:
    limit = pipeline.settings.max_message_bytes
    before = [{"id": f"before-{i}", "text": f"riga valida numero {i}"} for i in range(n // 2)]
    after = [{"id": f"after-{i}", "text": f"valid row number {i}"} for i in range(n - n // 2)]
    big = {"id": "huge", "text": "x" * (3 * limit)}
    path = pipeline.workdir / "replay.jsonl"
    path.write_bytes(b"".join(json.dumps(row).encode() + b"\n" for row in [*before, big, *after]))
    pipeline.start_worker()
    injected = time.monotonic()
    result = pipeline.cli("connect", "file", str(path), check=False, timeout=300)
    recovery = wait_rising(pipeline, injected, indexed_count(pipeline), 0) if result.returncode == 0 else None
    ids = [post_id("file", row["id"]) for row in [*before, big, *after]]
    outcome = _finish("oversized line", pipeline, ids, recovery)
    outcome.notes.update(returncode=result.returncode, stderr=result.stderr)
    return outcome


def long_posts(stack: PrivateStack, pipeline: LocalPipeline, n: int) -> Outcome:
    # As long as the schema allows: 100,000 characters.
    long = [make_post(long_text(100_000 - 3) + f" #{i}", native_id=f"long-{i}") for i in range(5)]
    normal = posts(n, seed=7)
    pipeline.start_worker()
    injected = time.monotonic()
    with api_watch(pipeline) as answers:
        pipeline.publish(long[:2] + normal + long[2:])
        recovery = wait_rising(pipeline, injected, indexed_count(pipeline), 0)
        wait_settled(pipeline, timeout=300)
    outcome = _finish("long posts (5 x 100k)", pipeline, [p["id"] for p in long + normal], recovery)
    hits = pipeline.es.search(
        index=pipeline.settings.es_index, query={"ids": {"values": [p["id"] for p in long]}}, source=["text"]
    )["hits"]["hits"]
    outcome.notes.update(
        api_max_seconds=max((seconds for seconds, _ in answers), default=0.0),
        api_requests=len(answers),
        api_statuses=dict(Counter(status for _, status in answers)),
        took=time.monotonic() - injected,
        long_texts_indexed=sorted(len(hit["_source"]["text"]) for hit in hits),
    )
    return outcome


def _backing_indices(pipeline: LocalPipeline) -> list[str]:
    return sorted(pipeline.es.indices.get_alias(name=pipeline.settings.es_index))


def write_block(stack: PrivateStack, pipeline: LocalPipeline, n: int) -> Outcome:
    first, second = posts(n // 2, seed=8), posts(n - n // 2, seed=88)
    pipeline.start_worker()
    pipeline.publish(first)
    pipeline.wait_count(len(first))
    indices = _backing_indices(pipeline)
    pipeline.es.indices.put_settings(index=",".join(indices), settings={"index.blocks.write": True})
    retries = metric(pipeline, "ascolto_index_retries_total")
    letters = metric(pipeline, "ascolto_dead_letters_total")
    try:
        pipeline.publish(second)
        # The worker has met the block: it backs off (or, wrongly, dead-letters).
        wait_for(
            lambda: (
                metric(pipeline, "ascolto_index_retries_total") > retries
                or metric(pipeline, "ascolto_dead_letters_total") > letters
            ),
            timeout=120,
            what="the worker to meet the write block",
        )
        held = count(pipeline)
    finally:
        pipeline.es.indices.put_settings(index=",".join(indices), settings={"index.blocks.write": None})
    lifted = time.monotonic()
    recovery = wait_rising(pipeline, lifted, indexed_count(pipeline), held)
    return _finish("write block", pipeline, [p["id"] for p in first + second], recovery, held=held)


def lost_alias(stack: PrivateStack, pipeline: LocalPipeline, n: int) -> Outcome:
    produced = posts(n, seed=9)
    _publish_mid_stream(pipeline, produced)
    alias = pipeline.settings.es_index
    pipeline.es.indices.delete_alias(index=",".join(_backing_indices(pipeline)), name=alias)
    injected = time.monotonic()
    after = posts(n // 4, seed=99)
    pipeline.publish(after)
    recovery = wait_rising(pipeline, injected, indexed_count(pipeline), 0)
    return _finish("lost alias", pipeline, [p["id"] for p in produced + after], recovery)


def lost_index(stack: PrivateStack, pipeline: LocalPipeline, n: int) -> Outcome:
    """The backing index (and the alias with it) deleted mid-stream: what was in it is gone by the
    operator's hand, everything published afterwards must be indexed, once."""
    produced = posts(n, seed=11)
    _publish_mid_stream(pipeline, produced)
    pipeline.es.indices.delete(index=",".join(_backing_indices(pipeline)))
    injected = time.monotonic()
    after = posts(n // 4, seed=111)
    pipeline.publish(after)
    recovery = wait_rising(pipeline, injected, indexed_count(pipeline), 0)
    outcome = _finish("lost index", pipeline, [p["id"] for p in produced + after], recovery)
    outcome.notes["lost_after"] = len({p["id"] for p in after} - set(indexed_ids(pipeline)))
    return outcome


def flood(stack: PrivateStack, pipeline: LocalPipeline, n: int) -> Outcome:
    """``n`` valid posts interleaved with 10,000 malformed messages, straight to the raw topic."""
    valid = posts(n, seed=10)
    bad = 10_000
    records: list[tuple[str, bytes]] = []
    per_valid = bad // max(n, 1) or 1
    i = 0
    for post in valid:
        for _ in range(per_valid):
            if i < bad:
                records.append((f"bad:{i}", malformed(i)))
                i += 1
        records.append((post["id"], json.dumps(post).encode()))
    records += [(f"bad:{j}", malformed(j)) for j in range(i, bad)]
    pipeline.start_worker()
    injected = time.monotonic()
    send_raw(pipeline, records)
    recovery = wait_rising(pipeline, injected, indexed_count(pipeline), 0)
    outcome = _finish("flood (10k malformed)", pipeline, [k for k, _ in records], recovery)
    outcome.notes.update(took=time.monotonic() - injected, malformed=bad)
    return outcome


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("worker-sigkill", worker_sigkill),
        Scenario("kafka-sigkill", kafka_sigkill),
        # A short bulk timeout, so that a freeze longer than it stays cheap.
        Scenario("es-sigstop", es_sigstop, {"es_request_timeout": "5"}),
        Scenario("es-sigkill", es_sigkill),
        Scenario("poison", poison),
        Scenario("oversized-line", oversized_line, {"max_message_bytes": str(64 * 1024)}),
        Scenario("long-posts", long_posts),
        Scenario("write-block", write_block),
        Scenario("lost-alias", lost_alias),
        Scenario("lost-index", lost_index),
        Scenario("flood", flood),
    )
}


def run_scenario(stack: PrivateStack, name: str, n: int, workdir: Path | None = None, **settings: str) -> Outcome:
    """Run one scenario on a fresh pipeline of ``stack``; the stack is healed afterwards."""
    scenario = SCENARIOS[name] if name != "plain" else Scenario("plain", plain)
    # Several bulk requests per run: with all posts in one (4,000 by default) a quick machine indexed every
    # post before a fault could land mid-stream, and the scenario could not say what it set out to.
    batches = {"index_batch_size": str(max(100, n // 10))}
    with stack.pipeline(workdir, **{**batches, **scenario.settings, **settings}) as pipeline:
        try:
            return scenario.run(stack, pipeline, n)
        finally:
            stack.heal()  # before the pipeline's clean-up, which needs both servers
