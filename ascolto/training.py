"""Fitting a team's own sentiment model (``ascolto train``) and measuring it with k-fold cross-validation.

Needs scikit-learn (``pip install 'ascolto[train]'``); the worker that uses the model needs only
numpy (``streams.enrichers.sentiment_model``). Every fold is scored by that numpy code, so the
cross-validated figures are those of the model the worker runs.
"""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from ascolto.evaluation import macro_f1, read_dataset
from ascolto.evaluation import official_score as official
from core.errors import AscoltoError
from schemas.contracts import Sentiment
from streams.enrichers.sentiment import MultilingualSentiment
from streams.enrichers.sentiment_model import (
    CLASSES,
    FEATURE_VERSION,
    Block,
    SentimentModel,
    most_likely,
    rule_features,
    text_grams,
    tokens,
)

#: SENTIPOLC's posts that are both positive and negative: kept for its official score, left out of 3-class ones.


@dataclass(frozen=True)
class Params:
    """The trainer's hyper-parameters (recorded in the model file)."""

    c: float = 2.0
    min_df: int = 2
    class_weight: str | None = "balanced"
    folds: int = 5
    seed: int = 13

    def as_dict(self) -> dict[str, Any]:
        return {
            "c": self.c,
            "min_df": self.min_df,
            "class_weight": self.class_weight,
            "folds": self.folds,
            "seed": self.seed,
            "word_ngrams": [1, 2],
            "char_ngrams": [2, 5],
            "tf": "raw count × smooth idf / √(Σ idf²)",
        }


@dataclass
class Scores:
    """3-class macro-F1 (mixed posts left out) and SENTIPOLC's official score (all posts)."""

    macro_f1: float
    official: float


@dataclass
class CrossValidation:
    model: Scores
    rules: Scores
    folds: int
    per_fold: list[dict[str, float]] = field(default_factory=list)


def _sklearn() -> tuple[Any, Any, Any, Any]:
    try:
        feature_text = importlib.import_module("sklearn.feature_extraction.text")
        linear = importlib.import_module("sklearn.linear_model")
        selection = importlib.import_module("sklearn.model_selection")
        sparse = importlib.import_module("scipy.sparse")
    except ImportError:
        raise AscoltoError(
            "Training needs scikit-learn: install it with `pip install 'ascolto[train]'` and run `ascolto train` again."
        ) from None
    return feature_text.CountVectorizer, linear.LogisticRegression, selection.StratifiedKFold, sparse


def read_examples(path: Path, fmt: str, text_column: str, label_column: str) -> list[tuple[str, str]]:
    """(text, label) pairs from a CSV/TSV/JSONL with a label column (``fmt="csv"``) or a SENTIPOLC file
    (``fmt="sentipolc"``, mixed posts labelled :data:`MIXED`)."""
    dataset = read_dataset(path, "sentipolc" if fmt == "sentipolc" else "labels", text_column, label_column)
    return [(post.text, post.label) for post in dataset]


def official_score(gold: Sequence[str], predicted: Sequence[str]) -> float:
    """SENTIPOLC's polarity score (:func:`ascolto.evaluation.official_score`), as one number."""
    return official(gold, predicted).score


class Trainer:
    """Fits models on labelled posts of one language, reading the rules' scores through the sentiment enricher."""

    def __init__(self, lang: str, params: Params | None = None) -> None:
        self.lang = lang
        self.params = params or Params()
        self.sentiment = MultilingualSentiment()

    def prepare(self, texts: Sequence[str]) -> tuple[list[tuple[list[str], list[str]]], np.ndarray, list[str]]:
        """Each text's (word grams, char grams), its rule features, and the rules' own labels."""
        grams = [text_grams(tokens(text)) for text in texts]
        scored = [self.sentiment.score(text, self.lang) for text in texts]
        features = np.asarray([rule_features(_numbers(s)) for s in scored], dtype=np.float64)
        return grams, features, [s["label"] for s in scored]

    def fit(
        self,
        grams: Sequence[tuple[list[str], list[str]]],
        rules: np.ndarray,
        labels: Sequence[str],
        meta: dict[str, Any],
    ) -> SentimentModel:
        """A model fitted on the posts whose label is one of :data:`CLASSES` (mixed ones are skipped)."""
        counter, logistic, _, sparse = _sklearn()
        keep = [i for i, label in enumerate(labels) if label in CLASSES]
        if len({labels[i] for i in keep}) < 2:
            raise AscoltoError("Training needs labelled posts of at least two classes; add examples and retry.")
        vectorizers = []
        blocks = []
        for part in (0, 1):
            vec = counter(analyzer=_identity, min_df=self.params.min_df, dtype=np.float64)
            try:
                counts = vec.fit_transform([grams[i][part] for i in keep])
            except ValueError:  # too few posts for min_df: nothing would be kept
                raise AscoltoError(
                    f"Too few labelled posts to learn from (no n-gram occurs in {self.params.min_df} of them); "
                    "add examples and retry."
                ) from None
            idf = np.log((1 + counts.shape[0]) / (1 + counts.getnnz(axis=0))) + 1  # scikit-learn's smooth idf
            # count × idf over √(Σ idf² per occurrence): the norm sentiment_model splits over words.
            norm = np.sqrt(counts @ (idf**2))
            scale = np.divide(1.0, norm, out=np.zeros_like(norm), where=norm > 0)
            blocks.append(sparse.diags(scale) @ counts @ sparse.diags(idf))
            vectorizers.append((vec, idf))
        x = sparse.hstack([*blocks, sparse.csr_matrix(rules[keep])], format="csr")
        y = [labels[i] for i in keep]
        clf = logistic(C=self.params.c, class_weight=self.params.class_weight, max_iter=2000)
        clf.fit(x, y)
        weights = np.zeros((x.shape[1], len(CLASSES)))
        for row, cls in enumerate(clf.classes_):
            # Two classes only: scikit-learn keeps one row, the second class's logit against the first.
            source = clf.coef_[0] * (1 if row else -1) / 2 if len(clf.classes_) == 2 else clf.coef_[row]
            weights[:, CLASSES.index(cls)] = source
        intercept = np.full(len(CLASSES), -1e3)  # a class absent from the labels is never predicted
        for row, cls in enumerate(clf.classes_):
            value = clf.intercept_[0] * (1 if row else -1) / 2 if len(clf.classes_) == 2 else clf.intercept_[row]
            intercept[CLASSES.index(cls)] = value
        out: list[Block] = []
        start = 0
        for vec, idf in vectorizers:
            terms = vec.get_feature_names_out().tolist()
            out.append(Block({t: j for j, t in enumerate(terms)}, idf, weights[start : start + len(terms)]))
            start += len(terms)
        return SentimentModel(meta, out[0], out[1], weights[start:], intercept)

    def cross_validate(
        self, grams: Sequence[tuple[list[str], list[str]]], rules: np.ndarray, labels: Sequence[str],
        texts: Sequence[str], rule_labels: Sequence[str],
    ) -> CrossValidation:  # fmt: skip
        """k-fold scores of the model and of the rules alone on the same held-out posts."""
        _, _, kfold, _ = _sklearn()
        counts = Counter(labels)
        folds = min(self.params.folds, min(counts.values()))
        if folds < 2:
            raise AscoltoError("Cross-validation needs at least two posts of each label; add examples and retry.")
        splitter = kfold(n_splits=folds, shuffle=True, random_state=self.params.seed)
        predicted = [""] * len(labels)
        per_fold = []
        for train, test in splitter.split(np.zeros(len(labels)), labels):
            model = self.fit([grams[i] for i in train], rules[train], [labels[i] for i in train], self._meta("cv", 0))
            for i in test:
                predicted[i] = most_likely(model.polarity_scores(texts[i], _as_scores(rules[i])))
            gold = [labels[i] for i in test]
            per_fold.append({"macro_f1": macro_f1(gold, [predicted[i] for i in test])})
        return CrossValidation(
            model=Scores(macro_f1(labels, predicted), official_score(labels, predicted)),
            rules=Scores(macro_f1(labels, rule_labels), official_score(labels, rule_labels)),
            folds=folds,
            per_fold=per_fold,
        )

    def _meta(self, name: str, size: int, **extra: Any) -> dict[str, Any]:
        return {
            "feature_version": FEATURE_VERSION,
            "lang": self.lang,
            "name": name,
            "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "posts": size,
            "rules": self.sentiment.rule_scores("", self.lang)[1],
            "params": self.params.as_dict(),
            **extra,
        }

    def train(
        self, examples: Sequence[tuple[str, str]], name: str, source: str
    ) -> tuple[SentimentModel, CrossValidation]:
        """Cross-validate, then fit on every post; the model's metadata records the data and the CV scores."""
        texts = [text for text, _ in examples]
        labels = [label for _, label in examples]
        grams, rules, rule_labels = self.prepare(texts)
        cv = self.cross_validate(grams, rules, labels, texts, rule_labels)
        meta = self._meta(
            name,
            len(examples),
            source=source,
            class_counts=dict(sorted(Counter(labels).items())),
            cv={
                "folds": cv.folds,
                "macro_f1": round(cv.model.macro_f1, 4),
                "official": round(cv.model.official, 4),
                "rules_macro_f1": round(cv.rules.macro_f1, 4),
                "rules_official": round(cv.rules.official, 4),
            },
        )
        return self.fit(grams, rules, labels, meta), cv


def _identity(grams: list[str]) -> list[str]:
    return grams


def _numbers(sentiment: Sentiment) -> dict[str, float]:
    return {key: sentiment[key] for key in ("compound", "pos", "neu", "neg")}


def _as_scores(row: np.ndarray) -> dict[str, float]:
    # rule_features() puts compound, pos, neu, neg first.
    return {"compound": float(row[0]), "pos": float(row[1]), "neu": float(row[2]), "neg": float(row[3])}
