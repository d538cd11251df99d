"""Reading /metrics: a counter summed over labels, with or without _total, and only the labels asked for."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from wsgiref.simple_server import WSGIServer, make_server

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, make_wsgi_app

from ascolto.metrics_reading import metric_total, samples_of, scrape
from ascolto.testing import free_port


@pytest.fixture
def port() -> Iterator[int]:
    registry = CollectorRegistry()
    letters = Counter("t_dead_letters", "dead letters", ["stage"], registry=registry)
    letters.labels("enrich").inc(3)
    letters.labels("index").inc(2)
    Gauge("t_lag", "lag", registry=registry).set(7)
    server: WSGIServer = make_server("127.0.0.1", 0, make_wsgi_app(registry))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_port
    server.shutdown()
    server.server_close()


def test_a_counter_sums_over_labels_and_a_label_narrows_it(port: int) -> None:
    assert metric_total(port, "t_dead_letters_total") == 5
    assert metric_total(port, "t_dead_letters") == 5  # the family name: not its _created samples
    assert metric_total(port, "t_dead_letters", stage="index") == 2
    assert metric_total(port, "t_lag") == 7
    assert metric_total(port, "t_missing") == 0


def test_samples_keep_their_labels(port: int) -> None:
    by_stage = {s.labels["stage"]: s.value for s in samples_of(scrape(port), "t_dead_letters")}
    assert by_stage == {"enrich": 3, "index": 2}


def test_nothing_listening_is_an_os_error() -> None:
    with pytest.raises(OSError):
        scrape(free_port(), timeout=2)
