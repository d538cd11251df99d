"""Where a post learns what it reposts: ``repost_key``, a digest of its normalised text (case,
accents, punctuation, URLs, mentions and 'RT' ignored), shared by every post saying the same thing.

The key is a function of the text alone: any worker, any replay, any order gives a post the same
key, so grouping by ``repost_key`` in search or Kibana finds reposts across partitions and time,
and re-enriching a post never changes it. Which post came first is a question for the index
(the earliest ``created_at`` of a key), not for a worker's memory.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from streams.enrichers.base import enricher
from streams.enrichers.text import match_text, normalise

_NOISE = re.compile(r"https?://\S+|(?<!\w)@\w[\w.]*|^\s*rt\b:?", re.IGNORECASE)
_RT_START = re.compile(r"\s*rt\b", re.IGNORECASE)
MIN_CHARS = 12  # "grazie!" from two people is not a repost


def _core(text: str) -> str:
    """Folded letters, digits and '@' of ``text`` with URLs, mentions and a leading 'RT' removed."""
    if "://" in text or "@" in text or _RT_START.match(text):  # the only texts _NOISE changes
        normal = normalise(_NOISE.sub(" ", text))
    else:
        normal = match_text(text)  # topics has asked for it already: it comes from the cache
    return "".join(normal.replace("#", "").split())


def repost_key(text: str) -> str | None:
    """A digest of the normalised text, or None when too short to tell reposts from coincidences."""
    core = _core(text)
    if len(core) < MIN_CHARS:
        return None
    return hashlib.blake2b(core.encode("utf-8"), digest_size=12).hexdigest()


@enricher("duplicates", writes=("repost_key",), order=60)
def duplicates(post: dict[str, Any]) -> dict[str, str | None]:
    """Sets ``repost_key`` (None for texts too short to call a repost)."""
    return {"repost_key": repost_key(post["text"])}
