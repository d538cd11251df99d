"""FastVader gives vaderSentiment's exact numbers (it only rearranges the work)."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest
from vaderSentiment.vaderSentiment import BOOSTER_DICT, NEGATE, SPECIAL_CASES, SentimentIntensityAnalyzer

from streams.enrichers.vader_fast import FastVader

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def both() -> tuple[SentimentIntensityAnalyzer, FastVader]:
    return SentimentIntensityAnalyzer(), FastVader()


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "The service is GREAT but the app is awful!!!",
        "It was kind of good, not so bad at least",
        "never so happy, without doubt the best",
        "no good, no or bad options, the shit",
        "I don't like it :( but :) ok??",
        "Love it 😍😂 so much",
        "😔",
        "at least it works, very least helpful",
        "BAD bad Bad but GOOD",
        "@someone HA HA HA HA HA #hahahaha",
    ],
)
def test_rule_examples_score_as_vader(both: tuple[SentimentIntensityAnalyzer, FastVader], text: str) -> None:
    vader, fast = both
    assert fast.polarity_scores(text) == vader.polarity_scores(text)


def test_labelled_posts_score_as_vader(both: tuple[SentimentIntensityAnalyzer, FastVader]) -> None:
    vader, fast = both
    texts = []
    for path in sorted(DATA.glob("sentiment_*.csv")):
        with path.open(encoding="utf-8", newline="") as fh:
            texts += [row["text"] for row in csv.DictReader(fh)]
    assert texts
    assert [fast.polarity_scores(t) for t in texts] == [vader.polarity_scores(t) for t in texts]


def test_random_word_salads_score_as_vader(both: tuple[SentimentIntensityAnalyzer, FastVader]) -> None:
    """Lexicon words, boosters, negations, idiom parts and emoji in random order, case and punctuation."""
    vader, fast = both
    rng = random.Random(11)
    lexicon = list(vader.lexicon)
    modifiers = [*NEGATE, "no", "or", "nor", "least", "at", "very", "never", "so", "this", "without", "doubt", "but"]
    modifiers += [w for phrase in [*SPECIAL_CASES, *BOOSTER_DICT] for w in phrase.split()]
    emoji = [e for e in vader.emojis if len(e) == 1]
    for _ in range(3000):
        words = []
        for _ in range(rng.randint(0, 25)):
            r = rng.random()
            word = rng.choice(lexicon) if r < 0.35 else rng.choice(modifiers) if r < 0.85 else rng.choice(emoji)
            if rng.random() < 0.15:
                word = word.upper()
            if rng.random() < 0.1:
                word += rng.choice("!?.,:;'\"")
            words.append(word)
        text = rng.choice([" ", "  ", ""]).join(words)
        assert fast.polarity_scores(text) == vader.polarity_scores(text), text
