"""Enrichment chain speed on one core, side by side with vaderSentiment alone (prints figures only).

    python bench/enrichment.py [--posts 20000] [--profile]

Same texts for both: generated Italian and English posts plus the labelled dev sets. Reports
posts/s for VADER alone and for the full chain (language + sentiment + topics + entities +
duplicates, with its Prometheus timing), the share of each enricher, and with --profile the
functions where the time goes (cProfile).
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import io
import os
import pstats
import time
from pathlib import Path

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from connectors.generator import GeneratorSource
from core.settings import Settings
from streams.enrichers.chain import EnrichmentChain

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"


def corpus(n: int) -> list[dict]:
    posts = list(GeneratorSource(count=n, seed=42, italian_share=0.6))
    texts = []
    for name in ("sentiment_it_dev.csv", "sentiment_en_dev.csv"):
        if (DATA / name).exists():
            with (DATA / name).open(encoding="utf-8") as fh:
                texts += [row["text"] for row in csv.DictReader(fh)]
    # Real-looking posts replace the first generated texts (ids and times stay unique).
    for post, text in zip(posts, texts * (n // max(1, len(texts)) + 1), strict=False):
        if len(texts) and post["native_id"].endswith(tuple("02468")):
            post["text"] = text
    return posts


def rate(fn, items) -> float:
    start = time.perf_counter()
    for item in items:
        fn(item)
    return len(items) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--posts", type=int, default=20_000)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as a worker process uses

    posts = corpus(args.posts)
    texts = [p["text"] for p in posts]
    vader = SentimentIntensityAnalyzer()
    settings = Settings()
    chain = EnrichmentChain.from_names(settings.enricher_names, settings)
    # Warm caches (lazy models, folding tables) so that neither side pays set-up in the timing.
    for p in posts[:200]:
        chain.enrich(p)
        vader.polarity_scores(p["text"])

    best_vader = max(rate(vader.polarity_scores, texts) for _ in range(3))
    best_chain = max(rate(chain.enrich, posts) for _ in range(3))
    per = {}
    for step in chain.enrichers:
        start = time.perf_counter()
        work = dict(posts[0])
        for p in posts:
            work = {**p, "lang": "it" if p.get("lang_hint") == "it" else "en"}
            step(work)
        per[step.name] = time.perf_counter() - start
    total = sum(per.values())
    mean_len = sum(map(len, texts)) / len(texts)

    print(f"ascolto enrichment benchmark — {len(posts):,} posts (mean {mean_len:.0f} chars), one core")
    print(f"  vaderSentiment alone:                 {best_vader:10,.0f} posts/s")
    print(f"  full chain ({', '.join(chain.names)}): {best_chain:10,.0f} posts/s")
    print(f"  chain / vader:                        {best_chain / best_vader:10.2f}x")
    print("  share of the chain's time by enricher:")
    for name, secs in sorted(per.items(), key=lambda kv: -kv[1]):
        print(f"    {name:<12} {secs / total:6.1%}  ({secs / len(posts) * 1e6:6.1f} µs/post)")
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for p in posts:
            chain.enrich(p)
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(15)
        print("\n".join(out.getvalue().splitlines()[4:]))


if __name__ == "__main__":
    main()
