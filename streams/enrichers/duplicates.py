"""Where a post learns what it reposts: ``repost_key``, a digest of its normalised text (case,
accents, punctuation, URLs, mentions and 'RT' ignored), shared by every post saying the same thing.

The key is a function of the text alone: any worker, any replay, any order gives a post the same
key, so grouping by ``repost_key`` in search or Kibana finds reposts across partitions and time,
and re-enriching a post never changes it. Which post came first is a question for the index
(the earliest ``created_at`` of a key), not for a worker's memory. The keys are stored with the
posts, so they never change: the digest is of ``match_text`` of the text without that noise,
spaces and '#' removed (a hashtag's word counts twice, as ``match_text`` writes it twice).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from streams.enrichers.base import enricher
from streams.enrichers.text import fold, match_text, normalise

MIN_CHARS = 12  # "grazie!" from two people is not a repost

# What a repost adds: URLs and mentions anywhere (a mention is an '@' not after a word character),
# and 'RT' at the start. The look-behind follows the '@' so that the scan looks for '@' and is
# tried only there (before it, it was tried at every character: twice the time).
_URL = re.compile(r"https?://\S+", re.IGNORECASE)
_MENTION = re.compile(r"@(?<!\w@)\w[\w.]*")
_URL_OR_MENTION = re.compile(f"{_URL.pattern}|{_MENTION.pattern}", re.IGNORECASE)
_RT_START = re.compile(r"\s*rt\b:?", re.IGNORECASE)

# For ASCII folded text: the characters the core keeps (word characters and '@'; '#' goes), and the
# hashtags, the words starting with '#' (words being runs of word characters, '#' and '@').
_ASCII = bytes(range(128))
_NOT_IN_CORE = bytes([c for c in _ASCII if not (chr(c).isalnum() or chr(c) in "_@")])
_HASHTAG_WORD = re.compile(rb"#(?<![\w#@]#)[\w#@]*")


def _twice(match: re.Match[bytes]) -> bytes:
    return match[0] * 2  # a function: a template ("\g<0>\g<0>") is expanded in Python, twice slower


def without_noise(text: str) -> str:
    """``text`` with each URL, mention and leading 'RT' (with its ':') replaced by a space."""
    # One alternation scans slower than one pattern: it is used only when both kinds can occur.
    noise = _MENTION if "://" not in text else _URL if "@" not in text else _URL_OR_MENTION
    rt = _RT_START.match(text)
    if rt is None:
        return noise.sub(" ", text)
    # A URL or mention never starts inside the 'RT', so the rest is scanned on its own, from the
    # RT's last character ('t' or ':', which starts no match): a mention right after 'RT' then
    # sees the 't' before it, as in the whole text, and is not one.
    return " " + noise.sub(" ", text[rt.end() - 1 :])[1:]


def repost_core(text: str) -> bytes:
    """The UTF-8 bytes that :func:`repost_key` hashes."""
    if "://" not in text and "@" not in text and _RT_START.match(text) is None:
        # No noise: topics has asked for this match_text already, it comes from the cache.
        return match_text(text).replace(" ", "").replace("#", "").encode("utf-8")
    clean = without_noise(text)
    folded = fold(clean)
    if not folded.isascii():
        return normalise(clean).replace(" ", "").replace("#", "").encode("utf-8")
    # match_text's words, joined, of ASCII text: its word characters and '@', each hashtag's twice.
    raw = folded.encode("ascii")
    if b"#" in raw:
        raw = _HASHTAG_WORD.sub(_twice, raw)
    return raw.translate(None, _NOT_IN_CORE)


def repost_key(text: str) -> str | None:
    """A digest of the normalised text, or None when too short to tell reposts from coincidences."""
    core = repost_core(text)
    # Characters, not bytes, are counted: an ASCII core has as many of each.
    if len(core) < MIN_CHARS or (not core.isascii() and len(core.decode("utf-8")) < MIN_CHARS):
        return None
    return hashlib.blake2b(core, digest_size=12).hexdigest()


@enricher("duplicates", writes=("repost_key",), order=60)
def duplicates(post: dict[str, Any]) -> dict[str, str | None]:
    """Sets ``repost_key`` (None for texts too short to call a repost)."""
    return {"repost_key": repost_key(post["text"])}
