"""Spike alerts on the real local stack: detection latency, and what the detector costs (prints figures only).

    python bench/alerts.py [--bursts 12] [--posts 20000] [--skip-throughput] [--skip-latency]

Two measurements, each on its own throw-away deployment (topics, index, group) and real worker process:

* **latency**: a live stream (created_at = now) from 24 sources, whose last 10 minutes were
  backfilled so the rule is warm, then one burst of negative posts from one source after another.
  For each burst: from the first burst post handed to Kafka to (a) the alert on the alerts topic
  (its Kafka timestamp) and (b) the signed webhook delivery arriving at a receiver in this process
  (which checks the HMAC signature). p50 / p99 / max over the bursts.
* **throughput, detector off vs on**: the same generated posts (created_at spread over the past
  two hours, so windows close as in production) published to a worker without rules, then to one
  with five rules of every kind (no subscribers: delivery is not what is measured). Posts/s from
  the first post produced until every post is searchable *and* the detector has counted every post,
  and the worker's CPU microseconds per post over that window (psutil, whole process tree).

Needs the local stack (``ascolto stack up``); everything the bench creates is removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web
from cpu import CpuMeter
from kafka import KafkaConsumer, TopicPartition

from ascolto.testing import LocalPipeline, free_port, make_post, wait_for
from connectors.generator import GeneratorSource
from core.kafka import kafka_client_config
from streams.alerting.signing import verify

SECRET_ENV = "ASCOLTO_BENCH_WEBHOOK_SECRET"
SOURCES = [f"src{i:02d}" for i in range(24)]
NEGATIVE = "Terrible service again, they charged me twice and nobody answers. I hate this!"
CALM = ["Paid my bill today, all fine.", "The new timetable starts on Monday.", "Nice weather in Rome today."]

LATENCY_RULES = """
rules:
  - name: negative_by_source
    kind: negative_spike
    key: source
    window: 1m
    threshold_cur: 10
    warmup: 3
    subscribers:
      - webhook: {{url: "http://127.0.0.1:{port}/hook", secret_env: {secret_env}}}
"""

LOAD_RULES = """
rules:
  - {name: neg_topic, kind: negative_spike, key: topic, window: 5m, warmup: 6}
  - {name: neg_brand, kind: negative_spike, key: watch_term, window: 5m, warmup: 6, measure: either}
  - {name: volume_all, kind: volume_spike, key: all, window: 5m, direction: both}
  - {name: silent_source, kind: flatline, key: source, window: 5m, minutes: 30}
  - {name: new_tag, kind: new_term, window: 5m, threshold_cur: 25}
"""


# --- a webhook receiver in this process ------------------------------------------------------------
class Receiver:
    """Signed webhook deliveries arriving at 127.0.0.1:<port>/hook, with their arrival time."""

    def __init__(self, secret: bytes) -> None:
        self.secret = secret
        self.port = free_port()
        self.arrived: dict[str, float] = {}
        self.rejected = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()

    async def _hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not verify(self.secret, body, request.headers):
            self.rejected += 1
            return web.Response(status=401)
        alert = orjson.loads(body)
        if alert.get("status") == "firing":
            self.arrived.setdefault(alert["key"], time.time())
        return web.Response(status=204)

    def start(self) -> None:
        def run() -> None:
            asyncio.set_event_loop(self._loop)
            app = web.Application()
            app.router.add_post("/hook", self._hook)
            runner = web.AppRunner(app)
            self._loop.run_until_complete(runner.setup())
            self._loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
            self._ready.set()
            self._loop.run_forever()

        threading.Thread(target=run, daemon=True).start()
        self._ready.wait(10)


# --- latency ----------------------------------------------------------------------------------------
_ids = itertools.count()


def post(text: str, source: str, at: datetime) -> dict[str, Any]:
    return make_post(text, native_id=f"b{next(_ids)}", source=source, created_at=at.isoformat())


def calm_minute(at: datetime) -> list[dict[str, Any]]:
    """Two calm posts and one negative per source, spread over the minute."""
    out = []
    for i, source in enumerate(SOURCES):
        for j, text in enumerate([CALM[i % 3], CALM[(i + 1) % 3], NEGATIVE]):
            out.append(post(text, source, at + timedelta(seconds=(i * 3 + j) * 59 / (3 * len(SOURCES)))))
    return sorted(out, key=lambda p: p["created_at"])


def alert_times(pipeline: LocalPipeline) -> dict[str, float]:
    """When each source's first firing alert reached the alerts topic (its Kafka timestamp)."""
    consumer = KafkaConsumer(
        pipeline.topics.alerts,
        **kafka_client_config(pipeline.settings),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=1500,
    )
    try:
        found: dict[str, float] = {}
        for record in consumer:
            alert = orjson.loads(record.value)
            if alert.get("status") == "firing":
                found.setdefault(alert["key"], record.timestamp / 1000)
        return found
    finally:
        consumer.close()


def latency(bursts: int, tmp: Path) -> dict[str, Any]:
    secret = secrets.token_hex(16)
    os.environ[SECRET_ENV] = secret  # the worker inherits this process's environment
    receiver = Receiver(secret.encode())
    receiver.start()
    rules = tmp / "latency-rules.yaml"
    rules.write_text(LATENCY_RULES.format(port=receiver.port, secret_env=SECRET_ENV), encoding="utf-8")
    with LocalPipeline(alert_rules=str(rules), alert_lateness_seconds="5") as pipeline:
        pipeline.start_worker()
        now = datetime.now(UTC)
        # Ten minutes of history, so the rule is warm for every source, then a live trickle.
        history = [p for m in range(10, 0, -1) for p in calm_minute(now - timedelta(minutes=m))]
        pipeline.publish(history)
        stop = threading.Event()

        def trickle() -> None:
            while not stop.is_set():
                at = datetime.now(UTC)
                pipeline.publish([post(CALM[0], s, at) for s in SOURCES[:: max(1, len(SOURCES) // 4)]])
                stop.wait(1.0)

        feeder = threading.Thread(target=trickle, daemon=True)
        feeder.start()
        started: dict[str, float] = {}
        try:
            for source in SOURCES[:bursts]:
                at = datetime.now(UTC)
                burst = [post(NEGATIVE, source, at + timedelta(milliseconds=10 * i)) for i in range(30)]
                started[source] = time.time()
                pipeline.publish(burst)
                wait_for(lambda s=source: s in receiver.arrived, timeout=120, what=f"the webhook for {source}")
        finally:
            stop.set()
            feeder.join(timeout=10)
        on_topic = alert_times(pipeline)
    to_topic = [on_topic[s] - started[s] for s in started if s in on_topic]
    to_hook = [receiver.arrived[s] - started[s] for s in started]
    return {"bursts": len(started), "to_topic": to_topic, "to_webhook": to_hook, "rejected": receiver.rejected}


# --- throughput ---------------------------------------------------------------------------------------
def generated(n: int) -> list[dict[str, Any]]:
    """``n`` generated posts (one negative burst in the middle) spread in time order over the past two hours."""
    source = GeneratorSource(count=n, seed=11, burst=None)
    posts = list(itertools.islice(iter(source), n))
    start = datetime.now(UTC) - timedelta(hours=2)
    for i, p in enumerate(posts):
        p["created_at"] = (start + timedelta(seconds=7200 * i / n)).isoformat()  # type: ignore[typeddict-item]
    return posts  # type: ignore[return-value]


def caught_up(pipeline: LocalPipeline, group: str, topic: str) -> bool:
    """Whether ``group`` committed every record of ``topic`` (read without joining the group)."""
    consumer = KafkaConsumer(**kafka_client_config(pipeline.settings), group_id=group, enable_auto_commit=False)
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        ends = consumer.end_offsets(parts)
        return bool(parts) and all((consumer.committed(tp) or 0) >= end for tp, end in ends.items())
    finally:
        consumer.close()


def throughput(posts: list[dict[str, Any]], rules: Path | None) -> dict[str, Any]:
    overrides = {"alert_rules": str(rules)} if rules else {}
    with LocalPipeline(**overrides) as pipeline:
        pipeline.start_worker()
        assert pipeline.worker is not None
        meter = CpuMeter({"worker": [pipeline.worker.pid]})
        meter.start()
        pipeline.publish(posts)
        pipeline.wait_count(len(posts), timeout=900)
        if rules:
            app = pipeline.settings.app_id
            wait_for(
                lambda: caught_up(pipeline, app, pipeline.topics.tallies),
                timeout=600,
                what="the detector to count every post",
                interval=0.2,
            )
        cpu, wall = meter.stop()
        return {"posts": len(posts), "seconds": wall, "worker_cpu": cpu["worker"], "machine_cpu": cpu["machine"]}


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bursts", type=int, default=12, help="Bursts for the latency figures (at most 24).")
    parser.add_argument("--posts", type=int, default=20_000, help="Posts for the on/off throughput figures.")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ascolto-bench-") as tmp_name:
        tmp = Path(tmp_name)
        if not args.skip_latency:
            result = latency(min(args.bursts, len(SOURCES)), tmp)
            print(f"\nDetection latency over {result['bursts']} bursts (first burst post produced → ...):")
            for label, key in (("alert on the alerts topic", "to_topic"), ("signed webhook received", "to_webhook")):
                values = result[key]
                if values:
                    print(
                        f"  {label:28s} p50 {statistics.median(values):5.2f}s  p99 {pct(values, 99):5.2f}s"
                        f"  max {max(values):5.2f}s  (n={len(values)})"
                    )
            print(f"  webhook requests with a bad signature: {result['rejected']}")
        if not args.skip_throughput:
            posts = generated(args.posts)
            rules = tmp / "load-rules.yaml"
            rules.write_text(LOAD_RULES, encoding="utf-8")
            runs = {"detector off": throughput(posts, None), "detector on (5 rules)": throughput(posts, rules)}
            print(f"\nWorker throughput, {args.posts} posts, same posts, same run:")
            print(f"  {'':24s} {'posts/s':>9s} {'worker CPU µs/post':>20s} {'machine CPU µs/post':>21s}")
            for label, run in runs.items():
                n = run["posts"]
                print(
                    f"  {label:24s} {n / run['seconds']:9.0f} {run['worker_cpu'] / n * 1e6:20.0f}"
                    f" {run['machine_cpu'] / n * 1e6:21.0f}"
                )
            off, on = runs["detector off"], runs["detector on (5 rules)"]
            print(
                f"  detector cost: {(on['worker_cpu'] - off['worker_cpu']) / args.posts * 1e6:+.0f} µs of worker CPU"
                f" per post; posts/s ×{(args.posts / on['seconds']) / (args.posts / off['seconds']):.2f}"
            )


if __name__ == "__main__":
    sys.exit(main())
