"""Where a post gets its sentiment: VADER for English (its exact numbers), ascolto-it-1 for
Italian, and a clearly marked VADER fallback for every other language.

Time per post is bounded whatever the text (``valence.bounded``): both scorers read at most
``PIECE_CHARS`` characters at once (VADER's time grows with the square of a text's length: 18 s
for one 100,000-character post). A longer text is cut into pieces at sentence ends (else at
spaces); at most ``MAX_PIECES`` of them, evenly spread over the text, are scored, and their scores
averaged weighted by length. Posts up to ``PIECE_CHARS`` characters, nearly all of them, get the
scorers' exact numbers; the indexed text always stays whole.
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from core.settings import Settings
from schemas.contracts import Sentiment
from streams.enrichers import sentiment_it as italian
from streams.enrichers.base import enricher
from streams.enrichers.sentiment_it import ItalianSentiment
from streams.enrichers.sentiment_model import load_models, most_likely
from streams.enrichers.vader_fast import FastVader
from streams.enrichers.valence import bounded, label_for, sentiment_record


def _sentiment(scores: dict[str, float], model: str) -> Sentiment:
    compound = scores["compound"]
    label = italian.label_for(compound) if model == italian.MODEL else label_for(compound)
    return sentiment_record(scores, label, model)


@enricher("sentiment", writes=("sentiment",), order=20)
class MultilingualSentiment:
    """Chooses the scorer by ``lang``; lexicons load once, when the chain is built.

    A trained model (``ASCOLTO_SENTIMENT_MODEL``, see ``ascolto train``) decides every post of its
    language, reading the rules' scores as features; the rules alone score the other languages.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self.vader: SentimentIntensityAnalyzer = FastVader()  # VADER's exact numbers, faster
        # The chain's own settings (tests, `ascolto eval`), not the process's: their neutral phrases count.
        self.italian = ItalianSentiment(vader=self.vader, settings=settings)
        self.vader_model = f"vader-{version('vaderSentiment')}"
        #: Marks scores for languages VADER was not made for.
        self.fallback_model = f"{self.vader_model}-fallback"
        #: Trained models by language; a missing, corrupt or outdated file stops the chain with one sentence.
        self.trained = load_models(settings.sentiment_model_paths) if settings else {}
        self.italian_by_rules = "it" not in self.trained

    def score(self, text: str, lang: str) -> Sentiment:
        if lang == "it" and self.italian_by_rules:
            return self.italian.sentiment(text)  # most posts: the record built in compiled code
        scores, model = self.rule_scores(text, lang)
        trained = self.trained.get(lang)
        if trained is None:
            return _sentiment(scores, model)
        probabilities = trained.polarity_scores(text, scores)
        sentiment = _sentiment(probabilities, trained.model)
        sentiment["label"] = most_likely(probabilities)  # the model's own decision, not compound's sign
        return sentiment

    def rule_scores(self, text: str, lang: str) -> tuple[dict[str, float], str]:
        """The rules' ``{'neg', 'neu', 'pos', 'compound'}`` for ``text`` and the name of the scorer that gave them."""
        if lang == "en":
            return bounded(self.vader.polarity_scores, text), self.vader_model
        if lang == "it":
            return bounded(self.italian.polarity_scores, text), self.italian.model
        if lang == "und":
            # Unsure of the language: prefer the Italian scorer when only its lexicon recognises something.
            italian = bounded(self.italian.polarity_scores, text)
            english = bounded(self.vader.polarity_scores, text)
            if italian["compound"] and not english["compound"]:
                return italian, self.italian.model
            return english, self.fallback_model
        return bounded(self.vader.polarity_scores, text), self.fallback_model

    def __call__(self, post: dict[str, Any]) -> dict[str, Sentiment]:
        return {"sentiment": self.score(post["text"], post.get("lang", "und"))}
