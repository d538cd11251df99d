"""The Italian scorer's shortcuts give the numbers the full rules give."""

from __future__ import annotations

import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from core.settings import Settings
from streams.enrichers.sentiment_it import ItalianSentiment


@pytest.fixture(scope="module")
def scorer() -> ItalianSentiment:
    return ItalianSentiment(settings=Settings())


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Domani alle 10 la conferenza stampa del sindaco a Palazzo Marino", 11),
        ("RT @agenzia: oggi il consiglio comunale http://t.co/abc", 4),
        ("@mario ci vediamo giovedì?", 3),
    ],
)
def test_a_post_without_any_valence_scores_as_vader_aggregates_zeros(
    scorer: ItalianSentiment, text: str, words: int
) -> None:
    assert scorer.polarity_scores(text) == SentimentIntensityAnalyzer().score_valence([0.0] * words, text)


@pytest.mark.parametrize("text", ["", "   ", "@mario", "http://t.co/abc"])
def test_a_post_without_words_scores_zero(scorer: ItalianSentiment, text: str) -> None:
    assert scorer.polarity_scores(text) == {"neg": 0.0, "neu": 0.0, "pos": 0.0, "compound": 0.0}


@pytest.mark.parametrize(
    "text",
    [
        "allo sportello non risponde nessuno",  # a negated service verb, no lexicon word
        "sono in coda da 3 ore allo sportello",  # waiting told in numbers
        "ho mandato 4 pec all'ufficio",  # repeats told in numbers
    ],
)
def test_complaints_without_a_lexicon_word_still_count(scorer: ItalianSentiment, text: str) -> None:
    assert scorer.polarity_scores(text)["compound"] < 0
