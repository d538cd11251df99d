"""``ascolto worker``: the Faust worker running the enrich and index agents."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from ascolto.stack.process import ManagedProcess
from core.errors import AscoltoError
from core.settings import Settings, get_settings


def worker(
    log_level: Annotated[
        str | None, typer.Option(help="debug, info, warning or error (default ASCOLTO_LOG_LEVEL).")
    ] = None,
) -> None:
    """Run the stream worker in the foreground until Ctrl-C (SIGTERM stops it cleanly too)."""
    import faust

    from core.kafka import ensure_topics
    from streams.app import create_app

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(settings)  # an unusable enricher configuration fails here, before any I/O
    ensure_topics(settings)  # fails with one clear sentence when Kafka is down
    if settings.metrics_port:
        serve_metrics(settings.metrics_port, settings.metrics_bind)
    faust.Worker(app, loglevel=log_level or settings.log_level).execute_from_commandline()


def serve_metrics(port: int, bind: str) -> None:
    """Prometheus /metrics for this process, or one sentence when the port is taken."""
    from prometheus_client import start_http_server

    try:
        start_http_server(port, addr=bind)
    except OSError as exc:
        raise AscoltoError(
            f"Cannot serve metrics on {bind}:{port} ({exc.strerror}); choose a free port, or 0 to disable."
        ) from None


def _background(settings: Settings) -> ManagedProcess:
    return ManagedProcess("worker", settings.stack_dir / "worker", marker="ascolto worker")


def start_background_worker(settings: Settings) -> tuple[ManagedProcess, bool]:
    """Start ``ascolto worker`` detached (for the demo) unless one runs; returns it and whether it started."""
    import os

    proc = _background(settings)
    if proc.pid() is not None:
        return proc, False
    proc.start([sys.executable, "-m", "ascolto", "worker"], env=dict(os.environ), cwd=settings.stack_dir)
    return proc, True


def stop_background_worker(settings: Settings) -> bool:
    """Stop the demo's background worker; False when none was running."""
    return _background(settings).stop(timeout=30)
