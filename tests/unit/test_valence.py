"""valence.score_valence gives vaderSentiment's own numbers, bit for bit."""

from __future__ import annotations

import math
import random

import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from streams.enrichers.valence import round_to, score_valence

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


def test_round_to_is_pythons_round_bit_for_bit() -> None:
    rng = random.Random(29)
    values = [rng.uniform(-1, 1) for _ in range(100_000)]
    values += [rng.uniform(-1, 1) * 10.0 ** -rng.randint(0, 12) for _ in range(20_000)]
    # Near and at ties: (k + 0.5) / 1000 and / 10000 are rarely exact doubles, 0.0625 is.
    values += [(k + 0.5) / 10**d + e for k in range(-1000, 1000) for d in (3, 4) for e in (0.0, 1e-12, -1e-12, 1e-17)]
    values += [0.0, -0.0, 0.0625, -0.0625, 1e-300, -1e-300, 0.00049999999999, -0.00005, 1.0, -1.0, 5e5, 1e7, -1e7]
    values += [float("inf"), float("-inf")]
    for digits in (3, 4):
        for x in values:
            got, expected = round_to(x, digits), round(x, digits)
            assert got == expected and math.copysign(1, got) == math.copysign(1, expected), (x, digits, got, expected)
    assert math.isnan(round_to(float("nan"), 3))
