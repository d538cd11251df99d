"""The Prometheus ``/metrics`` endpoint of a worker or connector process."""

from __future__ import annotations

from prometheus_client import start_http_server

from core.errors import AscoltoError


def serve_metrics(port: int, bind: str) -> None:
    """Serve /metrics for this process from a background thread, or one sentence when the port is taken."""
    try:
        start_http_server(port, addr=bind)
    except OSError as exc:
        raise AscoltoError(
            f"Cannot serve metrics on {bind}:{port} ({exc.strerror}); choose a free port, or 0 to disable."
        ) from None
