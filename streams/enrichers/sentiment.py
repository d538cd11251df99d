"""Where a post gets its sentiment: VADER for English (its exact numbers), ascolto-it-1 for
Italian, and a clearly marked VADER fallback for every other language."""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from schemas.contracts import Sentiment, SentimentLabel
from streams.enrichers.base import enricher
from streams.enrichers.sentiment_it import ItalianSentiment

#: VADER's customary thresholds on ``compound``.
POSITIVE_AT = 0.05
NEGATIVE_AT = -0.05


def label_for(compound: float) -> SentimentLabel:
    """positive / neutral / negative from a compound score (±0.05, as VADER's authors use)."""
    if compound >= POSITIVE_AT:
        return "positive"
    if compound <= NEGATIVE_AT:
        return "negative"
    return "neutral"


def _sentiment(scores: dict[str, float], model: str) -> Sentiment:
    return {
        "compound": scores["compound"],
        "pos": scores["pos"],
        "neu": scores["neu"],
        "neg": scores["neg"],
        "label": label_for(scores["compound"]),
        "model": model,
    }


@enricher("sentiment", writes=("sentiment",), order=20)
class MultilingualSentiment:
    """Chooses the scorer by ``lang``; lexicons load once, when the chain is built."""

    def __init__(self) -> None:
        self.vader = SentimentIntensityAnalyzer()
        self.italian = ItalianSentiment(vader=self.vader)
        self.vader_model = f"vader-{version('vaderSentiment')}"
        #: Marks scores for languages VADER was not made for.
        self.fallback_model = f"{self.vader_model}-fallback"

    def score(self, text: str, lang: str) -> Sentiment:
        if lang == "en":
            return _sentiment(self.vader.polarity_scores(text), self.vader_model)
        if lang == "it":
            return _sentiment(self.italian.polarity_scores(text), self.italian.model)
        if lang == "und":
            # Unsure of the language: prefer the Italian scorer when only its lexicon recognises something.
            italian = self.italian.polarity_scores(text)
            english = self.vader.polarity_scores(text)
            if italian["compound"] and not english["compound"]:
                return _sentiment(italian, self.italian.model)
            return _sentiment(english, self.fallback_model)
        return _sentiment(self.vader.polarity_scores(text), self.fallback_model)

    def __call__(self, post: dict[str, Any]) -> dict[str, Sentiment]:
        return {"sentiment": self.score(post["text"], post.get("lang", "und"))}
