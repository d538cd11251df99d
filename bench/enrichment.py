"""Enrichment chain speed on one core, side by side with vaderSentiment alone (prints figures only).

    python bench/enrichment.py [--posts 10000] [--profile] [--no-source]

For Italian and for English, on the same texts: posts/s of VADER alone and of the configured chain
(language + sentiment + topics + entities + duplicates, with its Prometheus timing), run as the
worker runs it (``enrich_many`` over batches of ``ASCOLTO_ENRICH_BATCH_SIZE``), their ratio, and
each enricher's share of the chain's time. Italian texts are the real SENTIPOLC 2016 tweets from
``../shared/data`` when present (no hint, as a source that does not know the language), then
``tests/data`` and generated posts; English ones are ``tests/data`` and generated posts.
With ``--profile``, the functions where the chain's time goes (cProfile), per language. When the
enrichers are compiled (``ascolto compile``), the same measurement from source follows, in a
second process (``ASCOLTO_NATIVE=0``; one process cannot load both), unless ``--no-source``.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import io
import os
import pstats
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from ascolto.testing import make_post
from connectors.generator import GeneratorSource
from core.settings import Settings
from streams.enrichers import NATIVE
from streams.enrichers.chain import EnrichmentChain
from streams.enrichers.text import MATCH_CACHE_SIZE, MAYBE_EMOJI

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
DEV_SET = ROOT.parent / "shared" / "data" / "sentipolc16" / "train.csv"
ROUNDS = 7  # the best of several: a shared machine only ever slows a round down


def _texts(path: Path) -> list[str]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8", newline="") as fh:
        return [row["text"] for row in csv.DictReader(fh)]


def corpus(lang: str, n: int) -> list[dict[str, Any]]:
    """``n`` posts in ``lang``: real and labelled texts first (no hint), then generated posts (hinted)."""
    labelled = list(
        dict.fromkeys((_texts(DEV_SET) if lang == "it" else []) + _texts(DATA / f"sentiment_{lang}_dev.csv"))
    )
    posts: list[dict[str, Any]] = [
        dict(make_post(text, native_id=f"{lang}-{i}")) for i, text in enumerate(labelled[: n // 2 or n])
    ]
    # Distinct texts only: the chain caches per text (match_text), VADER alone does not.
    seen = {p["text"] for p in posts}
    for post in GeneratorSource(count=20 * n, seed=42, italian_share=0.5):
        if len(posts) >= n:
            break
        if post.get("lang_hint") == lang and post["text"] not in seen:
            seen.add(post["text"])
            posts.append(dict(post))
    return posts


def rate(fn: Callable[[Any], Any], items: Sequence[Any], per_item: bool = True) -> float:
    """Items per CPU second for ``fn`` over ``items`` (one call per item, or one per batch).

    CPU time of this process, not wall time: other processes on a shared machine would
    otherwise set the figures.
    """
    start = time.process_time()
    if per_item:
        for item in items:
            fn(item)
    else:
        fn(items)
    return len(items) / (time.process_time() - start)


def batched(chain: EnrichmentChain, posts: list[dict[str, Any]], size: int) -> Callable[[Any], None]:
    def run(_: Any) -> None:
        for start in range(0, len(posts), size):
            chain.enrich_many(posts[start : start + size])  # type: ignore[arg-type]

    return run


def shares(chain: EnrichmentChain, posts: list[dict[str, Any]], batch: int) -> dict[str, float]:
    """CPU seconds each enricher takes over ``posts`` (the sum of its best rounds), fed what the chain wrote."""
    enriched = [r for r in chain.enrich_many(posts) if isinstance(r, dict)]  # type: ignore[arg-type]
    best = dict.fromkeys(chain.names, float("inf"))
    for _ in range(ROUNDS):
        spent = dict.fromkeys(chain.names, 0.0)
        # Steps run in the chain's order over one batch at a time, as in the worker, so caches
        # shared between steps (match_text) serve them as they do in the chain.
        for start in range(0, len(enriched), batch):
            part = enriched[start : start + batch]
            for step in chain.enrichers:
                began = time.process_time()
                for post in part:
                    step(post)
                spent[step.name] += time.process_time() - began
        best = {name: min(best[name], spent[name]) for name in best}
    return best


def measure(lang: str, posts: list[dict[str, Any]], chain: EnrichmentChain, vader: Any, batch: int) -> float:
    texts = [p["text"] for p in posts]
    run_chain = batched(chain, posts, batch)
    # Warm lazy models and caches on other posts, then interleave the rounds so that both sides
    # meet the same load on a shared machine; the best round of each is reported.
    chain.enrich_many(corpus(lang, 200)[-100:])  # type: ignore[arg-type]
    best_vader = best_chain = 0.0
    for _ in range(ROUNDS):
        best_vader = max(best_vader, rate(vader.polarity_scores, texts))
        best_chain = max(best_chain, rate(run_chain, posts, per_item=False))
    spent = shares(chain, posts, batch)
    total = sum(spent.values())
    mean_len = sum(map(len, texts)) / len(texts)
    print(f"\n{lang}: {len(posts):,} posts ({len(set(texts)):,} distinct texts, mean {mean_len:.0f} chars)")
    # What the text-scanning enrichers meet: posts with emoji cost entities the most.
    marks = {"emoji": MAYBE_EMOJI.search, "#": lambda t: "#" in t, "@": lambda t: "@" in t, "URL": lambda t: "://" in t}
    print(
        "  with "
        + ", ".join(f"{name} {sum(1 for t in texts if has(t)) / len(texts):.0%}" for name, has in marks.items())
    )
    print(f"  vaderSentiment alone: {best_vader:8,.0f} posts/s")
    print(f"  full chain:           {best_chain:8,.0f} posts/s")
    print(f"  chain / vader:        {best_chain / best_vader:8.2f}x")
    print("  share of the chain's time by enricher:")
    for name, secs in sorted(spent.items(), key=lambda kv: -kv[1]):
        print(f"    {name:<12} {secs / total:6.1%}  ({secs / len(posts) * 1e6:6.1f} µs/post)")
    return best_chain / best_vader


def profile(lang: str, posts: list[dict[str, Any]], chain: EnrichmentChain, batch: int) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    batched(chain, posts, batch)(None)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(15)
    note = " (compiled code shows as one call: ASCOLTO_NATIVE=0 to see inside)" if NATIVE == "compiled" else ""
    print(f"\n{lang}: where the chain's time goes (cProfile, tottime){note}")
    print("\n".join(out.getvalue().splitlines()[4:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--posts", type=int, default=10_000, help="posts per language")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--no-source", action="store_true", help="skip the from-source comparison")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, as a worker process uses

    settings = Settings()
    vader = SentimentIntensityAnalyzer()
    chain = EnrichmentChain.from_names(settings.enricher_names, settings)
    print(f"ascolto enrichment benchmark, one core: chain {', '.join(chain.names)}")
    print(f"batches of {settings.enrich_batch_size}, best of {ROUNDS} interleaved rounds")
    modes = {
        "compiled": "hot modules compiled by mypyc (ASCOLTO_NATIVE=0 for the sources)",
        "source": "from source (`make compile` builds the compiled ones)",
        "stale": "from source: the compiled build is out of date (`make compile`)",
    }
    print(f"enrichers: {modes[NATIVE]}")
    if not DEV_SET.exists():
        print(f"(real Italian posts not found at {DEV_SET}: tests/data and generated posts only)")
    corpora = {lang: corpus(lang, args.posts) for lang in ("it", "en")}
    if min(map(len, corpora.values())) <= MATCH_CACHE_SIZE:
        print(f"(at most {MATCH_CACHE_SIZE} posts fit the match_text cache: later rounds are flattered; use more)")
    ratios = {lang: measure(lang, posts, chain, vader, settings.enrich_batch_size) for lang, posts in corpora.items()}
    print("\nchain / vader: " + ", ".join(f"{lang} {ratio:.2f}x" for lang, ratio in ratios.items()))
    if NATIVE == "compiled" and not args.no_source:
        print("the same chain from source (ASCOLTO_NATIVE=0, another process)...", flush=True)
        source = subprocess.run(
            [sys.executable, __file__, "--posts", str(args.posts), "--no-source"],
            env={**os.environ, "ASCOLTO_NATIVE": "0"},
            capture_output=True,
            text=True,
            check=True,
        )
        print("from source: " + source.stdout.strip().splitlines()[-1])
    if args.profile:
        for lang, posts in corpora.items():
            profile(lang, posts, chain, settings.enrich_batch_size)


if __name__ == "__main__":
    main()
