"""Posts per second each live connector publishes from its loopback server, next to the producer alone (prints only).

    python bench/live_sources.py [--posts 10000] [--requests 2000] [--concurrency 16]

Each measurement publishes to its own throw-away topics on the local Kafka (``ascolto stack up``):

* **producer alone**: ``PostProducer.publish`` of already-built RawPosts, then a flush: the ceiling;
* **rss**: 20 feeds served by the test kit's loopback feed server (``tests/feeds.py``), read once by
  ``RssSource`` through ``run_live`` (conditional GET, feedparser, checkpoints);
* **http ingest**: ``ascolto connect http`` as a process, ``--requests`` POSTs of 10 posts, ``--concurrency``
  at a time: requests/s, latency p50/p99 (202 = Kafka has them) and the endpoint's CPU per post;
* **bluesky**: the same number of Jetstream post events from the loopback WebSocket server
  (``tests/jetstream.py``), read by ``BlueskySource`` until its checkpoint holds the last one.
* **reddit**: the same number of ``t3`` posts from the loopback Reddit server (``tests/reddit_server.py``,
  budget lifted: the real one allows 100 queries of 100 things a minute), paged newest first by
  ``RedditSource`` from a checkpoint before the first one, until its checkpoint holds the last one.

Figures: posts/s from the first request to the last checkpoint, and this process's CPU µs per post
(the loopback server runs in this process too, in a thread: its share is included).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the test kit's loopback servers

import aiohttp
import orjson
from cpu import CpuMeter

from ascolto import launcher
from ascolto.testing import LocalPipeline, free_port, make_post, publish_live
from connectors.bluesky import BlueskySource
from connectors.live import CheckpointStore
from connectors.producer import PostProducer
from connectors.reddit import RedditSource
from connectors.rss import RssSource
from tests.feeds import Feed, FeedServer, rss_document, rss_item
from tests.jetstream import JetstreamServer, post_event
from tests.reddit_server import CLIENT_ID, CLIENT_SECRET, T0, USER_AGENT, RedditServer, post_thing

FEEDS = 20


Work = Callable[[LocalPipeline], None]


def measure(label: str, n: int, work: Work) -> tuple[str, int, float, float]:
    with LocalPipeline() as pipeline:
        cpu, wall = time.process_time(), time.perf_counter()
        work(pipeline)
        return label, n, time.perf_counter() - wall, time.process_time() - cpu


def producer_alone(n: int) -> Work:
    posts = [make_post(f"Avviso numero {i}: lo sportello riapre lunedì", native_id=f"p{i}") for i in range(n)]

    def work(pipeline: LocalPipeline) -> None:
        with PostProducer(pipeline.settings, stage="connector:bench") as producer:
            for post in posts:
                producer.publish(post)

    return work


def rss(n: int, tmp: Path) -> Work:
    per_feed = n // FEEDS

    def work(pipeline: LocalPipeline) -> None:
        with FeedServer() as server:
            for f in range(FEEDS):
                server.feeds[f"/feed{f}.rss"] = Feed(
                    rss_document(rss_item(f * 100_000 + i) for i in range(per_feed, 0, -1))
                )
            source = RssSource([server.url(f"/feed{f}.rss") for f in range(FEEDS)], once=True)
            store = CheckpointStore(tmp, f"rss-{pipeline.uid}")

            asyncio.run(publish_live(pipeline.settings, source, store, timeout=600))

    return work


def bluesky(n: int, tmp: Path) -> Work:
    events = [post_event(i) for i in range(1, n + 1)]
    last = max(e["time_us"] for e in events)

    def work(pipeline: LocalPipeline) -> None:
        store = CheckpointStore(tmp, f"bluesky-{pipeline.uid}")

        async def run(url: str) -> None:
            source = BlueskySource(url=url)
            await publish_live(
                pipeline.settings, source, store, done=lambda c: c.get("time_us", 0) >= last, timeout=600
            )

        server = JetstreamServer([])
        server.add(*events)
        with server:  # its own loop, in a thread
            asyncio.run(run(server.url))

    return work


def reddit(n: int, tmp: Path) -> Work:
    def work(pipeline: LocalPipeline) -> None:
        store = CheckpointStore(tmp, f"reddit-{pipeline.uid}")
        store.save({"posts": {"newest": float(T0), "seen": []}})  # everything after T0 is new: n/100 pages

        async def run(server: RedditServer) -> None:
            source = RedditSource(
                ["italy"], client_id=CLIENT_ID, client_secret=CLIENT_SECRET, user_agent=USER_AGENT,
                kinds=("posts",), base_url=server.url, auth_url=server.auth_url, max_pages=n // 100 + 2,
            )  # fmt: skip

            await publish_live(
                pipeline.settings,
                source,
                store,
                done=lambda c: (c.get("posts") or {}).get("newest", 0) >= T0 + n,
                timeout=600,
            )

        with RedditServer(budget=1_000_000) as server:  # its own loop, in a thread
            server.add(*(post_thing(i) for i in range(1, n + 1)))
            asyncio.run(run(server))

    return work


def http_ingest(requests: int, per_request: int, concurrency: int) -> dict[str, float]:
    """``ascolto connect http`` as a process: requests/s, latency p50/p99 and its CPU µs per post."""
    token = "bench-token"
    with LocalPipeline() as pipeline:
        port = free_port()
        env = {**pipeline.env, "ASCOLTO_INGEST_TOKEN": token}
        endpoint = launcher.ChildProcess(
            ["connect", "http", "--port", str(port)], env=env, log_file=pipeline.workdir / "ingest.log"
        ).start()
        try:
            launcher.wait_answering(
                f"http://127.0.0.1:{port}/healthz", alive=endpoint.running, log_file=endpoint.log_file,
                what="ingest endpoint", timeout=60,
            )  # fmt: skip
            bodies = [
                orjson.dumps(
                    [{"id": f"r{r}-{i}", "text": f"Segnalazione {r}-{i}: sportello chiuso"} for i in range(per_request)]
                )
                for r in range(requests)
            ]
            cpu = CpuMeter({"endpoint": [endpoint.pid]})
            cpu.start()
            latencies = asyncio.run(_post_all(f"http://127.0.0.1:{port}/ingest", token, bodies, concurrency))
            used, wall = cpu.stop()
        finally:
            endpoint.stop()
    ordered = sorted(latencies)
    return {
        "requests/s": requests / wall,
        "posts/s": requests * per_request / wall,
        "p50": ordered[len(ordered) // 2],
        "p99": ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))],
        "cpu_us_per_post": used["endpoint"] / (requests * per_request) * 1e6,
    }


async def _post_all(url: str, token: str, bodies: list[bytes], concurrency: int) -> list[float]:
    gate = asyncio.Semaphore(concurrency)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    async with aiohttp.ClientSession() as http:

        async def one(body: bytes) -> float:
            async with gate:
                started = time.perf_counter()
                async with http.post(url, data=body, headers=headers) as resp:
                    if resp.status != 202:
                        raise SystemExit(f"the endpoint answered {resp.status}: {await resp.text()}")
                return time.perf_counter() - started

        return list(await asyncio.gather(*(one(b) for b in bodies)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=2_000, help="HTTP ingest requests (10 posts each).")
    parser.add_argument("--concurrency", type=int, default=16, help="HTTP ingest requests in flight.")
    args = parser.parse_args()
    tmp = Path(__import__("tempfile").mkdtemp(prefix="ascolto-bench-connectors-"))
    rows = [
        measure("producer alone", args.posts, producer_alone(args.posts)),
        measure(f"rss ({FEEDS} feeds, one poll)", args.posts // FEEDS * FEEDS, rss(args.posts, tmp)),
        measure("bluesky (Jetstream)", args.posts, bluesky(args.posts, tmp)),
        measure("reddit (OAuth listings)", args.posts, reddit(args.posts, tmp)),
    ]
    print(f"\n{'source':32s} {'posts':>7s} {'posts/s':>9s} {'CPU µs/post':>12s}")
    for label, n, wall, cpu in rows:
        print(f"{label:32s} {n:7d} {n / wall:9.0f} {cpu / n * 1e6:12.0f}")
    ingest = http_ingest(args.requests, 10, args.concurrency)
    print(
        f"\nHTTP ingest, {args.requests} requests of 10 posts, {args.concurrency} at a time (202 = in Kafka): "
        f"{ingest['requests/s']:.0f} requests/s ({ingest['posts/s']:.0f} posts/s), "
        f"latency p50 {ingest['p50'] * 1000:.0f} ms, p99 {ingest['p99'] * 1000:.0f} ms, "
        f"endpoint CPU {ingest['cpu_us_per_post']:.0f} µs/post"
    )


if __name__ == "__main__":
    main()
