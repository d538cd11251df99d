"""The worker, assembled: the stream app (enrich and index agents) plus its HTTP API, health probes and /metrics.

``streams`` knows nothing of ``web``: the two meet here, sharing one Elasticsearch client.
"""

from __future__ import annotations

import logging
from typing import Any

import faust
import mode.loop
from mode.types.signals import BaseSignalT  # the signal handler type Faust's signals check against

from ascolto.log_limits import KafkaOutageNotice, RepeatLimiter, brokers_accept
from ascolto.metrics_endpoint import serve_metrics
from core.kafka import ensure_topics
from core.settings import Settings
from elastic.client import async_es_client
from streams.app import create_app
from web.access import lock_down
from web.api import add_api
from web.console import add_console
from web.health import add_health, readiness_of


def build_worker_app(settings: Settings) -> faust.App:
    """The Faust app of ``ascolto worker``; an unusable enricher configuration, or a web server bound
    beyond this machine without ASCOLTO_API_TOKEN, fails here, before any I/O."""
    # One client for indexing, the API and the readiness probe; it connects on first use.
    es = async_es_client(settings)
    app = create_app(settings, es)
    lock_down(app, settings)  # before any page is added: the guard is part of the web server's setup
    readiness = readiness_of(app, es, settings)
    add_health(app, readiness)
    add_console(app, add_api(app, es, settings), es, settings, readiness)

    @app.on_before_shutdown.connect
    async def close_es(sender: Any, /, *args: Any, signal: BaseSignalT[Any], **kwargs: Any) -> None:
        await es.close()

    return app


def use_uvloop() -> bool:
    """Make uvloop this process's event loop where it is installed (every platform but Windows):
    Faust's per-event path and the Kafka clients take a quarter less CPU on it. Call it before
    anything creates a loop; True when it took effect."""
    try:
        mode.loop.use("uvloop")
    except ImportError:
        return False
    return True


def run_worker(settings: Settings, log_level: str | None = None) -> None:
    """Run the worker in this process until SIGTERM or Ctrl-C."""
    use_uvloop()  # first: the app and its clients take the loop of the policy in force
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = build_worker_app(settings)
    ensure_topics(settings)  # fails with one clear sentence when Kafka is down
    if settings.metrics_port:
        serve_metrics(settings.metrics_port, settings.metrics_bind)
    notice = KafkaOutageNotice(settings.kafka_brokers, settings.log_repeat_seconds)

    @app.task
    async def kafka_outage_watch() -> None:
        await notice.watch(lambda: brokers_accept(settings.broker_list))

    filters = [notice, RepeatLimiter(settings.log_repeat_seconds)]
    Worker(app, log_filters=filters, loglevel=log_level or settings.log_level).execute_from_commandline()


class Worker(faust.Worker):
    """Faust's worker, with filters on the log handlers it sets up (they do not exist before)."""

    def __init__(self, app: faust.App, *, log_filters: list[logging.Filter], **kwargs: Any) -> None:
        self._log_filters = log_filters
        super().__init__(app, **kwargs)

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        super().on_setup_root_logger(logger, level)
        # On the handlers, not on loggers: a logger's filters miss what its children propagate.
        for handler in logger.handlers:
            for log_filter in self._log_filters:
                handler.addFilter(log_filter)
