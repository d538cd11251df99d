"""The search API under a burst of expensive queries (prints figures only).

    python bench/api_load.py [--docs 200000] [--concurrency 40] [--client-timeout 60]

Loads ``--docs`` posts straight into a throw-away index (words drawn from a large made-up
vocabulary, as real social text has: typos, handles, hashtags make the term dictionary big), starts
a real ``ascolto worker`` on it and fires ``--concurrency`` fuzzy, wildcard and regular-expression
queries at ``/api/search`` at once. Reports per status code the count and the median and maximum
latency, then how many search tasks Elasticsearch still runs for that index once every client has
its answer (or gave up): work nobody waits for.

With ``--probe SECONDS`` it then sends the same number of unbounded leading-wildcard searches
straight to Elasticsearch, each with the time limit the API puts on a search
(``elastic.bounded``) set to SECONDS, and reports when they ended and how long Elasticsearch kept
running any of them afterwards (the tasks API): the check that a search that runs out of time
stops on the server too. Everything the bench creates is removed at the end.
"""

from __future__ import annotations

import argparse
import random
import statistics
import string
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from elasticsearch.helpers import bulk

from ascolto.testing import LocalPipeline, bootstrap_posts_index

QUERIES = {
    "mixed": ["bolleta~2", "*etta", "servizo~", "*a*", "/.*o.*a.*/", "ri*", "ritardo~2 OR treno~2", "*oni"],
    "fuzzy": ["bolleta~2", "servizo~", "ritardo~2 OR treno~2", "rimborso~1"],  # within the bounds: compare cost
    "short-fuzzy": ["ab~2", "ca~2", "mi~2 OR te~2", "do~2"],
}


def vocabulary(n: int, rng: random.Random) -> list[str]:
    syllables = [c + v for c in "bcdfglmnprstvz" for v in "aeiou"]
    words = {"".join(rng.choices(syllables, k=rng.randint(2, 5))) + rng.choice(["", *string.ascii_lowercase[:6]])
             for _ in range(n)}  # fmt: skip
    return sorted(words)


def documents(n: int, words: list[str], rng: random.Random):
    now = datetime.now(UTC)
    for i in range(n):
        created = (now - timedelta(seconds=rng.randint(0, 86_000))).isoformat().replace("+00:00", "Z")
        text = " ".join(words[min(int(rng.paretovariate(0.6)) - 1, len(words) - 1)] if rng.random() < 0.5
                        else rng.choice(words) for _ in range(14))  # fmt: skip
        yield {"_id": f"bench:{i}", "id": f"bench:{i}", "source": "bench", "native_id": str(i), "text": text,
               "created_at": created, "lang": "it", "sentiment": {"label": "neutral", "compound": 0.0},
               "topics": [], "author": {"handle": f"u{i % 5000}"}}  # fmt: skip


def one_request(port: int, query: str, timeout: float) -> tuple[str, float, str | None]:
    """Status, seconds, and the Retry-After header of a 503."""
    url = f"http://127.0.0.1:{port}/api/search?{urllib.parse.urlencode({'q': query, 'sort': 'relevance'})}"
    start = time.monotonic()
    retry_after = None
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            resp.read()
            status = str(resp.status)
    except urllib.error.HTTPError as exc:
        status = str(exc.code)
        retry_after = exc.headers.get("Retry-After") if exc.code == 503 else None
    except OSError:
        status = "client timeout"
    return status, time.monotonic() - start, retry_after


def probe(p: LocalPipeline, seconds: float, n: int) -> None:
    import asyncio

    from elastic.bounded import client_timeout, time_limited
    from elastic.client import async_es_client

    query = {"query_string": {"query": "*a* OR *e* OR *o*", "fields": ["text", "text.it", "text.en"],
                              "allow_leading_wildcard": True}}  # fmt: skip
    body = time_limited({"query": query, "sort": [{"_score": "desc"}], "size": 20}, seconds)

    async def one(client) -> str:
        try:
            resp = await client.options(request_timeout=client_timeout(seconds)).search(
                index=p.settings.es_index, **body
            )
            return "timed_out" if resp["timed_out"] else "complete"
        except Exception as exc:
            return type(exc).__name__

    async def run() -> list[str]:
        client = async_es_client(p.settings)
        try:
            return await asyncio.gather(*(one(client) for _ in range(n)))
        finally:
            await client.close()

    start = time.monotonic()
    outcomes = asyncio.run(run())
    ended = time.monotonic() - start
    left = running_searches(p.es, p.settings.es_index)
    while running_searches(p.es, p.settings.es_index):
        time.sleep(0.1)
    gone = time.monotonic() - start - ended
    counts = {o: outcomes.count(o) for o in set(outcomes)}
    print(f"probe: {n} unbounded leading-wildcard searches limited to {seconds:g}s: {counts} after {ended:.1f}s;")
    print(f"  {left} still running in Elasticsearch then, none {gone:.1f}s later")


def running_searches(es, index: str) -> int:
    warnings.filterwarnings("ignore", message="This API is in technical preview")
    tasks = es.tasks.list(actions="indices:data/read/search*", detailed=True)
    return sum(
        1 for node in tasks["nodes"].values() for task in node["tasks"].values() if index in task.get("description", "")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=200_000)
    parser.add_argument("--vocabulary", type=int, default=300_000)
    parser.add_argument("--concurrency", type=int, default=40)
    parser.add_argument("--client-timeout", type=float, default=60.0)
    parser.add_argument("--queries", choices=sorted(QUERIES), default="mixed")
    parser.add_argument("--max-concurrent", type=int, help="ASCOLTO_API_MAX_CONCURRENT_SEARCHES of the worker.")
    parser.add_argument("--probe", type=float, default=0.0, help="Time limit of the cancellation probe (0: none).")
    args = parser.parse_args()
    rng = random.Random(7)
    overrides = {"api_max_concurrent_searches": str(args.max_concurrent)} if args.max_concurrent else {}
    with LocalPipeline(**overrides) as p:
        bootstrap_posts_index(p.settings)
        words = vocabulary(args.vocabulary, rng)
        start = time.monotonic()
        bulk(p.es.options(request_timeout=120), documents(args.docs, words, rng), index=p.settings.es_index,
             chunk_size=5000)  # fmt: skip
        p.es.indices.refresh(index=p.settings.es_index)
        p.es.options(request_timeout=600).indices.forcemerge(index=p.settings.es_index, max_num_segments=1)
        print(f"loaded {args.docs} posts in {time.monotonic() - start:.0f}s", file=sys.stderr)
        p.start_worker()
        port = p.settings.web_port
        mix = QUERIES[args.queries]
        queries = [mix[i % len(mix)] for i in range(args.concurrency)]
        start = time.monotonic()
        with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
            results = list(pool.map(lambda q: one_request(port, q, args.client_timeout), queries))
        wall = time.monotonic() - start
        lingering = running_searches(p.es, p.settings.es_index)
        by_status: dict[str, list[float]] = defaultdict(list)
        for status, seconds, _ in results:
            by_status[status].append(seconds)
        headers = [retry for status, _, retry in results if status == "503"]
        print(f"{args.concurrency} concurrent queries over {args.docs} posts, all answered in {wall:.1f}s")
        for status, times in sorted(by_status.items()):
            print(f"  {status}: {len(times):3d}  median {statistics.median(times):6.2f}s  max {max(times):6.2f}s")
        print(f"  all: median {statistics.median(s for _, s, _ in results):.2f}s")
        print(f"  search tasks still running in Elasticsearch afterwards: {lingering}")
        deadline = time.monotonic() + 300
        while running_searches(p.es, p.settings.es_index) and time.monotonic() < deadline:
            time.sleep(1)
        print(f"  ... all gone {time.monotonic() - start - wall:.0f}s after the last answer")
        retry_after = [h for h in headers if h is not None]
        if retry_after:
            print(f"  503 answers carrying Retry-After: {len(retry_after)} (values {sorted(set(retry_after))})")
        if args.probe:
            probe(p, args.probe, args.concurrency)


if __name__ == "__main__":
    main()
