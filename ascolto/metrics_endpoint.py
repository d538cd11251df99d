"""The Prometheus ``/metrics`` endpoint of a worker or connector process."""

from __future__ import annotations

import atexit
import os
import re
from pathlib import Path

import orjson
import psutil
from prometheus_client import start_http_server

from core.errors import AscoltoError
from core.settings import Settings

_TARGET_FILE = re.compile(r"connector-(\d+)\.json")


def serve_metrics(port: int, bind: str) -> None:
    """Serve /metrics for this process from a background thread, or one sentence when the port is taken."""
    try:
        start_http_server(port, addr=bind)
    except OSError as exc:
        raise AscoltoError(
            f"Cannot serve metrics on {bind}:{port} ({exc.strerror}); choose a free port, or 0 to disable."
        ) from None


def serve_connector_metrics(port: int, settings: Settings) -> Path | None:
    """Serve a connector's /metrics and, when the local stack runs Prometheus (`ascolto stack up
    --with-prometheus`), register it as a scrape target until this process exits; the target file, or None."""
    serve_metrics(port, settings.metrics_bind)
    return register_scrape_target(port, settings)


def register_scrape_target(port: int, settings: Settings) -> Path | None:
    """Write ``<stack>/prometheus/targets/connector-<pid>.json`` (Prometheus re-reads that folder by itself)
    and remove it at exit; files of connectors that died without removing theirs are removed first.
    Nothing is written when the stack's Prometheus was never set up."""
    from ascolto.stack.prometheus import LocalPrometheus  # only connectors need it, not the worker

    targets = LocalPrometheus(settings).targets_dir
    if not targets.is_dir():
        return None
    for stale in targets.glob("connector-*.json"):
        match = _TARGET_FILE.fullmatch(stale.name)
        if match and not psutil.pid_exists(int(match.group(1))):
            stale.unlink(missing_ok=True)
    host = settings.metrics_bind
    if host in ("", "0.0.0.0", "::", "localhost"):  # listening everywhere: loopback reaches it
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    path = targets / f"connector-{os.getpid()}.json"
    partial = path.with_suffix(".tmp")  # Prometheus reads only *.json: it never sees a half-written file
    partial.write_bytes(orjson.dumps([{"targets": [f"{host}:{port}"]}]))
    partial.replace(path)
    atexit.register(path.unlink, missing_ok=True)
    return path
