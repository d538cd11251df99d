"""Text normalisation shared by the enrichers: case and accent folding, word splitting."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache

_WORD_SPLIT = re.compile(r"[^\w#@]+")
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")
# For ASCII text, bytes.translate with these tables and str.split do what the regular
# expressions do, in a tenth of the time: every ASCII character that is not a word character
# (nor '#', '@') becomes a space, or every one that is not a letter.
_ASCII = bytes(range(128))
_ASCII_SEPARATORS = bytes.maketrans(_ASCII, bytes([c if chr(c).isalnum() or chr(c) in "_#@" else 32 for c in _ASCII]))
_ASCII_NON_LETTERS = bytes.maketrans(_ASCII, bytes([c if chr(c).isalpha() else 32 for c in _ASCII]))
_LETTERS = re.compile(r"[^\W\d_]{2,}")
# What _LETTERS keeps: word characters (alphanumeric or '_') that are neither decimal digits nor '_'.
# '²' and '½' are kept, as the regular expression keeps them.


def _is_letter(ch: str) -> bool:
    return ch.isalnum() and not ch.isdecimal() and ch != "_"


_REPEATS = re.compile(r"(\w)\1{2,}")
#: Unicode blocks where emoji live: a text without any of these characters needs no emoji scan.
MAYBE_EMOJI = re.compile("[\u00a9\u00ae\u203c-\u3299\U0001f000-\U0001faff]")


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


def _fold_run(match: re.Match[str]) -> str:
    return match.group().translate(_FOLD)


# Every Latin-1 character folds to one Latin-1 character (tests check it), so Latin-1 text, nearly
# every accented post, folds with one bytes.translate: a fifth of the time of the runs below.
_LATIN1_FOLD = bytes([ord(_fold_char(chr(code))) for code in range(256)])
# mypyc compiles ``text.lower()`` to a per-character mapping that lower-cases a final 'Σ' to 'σ'
# where Python writes 'ς'; called through this name it is Python's own str.lower.
_lower: Callable[[str], str] = str.lower
# fold then letter_words' blanking in one table each, for ASCII and for Latin-1 text: each character
# becomes its folded self when that is a letter, else a space.
_LATIN1_FOLDED_LETTERS = bytes([c if _is_letter(chr(c)) else 32 for c in _LATIN1_FOLD])
_ASCII_FOLDED_LETTERS = bytes.maketrans(_ASCII, bytes([_LATIN1_FOLDED_LETTERS[ord(chr(c).lower())] for c in _ASCII]))


def _latin1_lower(text: str) -> tuple[str, bytes | None]:
    """``text`` lower-cased, and its Latin-1 bytes when every character has one (else None)."""
    low = _lower(text)
    latin1 = low.encode("latin-1", "ignore")
    return low, latin1 if len(latin1) == len(low) else None


def fold(text: str) -> str:
    """Lower-case and strip accents: 'Perché CITTÀ' → 'perche citta'."""
    if text.isascii():
        return text.lower()
    low, latin1 = _latin1_lower(text)
    if latin1 is not None:
        return latin1.translate(_LATIN1_FOLD).decode("latin-1")
    # Only the runs of non-ASCII characters go through the table: translate() would look up
    # every character, a third of the time of a whole enricher.
    return _NON_ASCII.sub(_fold_run, low)


def squeeze_repeats(word: str) -> str:
    """Collapse letters repeated three or more times: 'graziee' stays, 'noooo' → 'no'."""
    return _REPEATS.sub(r"\1", word)


#: Texts whose match_text is cached, at most: a whole enrich batch (ASCOLTO_ENRICH_BATCH_SIZE,
#: 1000 by default), because the chain runs each enricher over the whole batch before the next.
MATCH_CACHE_SIZE = 4096
#: Longer texts are not cached, so the cache stays a few MB whatever the posts.
MATCH_CACHE_CHARS = 2000


def match_text(text: str) -> str:
    """Folded text with punctuation turned into single spaces and padded with spaces.

    Cached: topics, watch terms and duplicates ask for the same post's text in turn.
    Phrase matchers look for ' term ' (whole words) or ' stem' (prefixes) in it, so word
    boundaries need no regular expressions at match time. '#' and '@' stay attached, and a
    hashtag is also followed by its bare word, so 'bollette' matches '#bollette' too.
    """
    return _cached_match_text(text) if len(text) <= MATCH_CACHE_CHARS else normalise(text)


def split_words(folded: str) -> list[str]:
    """``folded`` split at runs of characters other than word characters, '#' and '@' (as re.split)."""
    if not folded.isascii():
        return _WORD_SPLIT.split(folded)
    spaced = folded.encode("ascii").translate(_ASCII_SEPARATORS).decode("ascii")
    words = spaced.split()
    # re.split gives an empty first or last piece when the text starts or ends with a separator.
    if spaced[:1] == " ":
        words.insert(0, "")
    if spaced[-1:] == " ":
        words.append("")
    return words


def letter_words(folded: str) -> list[str]:
    """Runs of two or more letters in ``folded``."""
    if not folded.isascii():
        return _LETTERS.findall(folded)
    spaced = folded.encode("ascii").translate(_ASCII_NON_LETTERS).decode("ascii")
    return [w for w in spaced.split() if len(w) > 1]


def folded_letter_words(text: str) -> list[str]:
    """``letter_words(fold(text))``, with one bytes.translate for ASCII and Latin-1 text (nearly every post)."""
    if text.isascii():
        spaced = text.encode("ascii").translate(_ASCII_FOLDED_LETTERS).decode("ascii")
    else:
        _, latin1 = _latin1_lower(text)
        if latin1 is None:
            return letter_words(fold(text))
        spaced = latin1.translate(_LATIN1_FOLDED_LETTERS).decode("latin-1")
    return [w for w in spaced.split() if len(w) > 1]


def normalise(text: str) -> str:
    """:func:`match_text` without its cache, for a text nobody else will ask about."""
    words = split_words(fold(text))
    if "#" in text:
        # A plain loop: compiled, the nested comprehension with its tuples took a quarter longer.
        expanded: list[str] = []
        for word in words:
            expanded.append(word)
            if word.startswith("#"):
                expanded.append(word[1:])
        words = expanded
    return " " + " ".join(words) + " "


_cached_match_text = lru_cache(maxsize=MATCH_CACHE_SIZE)(normalise)
