"""valence.score_valence gives vaderSentiment's own numbers, bit for bit."""

from __future__ import annotations

import random

import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from streams.enrichers.valence import score_valence

TEXTS = ["", "ok", "bene!", "no!!!!!!", "davvero??", "ma come???", "cosa?!?!?!?!", "?", "!?"]


@pytest.fixture(scope="module")
def vader() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


def test_no_scores_is_all_zero(vader: SentimentIntensityAnalyzer) -> None:
    assert score_valence([], "bene!") == vader.score_valence([], "bene!") == dict.fromkeys(
        ("neg", "neu", "pos", "compound"), 0.0
    )


def test_random_scores_and_punctuation_give_the_librarys_numbers(vader: SentimentIntensityAnalyzer) -> None:
    rng = random.Random(13)
    for _ in range(20_000):
        # Words score 0 (as ints, as VADER appends them) or a valence; emphasis comes from the text.
        scores: list[float] = [
            rng.choice([0, 0, 0, 0.0, round(rng.uniform(-4.5, 4.5), rng.choice([1, 3, 6]))])
            for _ in range(rng.randint(1, 30))
        ]
        text = rng.choice(TEXTS) * rng.randint(1, 3)
        assert score_valence(scores, text) == vader.score_valence(scores, text), (scores, text)


def test_a_long_run_of_strong_words(vader: SentimentIntensityAnalyzer) -> None:
    for scores in ([4.0] * 400, [-4.0] * 400, [4.0, -4.0] * 200):
        assert score_valence(scores, "!!!!") == vader.score_valence(scores, "!!!!")
