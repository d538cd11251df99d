"""Throughput and latency of the whole pipeline on the real local stack (prints figures, asserts nothing).

    python bench/pipeline.py [--posts 100000]

Generates posts with the generator source, publishes them with the connector producer and lets a
real ``ascolto worker`` enrich and index them. Reports, in the same run:

* end-to-end posts/s, from the first produce to the last post being searchable;
* latency created → searchable (p50/p90/p99) on a 1% sample, found by polling search;
* for reference: the producer alone (posts/s published) and VADER alone on the same texts
  (posts/s on one core), which bound what the pipeline can reach on this machine;
* the worker's peak memory.

Needs the local stack (``ascolto stack up``); uses its own topics and index and removes them.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from elasticsearch import ApiError
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from ascolto import launcher
from ascolto.testing import free_port, remove_deployment
from connectors.base import Rejected, Source, publish_all
from connectors.generator import GeneratorSource
from connectors.producer import PostProducer
from core.kafka import ensure_topics
from core.settings import Settings
from elastic.client import es_client
from schemas import RawPost

SAMPLE_EVERY = 100


class Sampler:
    """Records when sampled posts become visible to search (the user's 'searchable')."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.created: dict[str, float] = {}
        self.seen: dict[str, float] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def add(self, post: RawPost) -> None:
        with self.lock:
            self.created[post["id"]] = datetime.fromisoformat(post["created_at"]).timestamp()

    def run(self) -> None:
        client = es_client(self.settings)
        while not self.stop.is_set():
            with self.lock:
                pending = [i for i in self.created if i not in self.seen][:1000]
            if pending:
                try:
                    resp = client.search(
                        index=self.settings.es_index,
                        query={"ids": {"values": pending}},
                        size=len(pending),
                        source=False,
                        ignore_unavailable=True,
                    )
                except ApiError:
                    # A shard being created or moved answers 503 for a moment: sample again next tick.
                    self.stop.wait(0.1)
                    continue
                now = time.time()
                for hit in resp["hits"]["hits"]:
                    self.seen.setdefault(hit["_id"], now)
            self.stop.wait(0.1)
        client.close()

    def latencies(self) -> list[float]:
        return sorted(self.seen[i] - self.created[i] for i in self.seen)


class SampledSource(Source):
    """Passes generated posts through, remembering texts and every 100th post for the sampler."""

    name = "generator"

    def __init__(self, inner: GeneratorSource, sampler: Sampler) -> None:
        self.inner = inner
        self.sampler = sampler
        self.texts: list[str] = []

    def __iter__(self) -> Iterator[RawPost | Rejected]:
        for n, post in enumerate(self.inner):
            assert not isinstance(post, Rejected)
            self.texts.append(post["text"])
            if n % SAMPLE_EVERY == 0:
                self.sampler.add(post)
            yield post


def percentile(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def vader_alone(texts: list[str]) -> float:
    analyzer = SentimentIntensityAnalyzer()
    start = time.perf_counter()
    for text in texts:
        analyzer.polarity_scores(text)
    return len(texts) / (time.perf_counter() - start)


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--posts", type=int, default=100_000)
    args = parser.parse_args()

    uid = uuid.uuid4().hex[:8]
    tmp = Path(tempfile.mkdtemp(prefix="ascolto-bench-"))
    overrides = {
        "topic_prefix": f"bench-{uid}.",
        "es_index": f"bench-{uid}-posts",
        "app_id": f"bench-{uid}",
        "web_port": str(free_port()),  # answers once the worker is up: the launcher waits for it
        "metrics_port": "0",
        "log_level": "warning",
        "data_dir": str(tmp / "data"),
    }
    settings = launcher.settings_of(launcher.child_env(overrides))
    ensure_topics(settings)
    worker = launcher.start_worker(overrides, log_file=tmp / "worker.log")
    sampler = Sampler(settings)
    es = es_client(settings)
    try:
        # Warm-up: one post end to end, so the consumer group join is not counted as latency.
        with PostProducer(settings, stage="connector:bench") as producer:
            warm = next(iter(GeneratorSource(count=1, seed=0)))
            producer.publish(warm)
        # 503 while the fresh index's shard starts, 404 until the post is there.
        while not es.options(ignore_status=(404, 503)).exists(index=settings.es_index, id=warm["id"]).body:
            if not worker.running():
                sys.exit(f"worker exited; see {worker.log_file}")
            time.sleep(0.2)

        threading.Thread(target=sampler.run, daemon=True).start()
        source = SampledSource(GeneratorSource(count=args.posts, seed=int(uid, 16) % (1 << 30)), sampler)
        t0 = time.time()
        with PostProducer(settings, stage="connector:bench") as producer:
            report = publish_all(source, producer)
        produced_at = time.time()
        expected = args.posts + 1
        while True:
            es.indices.refresh(index=settings.es_index)
            count = es.count(index=settings.es_index)["count"]
            if count >= expected:
                break
            if not worker.running():
                sys.exit(f"worker exited; see {worker.log_file}")
            time.sleep(0.2)
        t_done = time.time()
        while len(sampler.seen) < len(sampler.created):
            time.sleep(0.1)
        sampler.stop.set()
        rss = peak_rss_mib(worker.pid)

        lat = sampler.latencies()
        vader_rate = vader_alone(source.texts[:20_000])
        print(f"ascolto pipeline benchmark — {args.posts:,} posts, {os.cpu_count()} cores, real Kafka + Elasticsearch")
        print(f"  end to end (first produce → last searchable): {args.posts / (t_done - t0):10,.0f} posts/s")
        print(f"  producer alone (connector publish rate):       {report.published / report.seconds:10,.0f} posts/s")
        print(f"  vaderSentiment alone, one core, same texts:    {vader_rate:10,.0f} posts/s")
        print(
            f"  latency created → searchable ({len(lat)} samples): p50 {percentile(lat, 50):.2f}s  "
            f"p90 {percentile(lat, 90):.2f}s  p99 {percentile(lat, 99):.2f}s  max {lat[-1]:.2f}s"
        )
        print(f"  publishing took {produced_at - t0:.1f}s; indexing finished {t_done - produced_at:.1f}s later")
        print(f"  worker peak RSS: {rss:.0f} MiB")
    finally:
        sampler.stop.set()
        worker.stop()
        es.close()
        remove_deployment(settings, f"bench-{uid}")


if __name__ == "__main__":
    main()
