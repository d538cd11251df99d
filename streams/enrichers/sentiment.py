"""Where a post gets its sentiment: VADER, with the numbers vaderSentiment itself returns."""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from ascolto.schemas.types import Sentiment, SentimentLabel
from ascolto.streams.enrichers.base import enricher

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


@enricher("sentiment", writes=("sentiment",), order=20)
class VaderSentiment:
    """English sentiment by vaderSentiment; the lexicon loads once, when the chain is built."""

    def __init__(self) -> None:
        self.analyzer = SentimentIntensityAnalyzer()
        self.model = f"vader-{version('vaderSentiment')}"

    def score(self, text: str) -> Sentiment:
        s = self.analyzer.polarity_scores(text)
        return {
            "compound": s["compound"],
            "pos": s["pos"],
            "neu": s["neu"],
            "neg": s["neg"],
            "label": label_for(s["compound"]),
            "model": self.model,
        }

    def __call__(self, post: dict[str, Any]) -> dict[str, Sentiment]:
        return {"sentiment": self.score(post["text"])}
