"""Reading a running process's Prometheus ``/metrics``: what the demo, the benches and the tests check.

``metric_total(port, "ascolto_docs_indexed_total")`` sums the samples of that name over their labels
(or over those matching ``**labels``); a counter may be named with or without its ``_total``.
"""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample


def scrape(port: int, host: str = "127.0.0.1", timeout: float = 10.0) -> list[Sample]:
    """Every sample ``http://host:port/metrics`` shows now (raises OSError when nothing answers)."""
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=timeout) as response:
        text = response.read().decode()
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def samples_of(samples: list[Sample], name: str, **labels: str) -> list[Sample]:
    """The samples named ``name`` (a counter's ``_total`` sample when it is named without) with these labels."""
    names = (name, name + "_total")  # never the counter's ``_created`` timestamp
    return [s for s in samples if s.name in names and all(s.labels.get(k) == v for k, v in labels.items())]


def metric_total(port: int, name: str, host: str = "127.0.0.1", timeout: float = 10.0, **labels: str) -> float:
    """The sum of a metric's samples with these labels on one process's /metrics; 0 when it has none yet."""
    return sum(s.value for s in samples_of(scrape(port, host, timeout), name, **labels))
