"""vaderSentiment's analyser with the same numbers in about half the time.

:class:`FastVader` is ``vaderSentiment.SentimentIntensityAnalyzer`` (same lexicons, same
``score_valence``) with the per-post work rearranged, never changed:

* the emoji pass, which rebuilds the text one character at a time, runs only when the text holds
  a character of VADER's emoji lexicon;
* each word is lower-cased once per post: VADER lower-cases the whole post again for every
  lexicon word it meets (negation, idiom and "but" checks), which makes a post's cost grow with
  its length squared;
* the "but" rule runs only when the post has a "but".

Checked against the library on the SENTIPOLC dev set, ``tests/data`` and tens of thousands of
mutated and random texts (``tests/unit/test_vader_fast.py`` keeps a sample of the checks).
Written for vaderSentiment 3.3.2, whose method bodies it mirrors.
"""

from __future__ import annotations

import string

from vaderSentiment.vaderSentiment import (
    BOOSTER_DICT,
    C_INCR,
    N_SCALAR,
    NEGATE,
    SPECIAL_CASES,
    SentimentIntensityAnalyzer,
    allcap_differential,
)

from streams.enrichers.valence import score_valence

_NEGATE = frozenset(NEGATE)
_PUNCTUATION = string.punctuation


def _negated(lower_word: str) -> bool:
    """VADER's ``negated([word])`` for one lower-cased word."""
    return lower_word in _NEGATE or "n't" in lower_word


class FastVader(SentimentIntensityAnalyzer):
    """``SentimentIntensityAnalyzer`` whose :meth:`polarity_scores` returns the library's exact numbers, faster."""

    def __init__(self) -> None:
        super().__init__()
        # VADER looks emoji up one character at a time: only single characters can ever match.
        self._emoji_chars = frozenset(key for key in self.emojis if len(key) == 1)

    def polarity_scores(self, text: str) -> dict[str, float]:
        """``{'neg', 'neu', 'pos', 'compound'}``, equal to ``SentimentIntensityAnalyzer.polarity_scores``."""
        if not self._emoji_chars.isdisjoint(text):
            text = self._describe_emoji(text)
        text = text.strip()
        words = []
        for token in text.split():
            stripped = token.strip(_PUNCTUATION)
            words.append(token if len(stripped) <= 2 else stripped)
        lowers = [w.lower() for w in words]
        is_cap_diff = allcap_differential(words)
        lexicon = self.lexicon
        sentiments: list[float] = []
        last = len(words) - 1
        for i, low in enumerate(lowers):
            if low in BOOSTER_DICT or (i < last and low == "kind" and lowers[i + 1] == "of"):
                sentiments.append(0)
            elif low in lexicon:
                sentiments.append(self._valence(i, words, lowers, is_cap_diff))
            else:
                sentiments.append(0)
        if "but" in lowers:
            sentiments = self._but_check(words, sentiments)
        return score_valence(sentiments, text)  # the library's formula, compiled (valence.py)

    def _describe_emoji(self, text: str) -> str:
        # VADER's own emoji pass: each emoji becomes its description, spaced from the word before.
        out = []
        prev_space = True
        for ch in text:
            description = self.emojis.get(ch)
            if description is not None:
                if not prev_space:
                    out.append(" ")
                out.append(description)
                prev_space = False
            else:
                out.append(ch)
                prev_space = ch == " "
        return "".join(out)

    def _valence(self, i: int, words: list[str], lowers: list[str], is_cap_diff: bool) -> float:
        """``sentiment_valence`` for a lexicon word, reading the post's lower-cased words once."""
        lexicon = self.lexicon
        item = words[i]
        low = lowers[i]
        valence = lexicon[low]
        if low == "no" and i != len(words) - 1 and lowers[i + 1] in lexicon:
            valence = 0.0
        if (
            (i > 0 and lowers[i - 1] == "no")
            or (i > 1 and lowers[i - 2] == "no")
            or (i > 2 and lowers[i - 3] == "no" and lowers[i - 1] in ["or", "nor"])
        ):
            valence = lexicon[low] * N_SCALAR
        if item.isupper() and is_cap_diff:
            if valence > 0:
                valence += C_INCR
            else:
                valence -= C_INCR
        for start_i in range(0, 3):
            j = i - (start_i + 1)
            if i > start_i and lowers[j] not in lexicon:
                s = 0.0
                if lowers[j] in BOOSTER_DICT:
                    s = BOOSTER_DICT[lowers[j]]
                    if valence < 0:
                        s *= -1
                    if words[j].isupper() and is_cap_diff:
                        if valence > 0:
                            s += C_INCR
                        else:
                            s -= C_INCR
                if start_i == 1 and s != 0:
                    s = s * 0.95
                if start_i == 2 and s != 0:
                    s = s * 0.9
                valence = valence + s
                valence = _negation(valence, lowers, start_i, i)
                if start_i == 2:
                    valence = _special_idioms(valence, lowers, i)
        # VADER's _least_check.
        if i > 1 and lowers[i - 1] not in lexicon and lowers[i - 1] == "least":
            if lowers[i - 2] != "at" and lowers[i - 2] != "very":
                valence = valence * N_SCALAR
        elif i > 0 and lowers[i - 1] not in lexicon and lowers[i - 1] == "least":
            valence = valence * N_SCALAR
        return valence


def _negation(valence: float, lowers: list[str], start_i: int, i: int) -> float:
    """VADER's ``_negation_check`` on lower-cased words."""
    if start_i == 0:
        if _negated(lowers[i - 1]):
            valence = valence * N_SCALAR
    if start_i == 1:
        if lowers[i - 2] == "never" and (lowers[i - 1] == "so" or lowers[i - 1] == "this"):
            valence = valence * 1.25
        elif lowers[i - 2] == "without" and lowers[i - 1] == "doubt":
            pass
        elif _negated(lowers[i - 2]):
            valence = valence * N_SCALAR
    if start_i == 2:
        # VADER's precedence: (never so/this) or (so/this right before).
        if (lowers[i - 3] == "never" and (lowers[i - 2] == "so" or lowers[i - 2] == "this")) or (
            lowers[i - 1] == "so" or lowers[i - 1] == "this"
        ):
            valence = valence * 1.25
        elif lowers[i - 3] == "without" and (lowers[i - 2] == "doubt" or lowers[i - 1] == "doubt"):
            pass
        elif _negated(lowers[i - 3]):
            valence = valence * N_SCALAR
    return valence


def _special_idioms(valence: float, lowers: list[str], i: int) -> float:
    """VADER's ``_special_idioms_check`` on lower-cased words (called with ``i >= 3``)."""
    w3, w2, w1, w0 = lowers[i - 3], lowers[i - 2], lowers[i - 1], lowers[i]
    onezero = f"{w1} {w0}"
    twoonezero = f"{w2} {w1} {w0}"
    twoone = f"{w2} {w1}"
    threetwoone = f"{w3} {w2} {w1}"
    threetwo = f"{w3} {w2}"
    for seq in (onezero, twoonezero, twoone, threetwoone, threetwo):
        if seq in SPECIAL_CASES:
            valence = SPECIAL_CASES[seq]
            break
    n = len(lowers)
    if n - 1 > i:
        zeroone = f"{w0} {lowers[i + 1]}"
        if zeroone in SPECIAL_CASES:
            valence = SPECIAL_CASES[zeroone]
    if n - 1 > i + 1:
        zeroonetwo = f"{w0} {lowers[i + 1]} {lowers[i + 2]}"
        if zeroonetwo in SPECIAL_CASES:
            valence = SPECIAL_CASES[zeroonetwo]
    for n_gram in (threetwoone, threetwo, twoone):
        if n_gram in BOOSTER_DICT:
            valence = valence + BOOSTER_DICT[n_gram]
    return valence
