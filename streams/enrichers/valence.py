"""VADER's aggregation of word scores into ``{'neg', 'neu', 'pos', 'compound'}``, long texts
scored in bounded pieces (:func:`bounded`), and a post's sentiment record with its label, compiled.

The same arithmetic as vaderSentiment 3.3.2's ``SentimentIntensityAnalyzer.score_valence`` (and its
``normalize``, ``_punctuation_emphasis`` and ``_sift_sentiment_scores``), in the same order, so the numbers
are the library's to the last bit (``tests/unit/test_valence.py`` compares them). It lives here rather than
being called on the library because this module is compiled with mypyc (``native.py``): the Italian scorer
and FastVader call it for every post that has a word with a valence.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from schemas.contracts import Sentiment, SentimentLabel

#: VADER's customary label thresholds on ``compound`` (the Italian scorer has its own).
POSITIVE_AT = 0.05
NEGATIVE_AT = -0.05
#: VADER's normalisation constant (``normalize(score, alpha=15)``).
ALPHA = 15.0


def round_to(x: float, digits: int) -> float:
    """``round(x, digits)``, exactly, without Python's decimal conversion for values away from a tie.

    Python rounds the exact binary value to a decimal string, then reads it back. For ``|x * 10**digits|``
    up to a million the product's rounding error (under 1e-10) cannot cross a half unless the product is
    within 1e-6 of one; there Python itself decides. Elsewhere the nearest integer ``k`` is the same, and
    ``k / 10**digits`` is the double nearest to that decimal, which is what Python returns; a zero keeps
    the sign of ``x``, as Python's does.
    """
    scale = 10.0**digits
    y = x * scale
    if not abs(y) <= 1e6:  # large, infinite or NaN
        return round(x, digits)
    low = float(math.floor(y))
    frac = y - low
    if abs(frac - 0.5) <= 1e-6:
        return round(x, digits)
    k = low + 1.0 if frac > 0.5 else low
    return k / scale if k else math.copysign(0.0, x)


def normalize(score: float) -> float:
    """``score / sqrt(score² + 15)``, clamped to [-1, 1]."""
    norm_score = score / math.sqrt((score * score) + ALPHA)
    if norm_score < -1.0:
        return -1.0
    if norm_score > 1.0:
        return 1.0
    return norm_score


def punctuation_emphasis(text: str) -> float:
    """What exclamation marks (up to 4) and question marks (2 or more) add to a post's intensity."""
    ep_count = min(text.count("!"), 4)
    qm_count = text.count("?")
    qm_amplifier = 0.0
    if qm_count > 1:
        qm_amplifier = qm_count * 0.18 if qm_count <= 3 else 0.96
    return ep_count * 0.292 + qm_amplifier


def score_valence(sentiments: list[float], text: str) -> dict[str, float]:
    """VADER's ``score_valence``: the post's scores from its words' (and emoji's) valences."""
    if not sentiments:
        return {"neg": 0.0, "neu": 0.0, "pos": 0.0, "compound": 0.0}
    sum_s = float(sum(sentiments))
    amplifier = punctuation_emphasis(text)
    if sum_s > 0:
        sum_s += amplifier
    elif sum_s < 0:
        sum_s -= amplifier
    compound = normalize(sum_s)
    pos_sum = 0.0
    neg_sum = 0.0
    neu_count = 0
    for score in sentiments:
        if score > 0:
            pos_sum += score + 1  # compensates for neutral words, counted as 1
        if score < 0:
            neg_sum += score - 1
        if score == 0:
            neu_count += 1
    if pos_sum > math.fabs(neg_sum):
        pos_sum += amplifier
    elif pos_sum < math.fabs(neg_sum):
        neg_sum -= amplifier
    total = pos_sum + math.fabs(neg_sum) + neu_count
    return {
        "neg": round_to(math.fabs(neg_sum / total), 3),
        "neu": round_to(math.fabs(neu_count / total), 3),
        "pos": round_to(math.fabs(pos_sum / total), 3),
        "compound": round_to(compound, 4),
    }


#: Longest text a scorer reads at once (see ``sentiment.py``); a few ms of VADER at most.
PIECE_CHARS = 1000
#: Pieces of a long text that are scored, at most: ~24,000 characters, tenths of a second.
MAX_PIECES = 24
_SENTENCE_ENDS = ".!?…\n"

Scorer = Callable[[str], dict[str, float]]


def pieces(text: str, limit: int = PIECE_CHARS) -> list[str]:
    """``text`` cut into consecutive pieces of at most ``limit`` characters, at sentence ends when it can.

    Every piece but the last is at least half the limit long, so a text makes at most
    ``2 * len(text) / limit + 1`` pieces: the work stays linear in the text's length.
    """
    out: list[str] = []
    start, end = 0, len(text)
    while end - start > limit:
        window = text[start : start + limit]
        cut = max(window.rfind(mark) for mark in _SENTENCE_ENDS) + 1
        if cut <= limit // 2:
            cut = window.rfind(" ") + 1
            if cut <= limit // 2:
                cut = limit  # one giant word: cut it anywhere
        out.append(window[:cut])
        start += cut
    out.append(text[start:])
    return out


def bounded(scorer: Scorer, text: str) -> dict[str, float]:
    """``scorer(text)`` for a text up to :data:`PIECE_CHARS`, else the length-weighted mean of its pieces' scores."""
    if len(text) <= PIECE_CHARS:
        return scorer(text)
    parts = pieces(text)
    if len(parts) > MAX_PIECES:
        step = len(parts) / MAX_PIECES
        parts = [parts[int(i * step)] for i in range(MAX_PIECES)]
    total = float(sum(len(part) for part in parts))
    mean = dict.fromkeys(("neg", "neu", "pos", "compound"), 0.0)
    for part in parts:
        scores = scorer(part)
        for key in mean:
            mean[key] += scores[key] * len(part) / total
    return {key: round(value, 4) for key, value in mean.items()}


def label_for(compound: float, positive_at: float = POSITIVE_AT, negative_at: float = NEGATIVE_AT) -> SentimentLabel:
    """positive / neutral / negative from a compound score and the scorer's thresholds (VADER's ±0.05 by default)."""
    if compound >= positive_at:
        return "positive"
    if compound <= negative_at:
        return "negative"
    return "neutral"


def sentiment_record(scores: Mapping[str, float], label: SentimentLabel, model: str) -> Sentiment:
    """The ``sentiment`` field of a post: its scores, label and the model that gave them."""
    return {
        "compound": scores["compound"],
        "pos": scores["pos"],
        "neu": scores["neu"],
        "neg": scores["neg"],
        "label": label,
        "model": model,
    }
