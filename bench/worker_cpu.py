"""CPU seconds one ``ascolto worker`` spends per post, from posts.raw to Elasticsearch (prints figures only).

    python bench/worker_cpu.py [--posts 100000] [--py-spy 20] [--env NAME=VALUE ...]

Starts one worker on fresh topics, index and consumer groups (unique prefix), waits until it
answers, then publishes ``--posts`` generated posts and waits until the worker reports every one
indexed. CPU time is the worker process's own (psutil, user + system) between those two points,
so it barely moves when neighbours load the machine; posts/s does. ``--py-spy`` samples the
worker for that many seconds mid-run and prints where its time goes (needs py-spy installed).

Run it with another checkout's interpreter to measure that code the same way.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import psutil
from kafka import KafkaProducer

from ascolto.metrics_reading import metric_total
from ascolto.testing import free_port, remove_deployment
from connectors.generator import GeneratorSource
from core.kafka import ensure_topics, kafka_client_config
from core.settings import Settings
from schemas import RAW_POST_HEADERS, dumps


def wait_for(condition, deadline: float, what: str, proc: subprocess.Popen) -> None:
    while not condition():
        if proc.poll() is not None:
            raise SystemExit(f"worker exited while waiting for {what}")
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(1.0)  # each poll renders the whole /metrics page in the worker


def answers(port: int) -> bool:
    try:
        metric_total(port, "ascolto_docs_indexed_total", timeout=5)
        return True
    except OSError:
        return False


def profile_summary(raw: Path) -> None:
    """Share of samples whose stack passes through each area (a sample can count in several)."""
    total = 0
    areas: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    patterns = {
        "enrichers (streams/enrichers)": "streams/enrichers/",
        "vader": "vaderSentiment",
        "faust stream delivery (faust/streams, _cython)": "faust/streams.py|faust/_cython|streams.pyx",
        "faust consumer/fetcher": "faust/transport/consumer.py|faust/transport/drivers/aiokafka.py",
        "faust topics/conductor/events": "faust/(topics|events|channels).py|faust/transport/conductor.py",
        "aiokafka": "aiokafka/",
        "index agent + sink": "streams/index_agent.py|streams/index_sink.py|streams/batching.py",
        "elasticsearch client": "elasticsearch/|elastic_transport/",
        "prometheus": "prometheus_client/",
        "json (schemas)": "schemas/",
    }
    compiled = {name: re.compile(p) for name, p in patterns.items()}
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        for name, rx in compiled.items():
            if rx.search(stack):
                areas[name] += n
        last = stack.split(";")[-1]
        leaf[re.sub(r"\s*\(.*/", " (", last)] += n
    if not total:
        print("  py-spy: no samples")
        return
    print(f"  py-spy: {total} samples; share of samples passing through:")
    for name, n in areas.most_common():
        print(f"    {name:<48} {100 * n / total:5.1f}%")
    print("  hottest leaf frames:")
    for name, n in leaf.most_common(12):
        print(f"    {100 * n / total:5.1f}%  {name[:110]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--py-spy", type=float, default=0.0, help="seconds of py-spy sampling mid-run")
    parser.add_argument("--env", action="append", default=[], help="extra NAME=VALUE for the worker")
    parser.add_argument("--timeout", type=float, default=900.0)
    args = parser.parse_args()

    run = uuid.uuid4().hex[:8]
    metrics_port = free_port()
    overrides = {
        "ASCOLTO_TOPIC_PREFIX": f"bench-cpu-{run}.",
        "ASCOLTO_APP_ID": f"bench-cpu-{run}",
        "ASCOLTO_ES_INDEX": f"bench-cpu-{run}",
        "ASCOLTO_WEB_PORT": "0",
        "ASCOLTO_METRICS_PORT": str(metrics_port),
        "ASCOLTO_LOG_LEVEL": "warning",
    }
    overrides.update(dict(item.split("=", 1) for item in args.env))
    env = {**os.environ, **overrides}
    settings = Settings(**{k[len("ASCOLTO_") :].lower(): v for k, v in overrides.items()})
    topics = ensure_topics(settings)

    log = Path(tempfile.gettempdir()) / f"bench-cpu-{run}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "ascolto", "worker"], env=env, stdout=out, stderr=out)
    try:
        wait_for(lambda: answers(metrics_port), time.monotonic() + 120, "the worker to answer", proc)
        time.sleep(5)  # let the group settle; start-up CPU is not what is measured
        worker = psutil.Process(proc.pid)
        cpu0 = sum(worker.cpu_times()[:2])

        posts = list(GeneratorSource(count=args.posts, seed=int(run, 16) % 100_000))
        producer = KafkaProducer(
            **kafka_client_config(settings), acks="all", linger_ms=20, batch_size=256 * 1024,
            compression_type=None if settings.kafka_compression == "none" else settings.kafka_compression,
        )  # fmt: skip
        started = time.monotonic()
        for post in posts:
            producer.send(topics.raw, key=post["id"].encode(), value=dumps(post), headers=list(RAW_POST_HEADERS))
        producer.flush()
        producer.close()
        produced = time.monotonic() - started

        spy = None
        if args.py_spy:
            raw = Path(tempfile.gettempdir()) / f"bench-cpu-{run}.pyspy.txt"
            spy_exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
            spy = subprocess.Popen(
                [spy_exe, "record", "-p", str(proc.pid), "-d", str(int(args.py_spy)), "-r", "200",
                 "-f", "raw", "-o", str(raw), "--nonblocking"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
        wait_for(
            lambda: metric_total(metrics_port, "ascolto_docs_indexed_total", timeout=5) >= args.posts,
            started + args.timeout,
            "every post to be indexed",
            proc,
        )
        elapsed = time.monotonic() - started
        cpu = sum(worker.cpu_times()[:2]) - cpu0
        print(f"worker CPU per post: {1e6 * cpu / args.posts:7.1f} µs   ({cpu:.1f} s CPU for {args.posts:,} posts)")
        rate = args.posts / elapsed
        print(f"end to end:          {rate:7.0f} posts/s ({elapsed:.1f} s; publishing took {produced:.1f} s)")
        print(f"worker CPU share:    {100 * cpu / elapsed:7.0f} % of one core")
        if spy is not None:
            spy.wait(timeout=args.py_spy + 60)
            profile_summary(raw)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        print(f"worker log: {log}")
        remove_deployment(settings, f"bench-cpu-{run}")


if __name__ == "__main__":
    main()
