"""The demo's counter readings: summed over the worker's processes, a silent process counting as nothing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from wsgiref.simple_server import WSGIServer, make_server

import pytest
from prometheus_client import CollectorRegistry, Counter, make_wsgi_app

from ascolto.cli.demo_cmd import _metric_total
from ascolto.launcher import WorkerStatus
from ascolto.testing import free_port


def _serve(port: int, late: float) -> WSGIServer:
    registry = CollectorRegistry()
    counter = Counter("t_late_posts", "late posts", ["rule"], registry=registry)
    counter.labels("a").inc(late)
    counter.labels("b").inc(1)
    server: WSGIServer = make_server("127.0.0.1", port, make_wsgi_app(registry))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class _Worker:
    """What ``_metric_total`` asks of a BackgroundWorker: its status and whether it runs."""

    def __init__(self, metrics_port: int, processes: int) -> None:
        self.metrics_port, self.processes = metrics_port, processes

    def status(self) -> WorkerStatus:
        return WorkerStatus(1, 0, self.metrics_port, Path("log"), True, self.processes)

    def pid(self) -> int:
        return 1


@pytest.fixture
def two_processes() -> Iterator[int]:
    """Two /metrics endpoints on consecutive ports, as ``--processes 2`` has them."""
    for _ in range(20):
        port = free_port()
        first = _serve(port, 3)
        try:
            servers = [first, _serve(port + 1, 4)]
        except OSError:  # port + 1 taken: try another pair
            first.shutdown()
            first.server_close()
            continue
        yield port
        for server in servers:
            server.shutdown()
            server.server_close()
        return
    pytest.skip("no two consecutive free ports")


def test_a_counter_is_summed_over_the_processes_and_narrowed_by_labels(two_processes: int) -> None:
    worker = _Worker(two_processes, 2)
    assert _metric_total(worker, "t_late_posts") == 3 + 4 + 2  # type: ignore[arg-type]
    assert _metric_total(worker, "t_late_posts", rule="a") == 3 + 4  # type: ignore[arg-type]


def test_a_process_that_does_not_answer_counts_as_nothing() -> None:
    assert _metric_total(_Worker(free_port(), 2), "t_late_posts") == 0  # type: ignore[arg-type]
