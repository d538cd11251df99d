"""What console viewers cost the worker: posts/s indexed and worker CPU per post with 0 and then 5 clients on
the live feed (``GET /api/feed``, Server-Sent Events), in one run on one worker (prints figures only).

    python bench/console_clients.py [--posts 20000] [--phases 0,5,0] [--env NAME=VALUE ...]

Starts one worker on fresh topics, index and consumer groups (unique prefix) with its web server on a free
loopback port, warms it up, then for each phase opens that many feed clients (each reads every event in a
thread of this process), publishes ``--posts`` generated posts and waits until the worker reports every one
indexed (posts/s indexed), then until every client has received every one of them (worker CPU per post
counts up to there, and "s to viewers"). CPU is the worker's process tree (bench/cpu.py); the clients run
here, not in the worker, so what is measured is the feed's cost to the worker (its Elasticsearch polls and
event writing). For each client, the phase's posts it has (distinct ids) and the events it received are
printed too (this phase's posts / distinct posts / events): a feed that delivered nothing, or repeated posts,
would make the comparison meaningless.
Run the phases 0,5,0 to see how far the figures drift between two identical phases on a shared machine.
"""

from __future__ import annotations

import argparse
import http.client
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from cpu import tree_cpu
from kafka import KafkaProducer
from worker_cpu import answers, wait_for

from ascolto.metrics_reading import metric_total
from ascolto.testing import free_port, remove_deployment
from connectors.generator import GeneratorSource
from core.kafka import ensure_topics, kafka_client_config
from core.settings import Settings
from schemas import RAW_POST_HEADERS, dumps


@dataclass
class FeedClient:
    """One console viewer: reads /api/feed until stopped, counting post events."""

    port: int
    posts: int = 0
    ids: set[str] = field(default_factory=set)  # post ids seen (the event id is ``<indexed_at>|<post id>``)
    status: int | None = None
    error: str | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _conn: http.client.HTTPConnection | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            self._conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            self._conn.request("GET", "/api/feed", headers={"Accept": "text/event-stream"})
            response = self._conn.getresponse()
            self.status = response.status
            if response.status != 200:
                self.error = response.read(500).decode(errors="replace")
                return
            while not self._stop.is_set():
                line = response.fp.readline()
                if not line:
                    return
                if line.startswith(b"id: "):
                    self.ids.add(line[4:].decode().rstrip("\r\n").split("|", 1)[-1])
                elif line.startswith(b"event: post"):
                    self.posts += 1
        except OSError as exc:
            if not self._stop.is_set():
                self.error = str(exc)

    def connected(self) -> bool:
        return self.status is not None or self.error is not None

    def stop(self) -> None:
        self._stop.set()
        if self._conn is not None:
            self._conn.close()
        if self._thread is not None:
            self._thread.join(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--posts", type=int, default=20_000, help="posts published in each phase")
    parser.add_argument("--phases", default="0,5", help="feed clients in each phase, comma-separated")
    parser.add_argument("--warmup", type=int, default=2_000, help="posts indexed before the first phase")
    parser.add_argument("--env", action="append", default=[], help="extra NAME=VALUE for the worker")
    parser.add_argument("--timeout", type=float, default=900.0)
    args = parser.parse_args()
    phases = [int(n) for n in args.phases.split(",")]

    run = uuid.uuid4().hex[:8]
    metrics_port, web_port = free_port(), free_port()
    overrides = {
        "ASCOLTO_TOPIC_PREFIX": f"bench-console-{run}.",
        "ASCOLTO_APP_ID": f"bench-console-{run}",
        "ASCOLTO_ES_INDEX": f"bench-console-{run}",
        "ASCOLTO_WEB_PORT": str(web_port),
        "ASCOLTO_METRICS_PORT": str(metrics_port),
        "ASCOLTO_LOG_LEVEL": "warning",
    }
    overrides.update(dict(item.split("=", 1) for item in args.env))
    env = {**os.environ, **overrides}
    settings = Settings(**{k[len("ASCOLTO_") :].lower(): v for k, v in overrides.items()})
    topics = ensure_topics(settings)
    producer = KafkaProducer(
        **kafka_client_config(settings), acks="all", linger_ms=20, batch_size=256 * 1024,
        compression_type=None if settings.kafka_compression == "none" else settings.kafka_compression,
    )  # fmt: skip
    seed = int(run, 16) % 100_000

    def publish(count: int, offset: int) -> set[str]:
        ids = set()
        for post in GeneratorSource(count=count, seed=seed + offset):
            producer.send(topics.raw, key=post["id"].encode(), value=dumps(post), headers=list(RAW_POST_HEADERS))
            ids.add(post["id"])
        producer.flush()
        return ids

    def indexed() -> float:
        return metric_total(metrics_port, "ascolto_docs_indexed_total", timeout=5)

    def run_phase(number: int, clients_wanted: int, target: int) -> tuple[int, float, float, float, list[str]]:
        clients = [FeedClient(web_port) for _ in range(clients_wanted)]
        for client in clients:
            client.start()
        try:
            wait_for(lambda: all(c.connected() for c in clients), time.monotonic() + 60, "the feed clients", proc)
            refused = [c.error for c in clients if c.error]
            if refused:
                raise SystemExit(f"/api/feed refused a client: {refused[0]}")
            # Each client first gets the last 20 posts already indexed: not part of what is measured.
            wait_for(lambda: all(c.posts >= 20 for c in clients), time.monotonic() + 60, "the feed's backlog", proc)
            cpu0 = tree_cpu(proc.pid)
            started = time.monotonic()
            # Distinct posts per phase (another seed): a repeated id would be an update, not a new post.
            phase_ids = publish(args.posts, number * 1_000_000)
            wait_for(lambda: indexed() >= target, started + args.timeout, "every post to be indexed", proc)
            elapsed = time.monotonic() - started
            # The worker's CPU counts until every viewer has every post of this phase (by id: the previous
            # phase's last posts still reach a new viewer after its backlog, as they settle): the feed catching
            # up is its cost too.
            wait_for(
                lambda: all(phase_ids <= c.ids or c.error for c in clients),
                started + args.timeout,
                "the feed clients to receive every post",
                proc,
            )
            cpu = tree_cpu(proc.pid) - cpu0
            # This phase's posts each viewer has, all distinct posts it has, and all post events it received
            # (backlog and the previous phase's settling tail included): the last two differ if the feed repeats.
            delivered = [f"{len(phase_ids & c.ids)}/{len(c.ids)}/{c.posts}" for c in clients]
            return clients_wanted, args.posts / elapsed, 1e6 * cpu / args.posts, time.monotonic() - started, delivered
        finally:
            for client in clients:
                client.stop()

    log = Path(tempfile.gettempdir()) / f"bench-console-{run}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "ascolto", "worker"], env=env, stdout=out, stderr=out)
    rows = []
    try:
        wait_for(lambda: answers(metrics_port), time.monotonic() + 120, "the worker to answer", proc)
        publish(args.warmup, 0)
        wait_for(lambda: indexed() >= args.warmup, time.monotonic() + args.timeout, "the warm-up posts", proc)
        target = args.warmup
        for number, clients_wanted in enumerate(phases, start=1):
            target += args.posts
            rows.append(run_phase(number, clients_wanted, target))
    finally:
        producer.close()
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        remove_deployment(settings, f"bench-console-{run}")

    print(f"{'feed clients':>12}  {'indexed/s':>9}  {'worker CPU µs/post':>18}  {'s to viewers':>12}  per client")
    for clients_wanted, rate, cpu_us, elapsed, delivered in rows:
        got = ", ".join(str(n) for n in delivered) or "-"
        print(f"{clients_wanted:>12}  {rate:>9.0f}  {cpu_us:>18.1f}  {elapsed:>12.1f}  {got}")
    print(f"({args.posts:,} posts per phase after {args.warmup:,} warm-up posts; worker log: {log})")


if __name__ == "__main__":
    main()
