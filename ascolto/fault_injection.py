"""Fault injection for the fault suite (tests/faults) and its benchmark (bench/faults.py).

Three parts, used by both:

* :class:`PrivateStack`: a second embedded Kafka + Elasticsearch under its own home, on free
  ports, so that servers can be SIGKILLed or SIGSTOPped without touching the stack everyone
  else uses (``ascolto stack up`` with ASCOLTO_HOME and the ASCOLTO_STACK_*_PORT settings);
* exact accounting (:func:`account`): every post produced is either one document in the index
  (reached through the alias, as a search would) or one dead letter, and nothing else;
* the scenarios (:data:`SCENARIOS`): one per fault, each injecting it into a running pipeline,
  lifting it, and returning an :class:`Outcome` (the accounting and the recovery time: from the
  fault being lifted, or injected for bad input, to the index count rising again).

Nothing is simulated: the servers are real processes and the signals are real signals.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from elasticsearch import ApiError, NotFoundError
from elasticsearch.helpers import scan
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from ascolto import launcher
from ascolto.stack import LocalStack
from ascolto.stack.process import port_in_use
from ascolto.testing import LocalPipeline, free_port, make_post, wait_for
from connectors.generator import GeneratorSource
from core.kafka import kafka_client_config
from schemas import RawPost
from schemas.posts import post_id
from schemas.wire import RAW_POST_HEADERS

SERVERS = ("kafka", "elasticsearch")


# --- the private stack -------------------------------------------------------------------------
class PrivateStack:
    """``ascolto stack up`` under ``home`` on ports of its own: servers a test may kill or freeze.

    The settings it runs with are in :attr:`env` (``ASCOLTO_*`` variables), what a pipeline needs
    to use it in :attr:`overrides`.
    """

    def __init__(self, home: Path, *, es_heap: str = "512m", kafka_heap: str = "512m") -> None:
        self.home = home
        ports = [free_port() for _ in range(5)]
        self.stack_overrides: dict[str, str] = {
            "home": str(home),
            "stack_kafka_port": str(ports[0]),
            "stack_kafka_controller_port": str(ports[1]),
            "stack_kafka_sasl_ssl_port": str(ports[2]),
            "stack_es_port": str(ports[3]),
            "stack_es_transport_port": str(ports[4]),
            "stack_es_heap": es_heap,
            "stack_kafka_heap": kafka_heap,
        }
        self.env = launcher.child_env(self.stack_overrides)
        self.settings = launcher.settings_of(self.env)
        # What a pipeline sets to talk to this stack (its other settings stay its own).
        self.overrides = {"kafka_brokers": self.settings.kafka_brokers, "es_url": self.settings.es_url}
        self.frozen: set[str] = set()

    @classmethod
    def in_temp_dir(cls, **kwargs: str) -> PrivateStack:
        """A private stack in a fresh temporary home, readable by Elasticsearch's unprivileged user."""
        home = Path(tempfile.mkdtemp(prefix="ascolto-faults-"))
        home.chmod(0o755)  # as root, Elasticsearch runs as another user and must reach its files
        return cls(home, **kwargs)

    @classmethod
    def started(cls, attempts: int = 3, **kwargs: str) -> tuple[PrivateStack, float]:
        """A private stack in a fresh temporary home, up and ready, and the seconds that took.

        The ports are free when chosen, not reserved: if another program takes one before the
        servers bind it, the stack is started again elsewhere on new ports.
        """
        for attempt in range(1, attempts + 1):
            stack = cls.in_temp_dir(**kwargs)
            try:
                return stack, stack.up()
            except RuntimeError as exc:
                stack.down()
                stack.remove()
                if "is taken" not in str(exc) or attempt == attempts:
                    raise
        raise AssertionError("unreachable")

    def _stack(self) -> LocalStack:
        return LocalStack(self.settings)

    def up(self, only: str | None = None, timeout: float = 600) -> float:
        """Start (what is not running) and wait until ready; the seconds it took."""
        started = time.monotonic()
        result = launcher.run(["stack", "up", *(["--only", only] if only else [])], env=self.env, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"the private stack did not come up: {(result.stderr or result.stdout).strip()}")
        return time.monotonic() - started

    def down(self) -> None:
        for name in SERVERS:
            self.thaw(name)
        launcher.run(["stack", "down"], env=self.env, timeout=300)

    def remove(self) -> None:
        """Delete the home (and Elasticsearch's, when it had to live elsewhere); the stack must be down."""
        es_home = self._stack().elasticsearch.home
        shutil.rmtree(self.home, ignore_errors=True)
        if not es_home.is_relative_to(self.home):
            shutil.rmtree(es_home, ignore_errors=True)

    def pid(self, name: str) -> int:
        pid = self._stack().service(name).process.pid()
        if pid is None:
            raise AssertionError(f"the private {name} is not running")
        return pid

    def ports(self, name: str) -> list[int]:
        return list(self._stack().service(name).ports)

    def _signal(self, name: str, sig: signal.Signals) -> int:
        # The whole process group: Elasticsearch's launcher JVM starts the server JVM as its child.
        pid = self.pid(name)
        os.killpg(pid, sig)
        return pid

    def kill(self, name: str) -> None:
        """SIGKILL the server and wait until it is gone and its ports are free."""
        self.frozen.discard(name)
        pid = self._signal(name, signal.SIGKILL)
        group = [p for p in psutil.process_iter(["pid"]) if _pgid(p.pid) == pid]
        psutil.wait_procs(group, timeout=30)
        wait_for(
            lambda: not any(port_in_use(p) for p in self.ports(name)), timeout=30, what=f"{name}'s ports to be freed"
        )

    def freeze(self, name: str) -> None:
        """SIGSTOP the server: it keeps its connections open and answers nothing."""
        self._signal(name, signal.SIGSTOP)
        self.frozen.add(name)

    def thaw(self, name: str) -> None:
        if name in self.frozen:
            self._signal(name, signal.SIGCONT)
            self.frozen.discard(name)

    def heal(self) -> None:
        """Undo whatever a scenario left: thaw frozen servers, start killed ones."""
        for name in SERVERS:
            self.thaw(name)
        self.up()

    def pipeline(self, workdir: Path | None = None, **settings: str) -> LocalPipeline:
        """A LocalPipeline (own topics, index, group) on this stack."""
        return LocalPipeline(workdir, **{**self.overrides, **settings})


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


# --- accounting -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Accounting:
    """Where the produced messages ended up. Exact when every one is one document or one dead letter."""

    produced: int
    documents: int  # hits through the alias, duplicates included
    distinct: int  # distinct _ids among them
    dead_letters: int
    lost: int  # produced, but neither indexed nor dead-lettered
    duplicated: int  # extra copies: a second document, a second dead letter, or both for one post
    unexpected: int  # indexed or dead-lettered although nobody produced it

    @property
    def exact(self) -> bool:
        return (
            self.lost == self.duplicated == self.unexpected == 0
            and self.documents == self.distinct
            and self.distinct + self.dead_letters == self.produced
        )

    ROW = "{:<22} {:>9} {:>9} {:>9} {:>6} {:>11} {:>11}"

    @classmethod
    def header(cls) -> str:
        return cls.ROW.format("case", "produced", "indexed", "dead", "lost", "duplicated", "recovery s")

    def row(self, name: str, recovery: float | None) -> str:
        shown = "-" if recovery is None else f"{recovery:.1f}"
        return self.ROW.format(name, self.produced, self.distinct, self.dead_letters, self.lost, self.duplicated, shown)


def indexed_ids(pipeline: LocalPipeline) -> list[str]:
    """The _id of every document a search through the alias sees (an absent alias sees none)."""
    es = pipeline.es
    alias = pipeline.settings.es_index
    try:
        es.indices.refresh(index=alias)
        return [hit["_id"] for hit in scan(es, index=alias, _source=False, size=5000)]
    except NotFoundError:
        return []


@dataclass(frozen=True)
class DeadLetterRecord:
    """One record of the dead-letter topic."""

    key: str | None
    letter: dict[str, Any]
    size: int  # bytes of the record's value


def dead_letters(pipeline: LocalPipeline) -> list[DeadLetterRecord]:
    """Every record in the dead-letter topic, from the start to its current end."""
    topic = pipeline.topics.dlq
    consumer = KafkaConsumer(
        **kafka_client_config(pipeline.settings),
        enable_auto_commit=False,
        fetch_max_bytes=64 * 1024 * 1024,
        max_partition_fetch_bytes=32 * 1024 * 1024,
    )
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        letters: list[DeadLetterRecord] = []

        def caught_up() -> bool:
            for batch in consumer.poll(timeout_ms=500).values():
                for record in batch:
                    key = record.key.decode("utf-8", "replace") if record.key is not None else None
                    letters.append(DeadLetterRecord(key, json.loads(record.value), len(record.value)))
            return all(consumer.position(tp) >= ends[tp] for tp in partitions)

        wait_for(caught_up, timeout=120, what=f"the end of {topic}", interval=0)
        return letters
    finally:
        consumer.close()


def account(
    pipeline: LocalPipeline,
    produced: Iterable[str],
    unkeyed: int = 0,
    letters: Sequence[DeadLetterRecord] | None = None,
) -> Accounting:
    """Compare the index (through the alias) and the dead-letter topic with what was produced.

    ``letters`` are the dead-letter topic's records when the caller has read them already.
    """
    records = dead_letters(pipeline) if letters is None else letters
    return tally(produced, indexed_ids(pipeline), [record.key for record in records], unkeyed)


def tally(
    produced: Iterable[str], docs: Sequence[str], letter_keys: Sequence[str | None], unkeyed: int = 0
) -> Accounting:
    """The accounting of ``produced`` keys (post ids, each a distinct post) against the _ids of the
    documents found and the keys of the dead letters found.

    ``unkeyed`` counts messages sent without a usable key (say an unparseable file line): they can
    only end as dead letters whose key matches nothing produced.
    """
    expected = set(produced)
    distinct = set(docs)
    keyed_letters = Counter(k for k in letter_keys if k is not None and k in expected)
    unmatched_letters = len(letter_keys) - sum(keyed_letters.values())  # keyless, or a key nobody sent
    ended = distinct | set(keyed_letters)
    duplicated = (
        (len(docs) - len(distinct))  # a second document with one _id (two backing indices)
        + sum(n - 1 for n in keyed_letters.values())  # a post dead-lettered twice
        + len(distinct & set(keyed_letters))  # a post both indexed and dead-lettered
    )
    return Accounting(
        produced=len(expected) + unkeyed,
        documents=len(docs),
        distinct=len(distinct),
        dead_letters=len(letter_keys),
        lost=len(expected - ended) + max(0, unkeyed - unmatched_letters),
        duplicated=duplicated,
        unexpected=len(distinct - expected) + max(0, unmatched_letters - unkeyed),
    )


# --- waiting on the pipeline ------------------------------------------------------------------
def lag(pipeline: LocalPipeline) -> int:
    """Messages not yet committed by the enrich group (raw topic) and the index group (enriched topic)."""
    app_id = pipeline.settings.app_id
    admin = KafkaAdminClient(**kafka_client_config(pipeline.settings))
    consumer = KafkaConsumer(**kafka_client_config(pipeline.settings))
    try:
        behind = 0
        for group, topic in ((app_id, pipeline.topics.raw), (f"{app_id}-index", pipeline.topics.enriched)):
            committed = admin.list_group_offsets({group: None}).get(group, {})
            partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
            ends = consumer.end_offsets(partitions)
            for tp in partitions:
                done = committed.get(tp)
                behind += ends[tp] - (done.offset if done is not None and done.offset >= 0 else 0)
        return behind
    finally:
        consumer.close()
        admin.close()


def wait_settled(pipeline: LocalPipeline, timeout: float = 240) -> None:
    """Wait until both consumer groups have committed everything in their topics, the worker alive.

    Then nothing more can reach the index or the dead-letter topic: the accounting is final.
    """

    def settled() -> bool:
        pipeline.assert_worker_alive()
        return lag(pipeline) == 0

    wait_for(settled, timeout=timeout, what="the pipeline to commit every message", interval=0.5)


def count(pipeline: LocalPipeline) -> int:
    """Documents through the alias; 0 while it is missing or its new shard is starting."""
    try:
        return pipeline.count()
    except ApiError as exc:
        if exc.meta.status in (404, 503):
            return 0
        raise


def wait_indexed(pipeline: LocalPipeline, at_least: int, timeout: float = 180) -> int:
    """Wait until the index holds at least ``at_least`` documents (worker alive); how many it holds."""

    def enough() -> int:
        pipeline.assert_worker_alive()
        n = count(pipeline)
        return n if n >= at_least else 0

    return wait_for(enough, timeout=timeout, what=f"{at_least} documents indexed", interval=0.1)


def wait_rising(
    pipeline: LocalPipeline, since: float, reading: Callable[[], float], above: float, timeout: float = 240
) -> float:
    """Seconds from ``since`` (a time.monotonic()) until ``reading()`` exceeds ``above``, the worker alive.

    ``reading`` is :func:`count`, or the worker's own ``ascolto_docs_indexed_total`` when the test
    cannot ask Elasticsearch for a baseline (it is frozen or down).
    """

    def risen() -> bool:
        pipeline.assert_worker_alive()
        return reading() > above

    wait_for(risen, timeout=timeout, what=f"indexing to resume (above {above:.0f})", interval=0.1)
    return time.monotonic() - since


def indexed_count(pipeline: LocalPipeline) -> Callable[[], float]:
    """What :func:`wait_rising` reads: documents through the alias."""
    return lambda: count(pipeline)


def indexed_metric(pipeline: LocalPipeline) -> Callable[[], float]:
    """What :func:`wait_rising` reads: documents the worker had acknowledged by Elasticsearch."""
    return lambda: metric(pipeline, "ascolto_docs_indexed_total")


def metric(pipeline: LocalPipeline, name: str) -> float:
    """A worker metric's value (summed over its labels); 0 when it has no sample yet."""
    url = f"http://127.0.0.1:{pipeline.settings.metrics_port}/metrics"
    body = urllib.request.urlopen(url, timeout=10).read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in body.splitlines()
        if line.startswith(name) and line[len(name) : len(name) + 1] in (" ", "{")
    )


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
    with stack.pipeline(workdir, **{**scenario.settings, **settings}) as pipeline:
        try:
            return scenario.run(stack, pipeline, n)
        finally:
            stack.heal()  # before the pipeline's clean-up, which needs both servers
