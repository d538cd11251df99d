"""Text normalisation shared by the enrichers: case and accent folding, word splitting."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_WORD_SPLIT = re.compile(r"[^\w#@]+")
_REPEATS = re.compile(r"(\w)\1{2,}")


@lru_cache(maxsize=65536)
def _fold_char(ch: str) -> str:
    decomposed = unicodedata.normalize("NFD", ch)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


class _FoldTable(dict):
    """str.translate table built lazily: each distinct character is decomposed once."""

    def __missing__(self, code: int) -> str:
        ch = chr(code)
        folded = _fold_char(ch)
        self[code] = folded
        return folded


_FOLD = _FoldTable()


def fold(text: str) -> str:
    """Lower-case and strip accents: 'Perché CITTÀ' → 'perche citta'."""
    return text.lower().translate(_FOLD)


def squeeze_repeats(word: str) -> str:
    """Collapse letters repeated three or more times: 'graziee' stays, 'noooo' → 'no'."""
    return _REPEATS.sub(r"\1", word)


def match_text(text: str) -> str:
    """Folded text with punctuation turned into single spaces and padded with spaces.

    Phrase matchers look for ' term ' (whole words) or ' stem' (prefixes) in it, so word
    boundaries need no regular expressions at match time. '#' and '@' stay attached, and a
    hashtag is also followed by its bare word, so 'bollette' matches '#bollette' too.
    """
    words = _WORD_SPLIT.split(fold(text))
    if "#" in text:
        words = [w for word in words for w in ((word, word[1:]) if word.startswith("#") else (word,))]
    return " " + " ".join(words) + " "
