"""Language detection on real and labelled posts: how often ``lang`` is right, with and without a hint.

    python bench/language.py

Reads the SENTIPOLC 2016 training set from ``../shared/data/sentipolc16/train.csv`` (all Italian;
skipped when absent) and ``tests/data/sentiment_{it,en}_dev.csv``. For each set it prints the
share of posts detected as the right language with no hint, with the right hint, and with the
wrong hint (how often clear text overrides a source that mislabels it; short posts rightly keep
the hint, so this share is a floor for what the text says).
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from core.settings import Settings
from streams.enrichers.language import LanguageDetector

ROOT = Path(__file__).resolve().parents[1]
DEV_SET = ROOT.parent / "shared" / "data" / "sentipolc16" / "train.csv"


def texts(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as fh:
        return [row["text"] for row in csv.DictReader(fh)]


def share(found: list[str], lang: str) -> float:
    return sum(1 for f in found if f == lang) / len(found)


def main() -> None:
    settings = Settings()
    detector = LanguageDetector(settings.language_list, settings.language_threshold)
    sets = [
        ("tests/data Italian", "it", ROOT / "tests" / "data" / "sentiment_it_dev.csv"),
        ("tests/data English", "en", ROOT / "tests" / "data" / "sentiment_en_dev.csv"),
    ]
    if DEV_SET.exists():
        sets.insert(0, ("SENTIPOLC 2016 train", "it", DEV_SET))
    else:
        print(f"(dev set not found at {DEV_SET}: skipped)")
    print(f"{'set':<22} {'posts':>6} {'no hint':>8} {'right hint':>11} {'wrong hint':>11}  most common wrong (no hint)")
    for name, lang, path in sets:
        items = texts(path)
        wrong_hint = "en" if lang == "it" else "it"
        plain = [detector.detect(t) for t in items]
        hinted = [detector.detect(t, hint=lang) for t in items]
        misled = [detector.detect(t, hint=wrong_hint) for t in items]
        others = Counter(f for f in plain if f != lang).most_common(3)
        print(
            f"{name:<22} {len(items):>6} {share(plain, lang):>8.1%} {share(hinted, lang):>11.1%} "
            f"{share(misled, lang):>11.1%}  " + ", ".join(f"{k} {v}" for k, v in others)
        )


if __name__ == "__main__":
    main()
