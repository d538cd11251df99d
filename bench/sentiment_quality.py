"""Sentiment quality on real and written posts, side by side with VADER alone (prints figures only).

    python bench/sentiment_quality.py [--no-trainer] [--json]

One row per labelled set and scorer: the SENTIPOLC 2016 training set (7,410 real Italian tweets,
read from ``../shared/data/sentipolc16/`` next to the repository; research use only, so never in
the repository: skipped with a sentence where absent) and the three sets in ``tests/data/``
(written for ascolto). Scorers:

* ascolto: the worker's configured enrichment chain as it runs (language detected, no hint);
* VADER alone: vaderSentiment's compound on the same texts, labelled at its authors' ±0.05;
* trainer (CV): ``ascolto train``'s cross-validated score on that set, where the trainer is
  installed (``ascolto.training`` and scikit-learn), else "not available".

Columns: posts (3-class), mixed posts left out of the 3-class scores, 3-class macro-F1, and the
official SENTIPOLC score (mean of the positive and negative tasks' F1, on all posts; for sets
with three classes only it is computed from their labels). VADER alone's time per post is
printed for reference.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from ascolto.evaluation import Labelled, chain_predictor, evaluate_many, read_dataset
from core.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DEV_SET = ROOT.parent / "shared" / "data" / "sentipolc16" / "train.csv"
WRITTEN = ROOT / "tests" / "data"
# (name, path, language the trainer is fitted for)
SETS = [
    ("SENTIPOLC 2016 train (real, it)", DEV_SET, "it"),
    ("tests/data it dev (written)", WRITTEN / "sentiment_it_dev.csv", "it"),
    ("tests/data it holdout (written)", WRITTEN / "sentiment_it_holdout.csv", "it"),
    ("tests/data en dev (written)", WRITTEN / "sentiment_en_dev.csv", "en"),
]
VADER_POSITIVE_AT, VADER_NEGATIVE_AT = 0.05, -0.05  # VADER's authors' thresholds, whatever ascolto uses


def vader_alone() -> Callable[[Sequence[str]], list[str]]:
    """A batch predictor with VADER alone."""
    vader = SentimentIntensityAnalyzer()

    def predict_many(texts: Sequence[str]) -> list[str]:
        compounds = [vader.polarity_scores(text)["compound"] for text in texts]
        return [
            "positive" if c >= VADER_POSITIVE_AT else "negative" if c <= VADER_NEGATIVE_AT else "neutral"
            for c in compounds
        ]

    return predict_many


def trainer_cv(posts: Sequence[Labelled], lang: str) -> tuple[float, float] | str:
    """The trainer's cross-validated (macro-F1, official) on the posts, or why it is not available."""
    try:
        from ascolto.training import Trainer  # type: ignore[attr-defined,unused-ignore]
    except ImportError as exc:
        return f"not available ({exc})"
    try:
        _, cv = Trainer(lang).train([(p.text, p.label) for p in posts], "bench", "bench/sentiment_quality.py")
    except Exception as exc:  # the trainer is another module's work: report, do not stop the table
        return f"not available ({type(exc).__name__}: {exc})"
    return cv.model.macro_f1, cv.model.official


def measure(with_trainer: bool) -> tuple[list[dict[str, Any]], list[str]]:
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    ascolto = chain_predictor(Settings())
    vader = vader_alone()
    warm_up = ["Che bella giornata, grazie!", "What a terrible day :("] * 50
    ascolto(warm_up), vader(warm_up)  # lazy models and caches load outside the timings
    for name, path, lang in SETS:
        if not path.is_file():
            notes.append(f"{name}: skipped, {path} is absent (the real dev set is not shipped with ascolto).")
            continue
        posts = read_dataset(path)
        for scorer, predict in (("ascolto", ascolto), ("VADER alone", vader)):
            start = time.perf_counter()
            report = evaluate_many(posts, predict)
            assert report.official is not None
            rows.append({
                "set": name, "scorer": scorer, "posts": report.total, "mixed": report.mixed,
                "macro_f1": report.macro_f1, "official": report.official.score,
                "us_per_post": 1e6 * (time.perf_counter() - start) / len(posts),
            })  # fmt: skip
        notes.append(
            f"{name}: VADER alone {rows[-1]['us_per_post']:.0f} µs per post, ascolto's whole chain "
            f"{rows[-2]['us_per_post']:.0f} µs (for speed, see bench/enrichment.py)."
        )
        if with_trainer:
            start = time.perf_counter()
            cv = trainer_cv(posts, lang)
            row = {"set": name, "scorer": "trainer (CV)", "posts": rows[-1]["posts"], "mixed": rows[-1]["mixed"]}
            if isinstance(cv, str):
                row.update(macro_f1=None, official=None, note=cv)
            else:
                row.update(macro_f1=cv[0], official=cv[1], seconds=round(time.perf_counter() - start, 1))
            rows.append(row)
    return rows, notes


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--no-trainer", action="store_true", help="skip the trainer's cross-validation (slow)")
    parser.add_argument("--json", action="store_true", help="rows as JSON lines instead of a table")
    args = parser.parse_args()
    rows, notes = measure(with_trainer=not args.no_trainer)
    if args.json:
        for row in rows:
            sys.stdout.buffer.write(orjson.dumps(row) + b"\n")
        return
    print(f"{'set':<34} {'scorer':<14} {'posts':>6} {'mixed':>6} {'macro-F1':>9} {'official':>9}")
    for row in rows:
        figures = (
            f"{row['macro_f1']:>9.3f} {row['official']:>9.3f}"
            if row["macro_f1"] is not None
            else f"  {row.get('note', 'not available')}"
        )
        print(f"{row['set']:<34} {row['scorer']:<14} {row['posts']:>6} {row['mixed']:>6} {figures}")
    for note in notes:
        print(note)


if __name__ == "__main__":
    main()
