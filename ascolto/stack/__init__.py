"""The local embedded stack: real Kafka and Elasticsearch from Maven Central, no Docker.

``ascolto stack up|down|status`` drives :class:`LocalStack`; the server configuration
templates and the Maven pom live in ``deploy/local/``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ascolto.stack.elasticsearch import LocalElasticsearch
from ascolto.stack.kafka import LocalKafka
from ascolto.stack.prometheus import LocalPrometheus
from ascolto.stack.service import LocalService, ServiceStatus
from core.settings import Settings

__all__ = ["LocalStack", "ServiceStatus", "StartReport"]


@dataclass(frozen=True)
class StartReport:
    """What ``up`` did for one server and how long it took to become ready."""

    name: str
    started: bool
    seconds: float


class LocalStack:
    """Kafka and Elasticsearch together (and Prometheus when asked for); every operation is idempotent."""

    def __init__(self, settings: Settings, with_prometheus: bool = False) -> None:
        self.kafka = LocalKafka(settings)
        self.elasticsearch = LocalElasticsearch(settings)
        self.prometheus = LocalPrometheus(settings)
        self.with_prometheus = with_prometheus

    @property
    def services(self) -> list[LocalService]:
        """Kafka, Elasticsearch, and Prometheus when asked for or already running (so down and status see it)."""
        optional = [self.prometheus] if self.with_prometheus or self.prometheus.process.pid() is not None else []
        return [self.kafka, self.elasticsearch, *optional]

    def service(self, name: str) -> LocalService:
        return {s.name: s for s in [self.kafka, self.elasticsearch, self.prometheus]}[name]

    def up(self, only: str | None = None) -> list[StartReport]:
        """Provision and start what is not running, then wait until each answers a real request."""
        chosen = [self.service(only)] if only else self.services
        t0 = time.monotonic()
        # Launch everything first so the two JVMs boot in parallel, then wait on each.
        started = {s.name: s.ensure_started() for s in chosen}
        reports = []
        for svc in chosen:
            svc.wait_ready()
            reports.append(StartReport(svc.name, started[svc.name], time.monotonic() - t0))
        return reports

    def down(self, only: str | None = None) -> list[tuple[str, bool]]:
        chosen = [self.service(only)] if only else list(reversed(self.services))
        return [(s.name, s.down()) for s in chosen]

    def status(self) -> list[ServiceStatus]:
        return [s.status() for s in self.services]
