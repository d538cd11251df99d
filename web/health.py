"""``/healthz`` (the process answers) and ``/readyz`` (it can do its work) of the worker.

``/readyz`` is 200 only when Kafka answers a metadata request, Elasticsearch reports a yellow or
green cluster, and the worker's agents run (started, not crashed, not stuck rebalancing or
recovering); otherwise 503, with one sentence per failed check. Each probe's result is kept
:data:`PROBE_CACHE_SECONDS`, so a scraper asking many times a second costs Kafka and
Elasticsearch one request per probe in that time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import faust
from aiokafka import AIOKafkaClient
from elasticsearch import AsyncElasticsearch
from faust.web import Request, Response, View

from core.kafka_config import KafkaConnection
from core.settings import Settings

#: How long one probe's answer is reused.
PROBE_CACHE_SECONDS = 2.0
#: How long one probe may take before it counts as failed.
PROBE_TIMEOUT_SECONDS = 2.0
#: Rebalancing or recovering longer than this makes a worker not ready.
STUCK_AFTER_SECONDS = 60.0

#: A probe: None when fine, else one sentence saying what is wrong.
Probe = Callable[[], Awaitable[str | None]]


class CachedProbe:
    """A probe whose answer is reused for ``ttl`` seconds; concurrent callers share one run."""

    def __init__(self, probe: Probe, ttl: float = PROBE_CACHE_SECONDS, clock: Callable[[], float] = time.monotonic):
        self.probe = probe
        self.ttl = ttl
        self.clock = clock
        self._lock = asyncio.Lock()
        self._at: float | None = None
        self._answer: str | None = None

    async def __call__(self) -> str | None:
        async with self._lock:
            if self._at is None or self.clock() - self._at >= self.ttl:
                self._answer = await self.probe()
                self._at = self.clock()
            return self._answer


@dataclass(frozen=True)
class Readiness:
    """The named checks of ``/readyz``."""

    checks: Mapping[str, Probe]

    async def report(self) -> tuple[bool, dict[str, Any]]:
        """(ready, JSON body): every check's answer, ``ok`` or its sentence."""
        names = list(self.checks)
        answers = await asyncio.gather(*(self.checks[name]() for name in names))
        ready = all(answer is None for answer in answers)
        return ready, {"ready": ready, "checks": {n: a or "ok" for n, a in zip(names, answers, strict=True)}}


def kafka_probe(kafka: KafkaConnection, timeout: float = PROBE_TIMEOUT_SECONDS) -> Probe:
    """Kafka answers a metadata request (a TCP accept alone would miss a broker that hangs)."""

    async def probe() -> str | None:
        client = AIOKafkaClient(request_timeout_ms=int(timeout * 1000), **kafka.for_aiokafka())
        try:
            await asyncio.wait_for(client.bootstrap(), timeout)
            return None
        except Exception as exc:
            return f"Kafka at {','.join(kafka.brokers)} did not answer within {timeout:g} s ({type(exc).__name__})."
        finally:
            await client.close()

    return probe


def elasticsearch_probe(es: AsyncElasticsearch, where: str, timeout: float = PROBE_TIMEOUT_SECONDS) -> Probe:
    """Elasticsearch answers and its cluster is yellow or green."""
    client = es.options(request_timeout=timeout, max_retries=0)

    async def probe() -> str | None:
        try:
            health = await client.cluster.health(timeout=f"{max(int(timeout) - 1, 1)}s")
        except Exception as exc:
            return f"Elasticsearch at {where} did not answer within {timeout:g} s ({type(exc).__name__})."
        status = health.body.get("status")
        if status not in ("yellow", "green"):
            return f"Elasticsearch at {where} reports its cluster {status}: some shards cannot be written."
        return None

    return probe


def agents_probe(
    app: faust.App, stuck_after: float = STUCK_AFTER_SECONDS, clock: Callable[[], float] = time.monotonic
) -> Probe:
    """The Faust app started, no agent crashed, and no rebalance or recovery lasts longer than ``stuck_after``."""
    busy_since: list[float | None] = [None]

    async def probe() -> str | None:
        if not app.started:
            return "The worker's stream app has not started yet."
        crashed = sorted(str(agent.name) for agent in app.agents.values() if agent.crashed)
        if crashed:
            return f"The worker's agent(s) {', '.join(crashed)} crashed; see the worker's log."
        if app.rebalancing or getattr(app, "in_recovery", False):
            since = busy_since[0] = busy_since[0] or clock()
            if clock() - since > stuck_after:
                return f"The worker has been rebalancing or recovering for more than {stuck_after:g} s."
        else:
            busy_since[0] = None
        return None

    return probe


def readiness_of(app: faust.App, es: AsyncElasticsearch, settings: Settings) -> Readiness:
    """The worker's readiness: Kafka, Elasticsearch, agents, each probe cached."""
    return Readiness(
        {
            "kafka": CachedProbe(kafka_probe(KafkaConnection.from_settings(settings))),
            "elasticsearch": CachedProbe(elasticsearch_probe(es, settings.es_url_safe)),
            "agents": agents_probe(app),  # in memory: nothing to cache
        }
    )


def add_health(app: faust.App, readiness: Readiness) -> None:
    """Register ``/healthz`` and ``/readyz`` on the worker's web server; neither needs the API token."""

    @app.page("/healthz")
    class Healthz(View):
        """Alive: the process answers."""

        async def get(self, request: Request) -> Response:
            return self.json({"alive": True})

    @app.page("/readyz")
    class Readyz(View):
        """Ready: Kafka and Elasticsearch answer and the agents run (503 with the reasons otherwise)."""

        async def get(self, request: Request) -> Response:
            ready, body = await readiness.report()
            return self.json(body, status=200 if ready else 503)
