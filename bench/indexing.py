"""Indexer throughput against the machine's limit (prints figures only).

    python bench/indexing.py [--docs 50000] [--batch-size 1000] [--parallel 2]

Side by side, in one run, on the real local stack, with the same N pre-enriched documents:

1. **direct**: elasticsearch-py's ``parallel_bulk`` from this process straight into Elasticsearch
   (the limit for this machine);
2. **pipeline**: the documents sit in a ``posts.enriched`` topic, keyed by post id and with the
   headers the enrich agent sends (``created_at`` among them), and a real ``ascolto worker``
   consumes and indexes them (batching, routing, retries, offsets).

Both rates are measured the same way, from the first to the last ``indexed_at`` stamp, so start-up
is left out. Rates move with the neighbours' load; CPU per document barely does, so it is reported
too: this process's during ``parallel_bulk``, and the worker's (psutil, the process and its
children) between the first documents showing up and the last. Each side uses its own alias,
removed afterwards.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

import psutil
from cpu import tree_cpu
from elasticsearch.helpers import parallel_bulk
from kafka import KafkaProducer

from ascolto import launcher
from ascolto.testing import bootstrap_posts_index, free_port, remove_deployment
from connectors.generator import GeneratorSource
from core.kafka import ensure_topics, kafka_client_config
from core.settings import Settings
from elastic.client import es_client
from schemas import dumps, now_rfc3339
from schemas.wire import enriched_post_headers
from streams.enrichers.chain import chain_from_settings


def enriched_docs(n: int) -> list[dict]:
    chain = chain_from_settings(Settings())
    return [chain.enrich(p) for p in GeneratorSource(count=n, seed=7)]


def span_rate(es, index: str, n: int) -> float:
    """Documents per second between the first and the last indexed_at in ``index``."""
    es.indices.refresh(index=index)
    aggs = es.search(
        index=index, size=0, aggs={"a": {"min": {"field": "indexed_at"}}, "b": {"max": {"field": "indexed_at"}}}
    )
    first, last = aggs["aggregations"]["a"]["value"], aggs["aggregations"]["b"]["value"]
    return n / max((last - first) / 1000, 1e-3)


def wait_count(es, index: str, n: int, worker: launcher.ChildProcess | None = None) -> float | None:
    """Wait until ``index`` holds ``n`` documents; with a worker, its CPU µs per document meanwhile
    (from the first poll that saw documents to the last, so start-up is left out)."""
    proc = psutil.Process(worker.pid) if worker is not None else None
    first: tuple[int, float] | None = None
    while True:
        es.indices.refresh(index=index)
        count = es.count(index=index)["count"]
        cpu = tree_cpu(proc.pid) if proc is not None else 0.0
        if first is None and count > 0:
            first = (count, cpu)
        if count >= n:
            if proc is None or first is None or count == first[0]:
                return None
            return (cpu - first[1]) / (count - first[0]) * 1e6
        if worker is not None and not worker.running():
            sys.exit(f"worker exited; see {worker.log_file}")
        time.sleep(0.2)


def direct(docs: list[dict], settings: Settings, batch: int, parallel: int) -> tuple[float, float]:
    """Docs/s, and this process's CPU µs per document while it sent them."""
    target = bootstrap_posts_index(settings)
    es = es_client(settings)
    me = os.getpid()
    cpu_before = tree_cpu(me)
    # One stamp per chunk, as the pipeline's indexer does per batch.
    actions = ({"_index": target, "_id": d["id"], "_source": {**d, "indexed_at": now_rfc3339()}} for d in docs)
    for ok, item in parallel_bulk(es, actions, thread_count=parallel, chunk_size=batch):
        if not ok:
            sys.exit(f"direct bulk failed: {item}")
    cpu_us = (tree_cpu(me) - cpu_before) / len(docs) * 1e6
    wait_count(es, settings.es_index, len(docs))
    rate = span_rate(es, settings.es_index, len(docs))
    es.close()
    return rate, cpu_us


def pipeline(docs: list[dict], settings: Settings, overrides: dict[str, str]) -> tuple[float, float | None]:
    """Docs/s, and the worker's CPU µs per document."""
    names = ensure_topics(settings)
    producer = KafkaProducer(**kafka_client_config(settings), acks="all", linger_ms=20, batch_size=256 * 1024)
    for d in docs:
        # Keyed and with headers as the enrich agent writes them: the index sink routes by them.
        producer.send(
            names.enriched, key=d["id"].encode(), value=dumps(d), headers=enriched_post_headers(d["created_at"])
        )
    producer.flush()
    producer.close()
    workdir = Path(tempfile.mkdtemp(prefix="ascolto-bench-"))
    worker = launcher.start_worker(overrides, log_file=workdir / "worker.log")
    es = es_client(settings)
    try:
        while not es.indices.exists_alias(name=settings.es_index):
            time.sleep(0.2)
        cpu_us = wait_count(es, settings.es_index, len(docs), worker)
        return span_rate(es, settings.es_index, len(docs)), cpu_us
    finally:
        worker.stop()
        es.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=50_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--parallel", type=int, default=2)
    args = parser.parse_args()

    started = time.perf_counter()
    docs = enriched_docs(args.docs)
    print(f"prepared {len(docs):,} enriched documents in {time.perf_counter() - started:.1f}s")
    uid = uuid.uuid4().hex[:8]
    direct_settings = Settings(es_index=f"bench-{uid}-direct")
    overrides = {
        "topic_prefix": f"bench-{uid}.",
        "es_index": f"bench-{uid}-pipeline",
        "app_id": f"bench-{uid}",
        "web_port": str(free_port()),  # answers once the worker is up: the launcher waits for it
        "metrics_port": "0",
        "log_level": "warning",
        "index_batch_size": str(args.batch_size),
        "index_parallel": str(args.parallel),
        "data_dir": tempfile.mkdtemp(prefix="ascolto-bench-data-"),
    }
    pipeline_settings = launcher.settings_of(launcher.child_env(overrides))
    try:
        direct_rate, direct_cpu = direct(docs, direct_settings, args.batch_size, args.parallel)
        pipeline_rate, worker_cpu = pipeline(docs, pipeline_settings, overrides)
    finally:
        remove_deployment(direct_settings, f"bench-{uid}")
        remove_deployment(pipeline_settings, f"bench-{uid}")
    print(f"ascolto indexing benchmark — {len(docs):,} docs, batch {args.batch_size}, parallel {args.parallel}, "
          f"{os.cpu_count()} cores, {datetime.now().astimezone():%Y-%m-%d}")  # fmt: skip
    worker_cpu_text = "?" if worker_cpu is None else f"{worker_cpu:.0f}"
    print(f"  direct parallel_bulk (machine limit): {direct_rate:10,.0f} docs/s, {direct_cpu:.0f} µs CPU/doc (client)")
    print(
        f"  pipeline indexer from Kafka:          {pipeline_rate:10,.0f} docs/s, {worker_cpu_text} µs CPU/doc (worker)"
    )
    print(f"  ratio pipeline / direct:              {pipeline_rate / direct_rate:10.0%}")


if __name__ == "__main__":
    main()
