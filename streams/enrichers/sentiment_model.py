"""A team's own sentiment model (``ascolto train``), scored with a few lines of numpy.

The model is word (1–2) and character (2–5, inside words) n-gram TF-IDF plus the rule scorer's
own outputs, fed to a 3-class logistic regression. Training (``ascolto.training``) may use
scikit-learn; scoring here is plain Python over tables numpy loads from the model file.

Each block's vector is raw count × idf divided by √(Σ idf²) over the text's gram occurrences (the
L2 norm when no gram repeats). Unlike the usual L2 norm this splits over words, so a word's
character grams are summed once and remembered: a post costs a few dozen additions.

A model file is a numpy ``.npz`` read with ``allow_pickle=False``: loading it runs no code. It
records the :data:`FEATURE_VERSION` it was built for; a file of another version is refused, since
the same numbers would mean other features.
"""

from __future__ import annotations

import json
import math
import re
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import ConfigError
from schemas.contracts import SentimentLabel
from streams.enrichers.text import fold, squeeze_repeats
from streams.enrichers.valence import label_for

#: Bump whenever :func:`text_grams` or :func:`rule_features` change what a column means.
FEATURE_VERSION = 1
#: Class order of the model's outputs (scikit-learn sorts the labels this way too).
CLASSES: tuple[SentimentLabel, SentimentLabel, SentimentLabel] = ("negative", "neutral", "positive")
#: Characters of a text the model reads; the rest of a very long post is not scored (time stays bounded).
MAX_CHARS = 2000

#: Words whose character columns are remembered (a few MB); the memo restarts when full.
_CACHE_WORDS = 200_000

_URL = re.compile(r"https?://\S+|www\.\S+")
_MENTION = re.compile(r"@\w+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
# Words (hashtags keep their '#', mentions their '@'), and each other visible character alone: '!', emoji.
_TOKEN = re.compile(r"[#@]?\w+|[^\w\s]")


class ModelError(ConfigError):
    """A model file that cannot be used: missing, corrupt, or built for other features."""


def tokens(text: str) -> list[str]:
    """The words and symbols the model sees: folded, URLs and mentions as placeholders, numbers as 0."""
    text = _URL.sub(" httpurl ", text[:MAX_CHARS])
    text = _MENTION.sub(" @user ", text)
    text = squeeze_repeats(_NUMBER.sub("0", fold(text)))
    out: list[str] = []
    for tok in _TOKEN.findall(text):
        if tok[0] == "#" and len(tok) > 1:
            out.append(tok)  # the tag itself, and its word as a word
            tok = tok[1:]
        out.append(tok)
    return out


def word_grams(words: list[str]) -> list[str]:
    """Word 1- and 2-grams."""
    return [*words, *(f"{a} {b}" for a, b in pairwise(words))]


def char_grams(word: str) -> list[str]:
    """Character 2- to 5-grams of a word padded with spaces; none for hashtags and symbols."""
    if word[0] == "#" or not word[0].isalnum():
        return []
    padded = f" {word} "
    size = len(padded)
    return [padded[i : i + n] for n in (2, 3, 4, 5) for i in range(size - n + 1)]


def text_grams(words: list[str]) -> tuple[list[str], list[str]]:
    """(word 1- and 2-grams, character 2- to 5-grams of each word): the two TF-IDF blocks' terms."""
    return word_grams(words), [gram for word in words for gram in char_grams(word)]


def rule_features(rules: Mapping[str, float]) -> list[float]:
    """The rule scorer's compound, pos, neu, neg and its label as one-hot (negative, neutral, positive)."""
    compound = float(rules["compound"])
    one_hot = [0.0, 0.0, 0.0]
    one_hot[CLASSES.index(label_for(compound))] = 1.0  # VADER's ±0.05, whatever the scorer
    return [compound, float(rules["pos"]), float(rules["neu"]), float(rules["neg"]), *one_hot]


RULE_FEATURES = 7


def most_likely(scores: Mapping[str, float]) -> SentimentLabel:
    """The class of the highest probability in :meth:`SentimentModel.polarity_scores` (ties: neutral first)."""
    order = ((scores["neu"], 1), (scores["neg"], 0), (scores["pos"], 2))
    return CLASSES[max(order, key=lambda pair: pair[0])[1]]


def _pack(terms: Iterable[str]) -> np.ndarray:
    # One UTF-8 byte string, newline-separated (no gram holds a newline): small, and no pickle.
    return np.frombuffer("\n".join(terms).encode("utf-8"), dtype=np.uint8)


def _unpack(data: np.ndarray) -> list[str]:
    raw = data.tobytes().decode("utf-8")
    return raw.split("\n") if raw else []


@dataclass
class Block:
    """One TF-IDF block: term → column, the columns' idf, and their weights per class (columns × 3)."""

    index: dict[str, int]
    idf: np.ndarray
    weights: np.ndarray

    def __post_init__(self) -> None:
        # Per column: idf × its weights for each class, and idf² (its share of the norm). Plain floats:
        # a post touches a few dozen columns, where Python sums beat numpy's per-call cost.
        self.idf = self.idf.astype(np.float32).astype(np.float64)
        self.weights = self.weights.astype(np.float32).astype(np.float64)
        table = np.column_stack([self.weights * self.idf[:, None], self.idf**2])
        self.rows: list[tuple[float, float, float, float]] = [tuple(row) for row in table.tolist()]

    def sums(self, columns: Iterable[int]) -> tuple[float, float, float, float]:
        """Σ idf·w per class and Σ idf² over the columns' occurrences."""
        a = b = c = q = 0.0
        rows = self.rows
        for j in columns:
            ra, rb, rc, rq = rows[j]
            a += ra
            b += rb
            c += rc
            q += rq
        return a, b, c, q


def block_logits(sums: tuple[float, float, float, float]) -> tuple[float, float, float]:
    """A block's logits: its TF-IDF vector's dot with the weights, divided by the norm the module docstring defines."""
    a, b, c, q = sums
    if not q:
        return 0.0, 0.0, 0.0
    norm = math.sqrt(q)
    return a / norm, b / norm, c / norm


class SentimentModel:
    """A trained model: :meth:`probabilities` of (negative, neutral, positive) for a text and its rule scores."""

    def __init__(
        self, meta: dict[str, Any], words: Block, chars: Block, rule_weights: np.ndarray, intercept: np.ndarray
    ) -> None:
        self.meta = meta
        self.words = words
        self.chars = chars
        self.rule_weights = rule_weights.astype(np.float32).astype(np.float64)
        self.intercept = intercept.astype(np.float32).astype(np.float64)
        self._rule_rows = self.rule_weights.tolist()
        self._intercept = self.intercept.tolist()
        self.lang: str = meta["lang"]
        #: What ``sentiment.model`` says when this model decided.
        self.model = f"trained:{meta['name']}@{meta['trained_at'][:10]}"
        # Word → the sums of its character grams: words recur, so most posts need no character slicing.
        self._char_sums: dict[str, tuple[float, float, float, float]] = {}

    def _chars_of(self, word: str) -> tuple[float, float, float, float]:
        sums = self._char_sums.get(word)
        if sums is None:
            if len(self._char_sums) >= _CACHE_WORDS:
                self._char_sums.clear()
            get = self.chars.index.get
            sums = self.chars.sums(j for j in map(get, char_grams(word)) if j is not None)
            self._char_sums[word] = sums
        return sums

    def logits(self, text: str, rules: Mapping[str, float]) -> list[float]:
        """The unnormalised log-probabilities of (negative, neutral, positive)."""
        words = tokens(text)
        get = self.words.index.get
        word_part = block_logits(self.words.sums(j for j in map(get, word_grams(words)) if j is not None))
        a = b = c = q = 0.0
        for word in words:
            ra, rb, rc, rq = self._chars_of(word)
            a += ra
            b += rb
            c += rc
            q += rq
        char_part = block_logits((a, b, c, q))
        out = [i + w + ch for i, w, ch in zip(self._intercept, word_part, char_part, strict=True)]
        for value, row in zip(rule_features(rules), self._rule_rows, strict=True):
            if value:
                out = [o + value * r for o, r in zip(out, row, strict=True)]
        return out

    def probabilities(self, text: str, rules: Mapping[str, float]) -> list[float]:
        """P(negative), P(neutral), P(positive) for ``text`` given the rules' scores of it."""
        logits = self.logits(text, rules)
        top = max(logits)
        exp = [math.exp(v - top) for v in logits]
        total = sum(exp)
        return [e / total for e in exp]

    def polarity_scores(self, text: str, rules: Mapping[str, float]) -> dict[str, float]:
        """``{'neg', 'neu', 'pos', 'compound'}``: the class probabilities, and pos − neg as the compound."""
        neg, neu, pos = (round(p, 4) for p in self.probabilities(text, rules))
        return {"neg": neg, "neu": neu, "pos": pos, "compound": round(pos - neg, 4)}

    def save(self, path: Path) -> None:
        """Write the model as a compressed ``.npz`` (numbers and UTF-8 bytes only)."""
        np.savez_compressed(
            path,
            meta=np.frombuffer(json.dumps(self.meta, ensure_ascii=False).encode("utf-8"), dtype=np.uint8),
            word_terms=_pack(self.words.index),
            word_idf=self.words.idf.astype(np.float32),
            word_weights=self.words.weights.astype(np.float32),
            char_terms=_pack(self.chars.index),
            char_idf=self.chars.idf.astype(np.float32),
            char_weights=self.chars.weights.astype(np.float32),
            rule_weights=self.rule_weights.astype(np.float32),
            intercept=self.intercept.astype(np.float32),
        )

    @classmethod
    def load(cls, path: Path) -> SentimentModel:
        """Read a model written by :meth:`save`; a missing, corrupt or other-version file raises :class:`ModelError`."""
        if not path.is_file():
            raise ModelError(f"No sentiment model file at {path}; fix ASCOLTO_SENTIMENT_MODEL or run `ascolto train`.")
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(data["meta"].tobytes().decode("utf-8"))
                version = meta.get("feature_version")
                if version != FEATURE_VERSION:
                    raise ModelError(
                        f"{path} is a sentiment model for feature version {version}, this ascolto reads version "
                        f"{FEATURE_VERSION}; retrain it with `ascolto train`."
                    )
                words = _block(data, "word")
                chars = _block(data, "char")
                rule_weights = data["rule_weights"].astype(np.float64)
                intercept = data["intercept"].astype(np.float64)
                if not {"lang", "name", "trained_at"} <= meta.keys():
                    raise KeyError("meta")
        except ModelError:
            raise
        except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
            raise ModelError(
                f"{path} is not a readable ascolto sentiment model ({type(exc).__name__}); "
                "write it again with `ascolto train`."
            ) from None
        if rule_weights.shape != (RULE_FEATURES, len(CLASSES)) or intercept.shape != (len(CLASSES),):
            raise ModelError(f"{path} has weights of the wrong shape; write it again with `ascolto train`.")
        return cls(meta, words, chars, rule_weights, intercept)


def _block(data: Mapping[str, np.ndarray], prefix: str) -> Block:
    terms = _unpack(data[f"{prefix}_terms"])
    idf = data[f"{prefix}_idf"].astype(np.float64)
    weights = data[f"{prefix}_weights"].astype(np.float64)
    if idf.shape != (len(terms),) or weights.shape != (len(terms), len(CLASSES)):
        raise ValueError(f"{prefix} block shapes disagree")
    return Block({term: j for j, term in enumerate(terms)}, idf, weights)


def load_models(paths: Iterable[Path]) -> dict[str, SentimentModel]:
    """Language → model, from the files of ``ASCOLTO_SENTIMENT_MODEL``; two models for one language are refused."""
    models: dict[str, SentimentModel] = {}
    for path in paths:
        model = SentimentModel.load(path)
        if model.lang in models:
            raise ModelError(
                f"ASCOLTO_SENTIMENT_MODEL names two models for language {model.lang!r}; keep one per language."
            )
        models[model.lang] = model
    return models
