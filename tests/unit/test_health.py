"""Readiness: each check's sentence, the probe cache, the Elasticsearch and Kafka probes on closed ports."""

from __future__ import annotations

import asyncio
import os

import orjson

from ascolto import launcher
from ascolto.testing import free_port, wait_for
from core.kafka_config import KafkaConnection
from core.settings import Settings
from elastic.client import async_es_client
from tests.unit.test_launcher import _fake_worker
from web.addresses import ask_readiness
from web.health import CachedProbe, Readiness, elasticsearch_probe, kafka_probe


def test_ready_only_when_every_check_passes():
    async def ok() -> str | None:
        return None

    async def es_down() -> str | None:
        return "Elasticsearch at http://es:9200 did not answer within 2 s (ConnectionError)."

    ready, body = asyncio.run(Readiness({"kafka": ok, "elasticsearch": ok}).report())
    assert ready and body == {"ready": True, "checks": {"kafka": "ok", "elasticsearch": "ok"}}
    ready, body = asyncio.run(Readiness({"kafka": ok, "elasticsearch": es_down}).report())
    assert not ready
    assert body["checks"] == {"kafka": "ok", "elasticsearch": asyncio.run(es_down())}


def test_a_probe_runs_once_per_cache_period():
    calls = 0
    now = [100.0]

    async def probe() -> str | None:
        nonlocal calls
        calls += 1
        return None

    cached = CachedProbe(probe, ttl=2.0, clock=lambda: now[0])

    async def ask(times: int) -> None:
        await asyncio.gather(*(cached() for _ in range(times)))

    asyncio.run(ask(50))
    assert calls == 1
    now[0] += 1.9
    asyncio.run(ask(5))
    assert calls == 1
    now[0] += 0.2
    asyncio.run(ask(5))
    assert calls == 2


def test_unreachable_elasticsearch_is_one_sentence_without_credentials():
    settings = Settings(es_url="http://elastic:s3cret@127.0.0.1:9", es_password="hunter2")

    async def main() -> str | None:
        client = async_es_client(settings)
        try:
            return await elasticsearch_probe(client, settings.es_url_safe, timeout=1)()
        finally:
            await client.close()

    sentence = asyncio.run(main())
    assert sentence is not None and sentence.startswith("Elasticsearch at http://***@127.0.0.1:9 did not answer")
    assert "s3cret" not in sentence and "hunter2" not in sentence


def test_unreachable_kafka_is_one_sentence():
    sentence = asyncio.run(kafka_probe(KafkaConnection.from_settings(Settings(kafka_brokers="127.0.0.1:9")), 1)())
    assert sentence is not None and sentence.startswith("Kafka at 127.0.0.1:9 did not answer within 1 s")


def test_stack_status_shows_why_the_worker_is_not_ready(tmp_path):
    not_ready = orjson.dumps(
        {"ready": False, "checks": {"kafka": "ok", "elasticsearch": "Elasticsearch at http://x did not answer."}}
    ).decode()
    port = free_port()
    proc = _fake_worker(tmp_path, port, readyz=not_ready, status=503)
    try:
        url = f"http://127.0.0.1:{port}/readyz"
        wait_for(lambda: launcher.answers(url), timeout=30, what="the fake worker")
        assert ask_readiness(url) == (False, ["Elasticsearch at http://x did not answer."])
        env = {**os.environ, "ASCOLTO_STACK_DIR": str(tmp_path), "COLUMNS": "250"}
        out = launcher.run(["stack", "status"], env=env, timeout=60)
        [row] = [line for line in out.stderr.splitlines() if "worker" in line and str(proc.pid()) in line]
        assert "│ no " in row
        assert "worker not ready: Elasticsearch at http://x did not answer." in out.stderr
    finally:
        proc.stop(timeout=5)
