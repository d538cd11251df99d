"""Elasticsearch goes away mid-stream and comes back: every post indexed exactly once, none lost,
and the worker holds back instead of buffering without bound meanwhile."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ascolto.metrics_reading import metric_total
from ascolto.testing import wait_for
from connectors.generator import GeneratorSource


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def stack(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "ascolto", "stack", *args], check=True, capture_output=True, timeout=300)


def test_outage_loses_nothing_duplicates_nothing_and_stays_bounded(pipeline):
    posts = list(GeneratorSource(count=3000, seed=99))
    before, during = posts[:1000], posts[1000:]
    pipeline.start_worker()
    pipeline.publish(before)
    pipeline.wait_count(len(before))
    port = pipeline.settings.metrics_port
    baseline_rss = rss_mib(pipeline.worker.pid)

    stack("down", "--only", "elasticsearch")
    try:
        pipeline.publish(during)  # Kafka keeps taking posts while the index is down
        # The worker notices, and keeps running while it waits.
        wait_for(lambda: metric_total(port, "ascolto_elasticsearch_up") == 0.0, timeout=120, what="ES marked down")
        enriched = wait_for(
            lambda: (
                metric_total(port, "ascolto_posts_enriched_total") >= len(posts)
                and metric_total(port, "ascolto_posts_enriched_total")
            ),
            timeout=120,
            what="all posts enriched while ES is down",
        )
        assert enriched == len(posts)
        indexed_while_down = metric_total(port, "ascolto_docs_indexed_total")
        pipeline.assert_worker_alive()
        outage_rss = rss_mib(pipeline.worker.pid)
    finally:
        stack("up", "--only", "elasticsearch")

    pipeline.wait_count(len(posts), timeout=300)
    assert indexed_while_down == len(before)  # nothing was acknowledged while ES was away
    # Bounded memory: the index agent stopped consuming instead of holding 2,000 posts in buffers
    # (a generous bound: interpreter, Faust and the client grow a little on their own).
    assert outage_rss - baseline_rss < 60, (baseline_rss, outage_rss)
    ids = [
        h["_id"] for h in pipeline.es.search(index=pipeline.settings.es_index, size=5000, source=False)["hits"]["hits"]
    ]
    assert len(ids) == len(set(ids)) == len(posts)
    assert metric_total(port, "ascolto_elasticsearch_up") == 1.0
