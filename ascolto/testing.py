"""Test helpers for people extending ascolto: run an enricher in isolation, or a whole isolated
pipeline (own topics, index and consumer group) on the real local stack.

    from ascolto.testing import make_post, run_enricher, LocalPipeline

    def test_question_flag():
        assert run_enricher("my_pkg.enrichers:question", "Quando riapre lo sportello?")["asks_question"]

    def test_question_flag_through_kafka():
        with LocalPipeline(enrichers="language,sentiment,my_pkg.enrichers:question") as pipeline:
            pipeline.start_worker()
            pipeline.publish([make_post("Quando riapre lo sportello?")])
            [post] = pipeline.read_enriched(1)
            assert post["asks_question"] is True

The second needs ``ascolto stack up``. Nothing here is a fake: the worker is a real process.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar, cast

import orjson
from elasticsearch import ApiError
from kafka import KafkaAdminClient, KafkaConsumer

from ascolto import launcher
from connectors.live import Backoff, Checkpoint, CheckpointStore, LiveReport, LiveSource, run_live
from connectors.producer import PostProducer
from core.kafka import TopicNames, ensure_topics, kafka_client_config
from core.settings import Settings
from elastic.client import async_es_client, es_client
from elastic.lifecycle import PostsIndex
from schemas import EnrichedPost, RawPost, new_alert, raw_post
from streams.enrichers import EnrichmentChain

T = TypeVar("T")


def make_post(text: str, **fields: Any) -> RawPost:
    """A valid RawPost for ``text``, built like a connector builds one; any field can be overridden.

    ``native_id`` defaults to a hash of the text and ``source`` to ``test``; the id follows them.
    Other fields are set as given, unchecked, so a test can also make an invalid post.
    """
    native_id = fields.pop("native_id", hashlib.sha1(text.encode("utf-8")).hexdigest()[:16])
    post = raw_post(source=fields.pop("source", "test"), native_id=native_id, text=text, handle="tester")
    cast(dict[str, Any], post).update(fields)
    return post


def make_alert(**fields: Any) -> dict[str, Any]:
    """A valid firing Alert v1 (negative posts about billing, in English, five long samples); any field can be
    overridden, unchecked, as in :func:`make_post`. For the notifier's messages and channels."""
    alert: dict[str, Any] = {
        "rule": "billing_negative",
        "key": "billing",
        "key_kind": "topic",
        "kind": "negative_spike",
        "status": "firing",
        "language": "en",
        "summary": "negative posts about billing: 48 in 10 min, usually 5 ± 2, 9.6×",
        "severity": "critical",
        "window_start": "2026-05-04T10:00:00Z",
        "window_end": "2026-05-04T10:10:00Z",
        "metric": "negative",
        "observed": 48.0,
        "baseline": 5.0,
        "score": 9.6,
        "total": 60,
        "negative": 48,
        "share_negative": 0.8,
        "top_terms": [{"term": "#fattura", "count": 30}],
        "sample_post_ids": [f"test:p{i}" for i in range(5)],
        "samples": [{"id": f"test:p{i}", "text": f"post {i} " + "x" * 400, "author": f"user{i}"} for i in range(5)],
        "search": {"cli": "ascolto search --topic billing", "url": "http://127.0.0.1:6066/api/search?topic=billing"},
        "created_at": "2026-05-04T10:10:05Z",
    }
    return dict(new_alert(**{**alert, **fields}))  # the id from rule, key and window unless one is given


def run_enricher(
    name: str, text_or_post: str | RawPost, *, before: Iterable[str] = ("language", "sentiment"), **settings: Any
) -> EnrichedPost:
    """Enrich one post with the built-in enrichers in ``before`` plus ``name`` (any name the worker accepts)."""
    post = make_post(text_or_post) if isinstance(text_or_post, str) else text_or_post
    chain = EnrichmentChain.from_names([*before, name], Settings(**settings))
    return chain.enrich(post)


def wait_for(check: Callable[[], T], *, timeout: float, what: str, interval: float = 0.25) -> T:
    """Call ``check`` until it returns something truthy; AssertionError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: T = check()
    while not last:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")
        time.sleep(interval)
        last = check()
    return last


async def wait_until(check: Callable[[], object], what: str, timeout: float = 60.0) -> None:
    """The asyncio twin of :func:`wait_for`: poll ``check`` (cheap, non-blocking) until it is truthy."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, f"timed out after {timeout:.0f}s waiting for {what}"
        await asyncio.sleep(0.05)


async def publish_live(
    settings: Settings,
    source: LiveSource,
    store: CheckpointStore,
    *,
    done: Callable[[Checkpoint], object] | None = None,
    during: Callable[[], Awaitable[None]] | None = None,
    timeout: float = 60.0,
) -> LiveReport:
    """Run a live source with ``run_live`` and a real producer until it ends, or until its saved checkpoint
    satisfies ``done`` (a checkpoint is saved only once Kafka acknowledged everything before it), then stop
    it. ``during`` runs alongside. A source that raises (refused, say) raises here; one that ends before
    ``done`` holds fails the caller's test."""
    stop = asyncio.Event()
    with PostProducer(settings, stage=f"connector:{source.name}") as producer:
        task = asyncio.create_task(
            run_live(source, producer, store, stop=stop, backoff=Backoff(initial=0.05, rng=random.Random(3)))
        )
        try:
            if during is not None:
                await during()
            if done is not None:
                await wait_until(lambda: task.done() or done(store.load()), f"{source.name}'s checkpoint", timeout)
                stop.set()
            report = await asyncio.wait_for(task, timeout=timeout)
            assert done is None or done(store.load()), f"{source.name} ended before its checkpoint was done"
            return report
        finally:
            stop.set()
            if not task.done():
                task.cancel()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def remove_deployment(settings: Settings, topic_prefix: str) -> None:
    """Delete what a throw-away deployment left: its posts indices, templates, and the Kafka topics
    (ours and Faust's internal ones) whose names start with ``topic_prefix``."""
    alias = settings.es_index
    es = es_client(settings)
    try:
        es.indices.delete(index=f"{alias}-*", ignore_unavailable=True, allow_no_indices=True)
        es.indices.delete(index=f"{settings.es_alerts_index}*", ignore_unavailable=True, allow_no_indices=True)
        quiet = es.options(ignore_status=404)
        quiet.indices.delete_index_template(name=alias)
        quiet.indices.delete_index_template(name=settings.es_alerts_index)
        quiet.cluster.delete_component_template(name=f"{settings.es_alerts_index}@mappings")
        for component in ("settings", "mappings"):
            quiet.cluster.delete_component_template(name=f"{alias}@{component}")
    finally:
        es.close()
    admin = KafkaAdminClient(**kafka_client_config(settings))
    try:
        mine = [t for t in admin.list_topics() if t.startswith(topic_prefix)]
        if mine:
            admin.delete_topics(mine)
    finally:
        admin.close()


def bootstrap_posts_index(settings: Settings) -> str:
    """Install the templates and the write alias of a throw-away deployment; returns the write index."""

    async def bootstrap() -> str:
        client = async_es_client(settings)
        try:
            posts = PostsIndex(client, settings)
            await posts.bootstrap()
            return posts.write_index.name
        finally:
            await client.close()

    return asyncio.run(bootstrap())


class LocalPipeline:
    """An isolated deployment on the running stack: unique topic prefix, index and consumer group.

    Use as a context manager; on exit the worker stops and the topics, index and template go.
    """

    def __init__(self, workdir: Path | None = None, **settings: str) -> None:
        self.uid = uuid.uuid4().hex[:10]
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="ascolto-test-"))
        overrides = {
            "topic_prefix": f"test-{self.uid}.",
            "es_index": f"test-{self.uid}-posts",
            "es_alerts_index": f"test-{self.uid}-alerts",
            "app_id": f"test-{self.uid}",
            "web_port": str(free_port()),
            "metrics_port": str(free_port()),
            "data_dir": str(self.workdir / "data"),
            "index_batch_seconds": "0.5",
            **{k: str(v) for k, v in settings.items()},
        }
        self.overrides = overrides
        # The worker must import what this process can (a plugin under test, for one).
        self.env = launcher.child_env(overrides)
        self.settings = launcher.settings_of(self.env)
        self.topics = TopicNames.of(self.settings)
        self.worker: launcher.ChildProcess | None = None
        self.worker_log = self.workdir / "worker.log"
        self._es: Any = None

    # --- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> LocalPipeline:
        ensure_topics(self.settings)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def start_worker(self) -> None:
        """Start ``ascolto worker`` for this pipeline as a separate process; returns once its API answers."""
        self.worker = launcher.start_worker(self.overrides, log_file=self.worker_log, env=self.env)

    def stop_worker(self) -> None:
        if self.worker is not None:
            self.worker.stop()

    def assert_worker_alive(self) -> None:
        assert self.worker is not None and self.worker.running(), f"worker died; log:\n{self.log_tail()}"

    def log_tail(self, chars: int = 4000) -> str:
        return self.worker.log_tail(chars) if self.worker is not None else ""

    def close(self) -> None:
        self.stop_worker()
        if self._es is not None:
            self._es.close()
        remove_deployment(self.settings, f"test-{self.uid}")

    # --- talking to it -----------------------------------------------------------------------
    @property
    def es(self) -> Any:
        if self._es is None:
            self._es = es_client(self.settings)
        return self._es

    def cli(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run ``ascolto ARGS`` against this pipeline."""
        result = launcher.run(args, env=self.env, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"ascolto {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    def publish(self, posts: Iterable[RawPost]) -> int:
        """Publish posts with the connectors' producer; returns how many were sent as posts."""
        with PostProducer(self.settings, stage="connector:test") as producer:
            return sum(1 for p in posts if producer.publish(p))

    def read(self, topic: str, expected: int, timeout: float = 120) -> list[Any]:
        """Records of ``topic`` from the beginning until ``expected`` have arrived (then a last short poll)."""
        consumer = KafkaConsumer(
            topic,
            **kafka_client_config(self.settings),
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            fetch_max_bytes=64 * 1024 * 1024,
            max_partition_fetch_bytes=32 * 1024 * 1024,
        )
        records: list[Any] = []
        try:

            def enough() -> bool:
                for batch in consumer.poll(timeout_ms=500).values():
                    records.extend(batch)
                return len(records) >= expected

            wait_for(enough, timeout=timeout, what=f"{expected} records on {topic}", interval=0)
            records.extend(r for b in consumer.poll(timeout_ms=1000).values() for r in b)
        finally:
            consumer.close()
        return records

    def read_enriched(self, expected: int, timeout: float = 120) -> list[EnrichedPost]:
        return [orjson.loads(r.value) for r in self.read(self.topics.enriched, expected, timeout)]

    def read_dead_letters(self, expected: int, timeout: float = 120) -> list[dict[str, Any]]:
        return [orjson.loads(r.value) for r in self.read(self.topics.dlq, expected, timeout)]

    def count(self, query: dict[str, Any] | None = None) -> int:
        """Documents in this pipeline's index (after a refresh, as a search would see them)."""
        self.es.indices.refresh(index=self.settings.es_index, ignore_unavailable=True)
        resp = self.es.count(index=self.settings.es_index, query=query or {"match_all": {}}, ignore_unavailable=True)
        return int(resp["count"])

    def wait_count(self, expected: int, query: dict[str, Any] | None = None, timeout: float = 180) -> None:
        """Wait until exactly ``expected`` documents match, checking the worker stays alive."""

        def check() -> bool:
            self.assert_worker_alive()
            try:
                return self.count(query) == expected
            except ApiError as exc:
                if exc.meta.status == 503:  # a new backing index whose shard is still starting
                    return False
                raise

        wait_for(check, timeout=timeout, what=f"{expected} documents in {self.settings.es_index}", interval=0.5)
