"""Integration fixtures: the real local stack (started by `ascolto stack up` / .ci/run), one isolated
pipeline per test (own topics, index, consumer group), and a real worker process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch
from kafka import KafkaAdminClient, KafkaConsumer

from ascolto.es import es_client
from ascolto.settings import Settings
from ascolto.stack import LocalStack
from ascolto.topics import TopicNames, ensure_topics, kafka_client_config
from tests.conftest import wait_for

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session", autouse=True)
def stack_is_up() -> None:
    """Integration tests need the real servers; say how to get them rather than skipping."""
    settings = Settings()
    down = (
        [s.name for s in LocalStack(settings).status() if not s.ready]
        if settings.es_url.startswith("http://127.0.0.1")
        else []
    )
    if down:
        pytest.fail(f"local {', '.join(down)} not running: start it with `ascolto stack up` (or run `bash .ci/run`)")


@dataclass
class Pipeline:
    """One isolated deployment on the shared stack."""

    env: dict[str, str]
    settings: Settings
    tmp: Path
    worker: subprocess.Popen | None = None
    worker_log: Path | None = None
    _es: Elasticsearch | None = field(default=None, repr=False)

    @property
    def topics(self) -> TopicNames:
        return TopicNames.of(self.settings)

    @property
    def es(self) -> Elasticsearch:
        if self._es is None:
            self._es = es_client(self.settings)
        return self._es

    def cli(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [sys.executable, "-m", "ascolto", *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if check and result.returncode != 0:
            raise AssertionError(f"ascolto {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    def start_worker(self) -> None:
        self.worker_log = self.tmp / "worker.log"
        with self.worker_log.open("wb") as log:
            self.worker = subprocess.Popen(
                [sys.executable, "-m", "ascolto", "worker"], env=self.env, stdout=log, stderr=subprocess.STDOUT
            )

    def assert_worker_alive(self) -> None:
        assert self.worker is not None and self.worker.poll() is None, f"worker died; log:\n{self.log_tail()}"

    def log_tail(self) -> str:
        return self.worker_log.read_text(errors="replace")[-4000:] if self.worker_log else ""

    def count(self, query: dict | None = None) -> int:
        self.es.indices.refresh(index=self.settings.es_index, ignore_unavailable=True)
        return int(
            self.es.count(index=self.settings.es_index, query=query or {"match_all": {}}, ignore_unavailable=True)[
                "count"
            ]
        )

    def wait_count(self, expected: int, query: dict | None = None, timeout: float = 180) -> None:
        def check() -> bool:
            self.assert_worker_alive()
            return self.count(query) == expected

        wait_for(check, timeout=timeout, what=f"{expected} documents in {self.settings.es_index}", interval=0.5)

    def consume(self, topic: str, expected: int, timeout: float = 120) -> list:
        consumer = KafkaConsumer(
            topic,
            **kafka_client_config(self.settings),
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            fetch_max_bytes=64 * 1024 * 1024,
            max_partition_fetch_bytes=32 * 1024 * 1024,
        )
        records: list = []
        try:

            def check() -> bool:
                for batch in consumer.poll(timeout_ms=500).values():
                    records.extend(batch)
                return len(records) >= expected

            wait_for(check, timeout=timeout, what=f"{expected} records on {topic}", interval=0)
            records.extend(r for b in consumer.poll(timeout_ms=1000).values() for r in b)  # anything extra?
        finally:
            consumer.close()
        return records


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[Pipeline]:
    uid = uuid.uuid4().hex[:10]
    overrides = {
        "ASCOLTO_TOPIC_PREFIX": f"test-{uid}.",
        "ASCOLTO_ES_INDEX": f"test-{uid}-posts",
        "ASCOLTO_APP_ID": f"test-{uid}",
        "ASCOLTO_WEB_PORT": "0",
        "ASCOLTO_METRICS_PORT": str(free_port()),
        "ASCOLTO_DATA_DIR": str(tmp_path / "data"),
        "ASCOLTO_INDEX_BATCH_SECONDS": "0.5",
    }
    env = {**os.environ, **overrides}
    settings = Settings(**{k.removeprefix("ASCOLTO_").lower(): v for k, v in overrides.items()})
    ensure_topics(settings)
    p = Pipeline(env, settings, tmp_path)
    yield p
    if p.worker is not None:
        p.worker.terminate()
        try:
            p.worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.worker.kill()
    p.es.indices.delete(index=f"{settings.es_index}*", ignore_unavailable=True, allow_no_indices=True)
    p.es.options(ignore_status=404).indices.delete_index_template(name=settings.es_index)
    p.es.close()
    admin = KafkaAdminClient(**kafka_client_config(settings))
    try:
        # Our four topics plus Faust's internal ones, all named after this test's id.
        mine = [t for t in admin.list_topics() if t.startswith(f"test-{uid}")]
        if mine:
            admin.delete_topics(mine)
    finally:
        admin.close()
