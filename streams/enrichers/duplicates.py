"""Where a post learns it is a repost: ``duplicate_of`` names the first post with the same
normalised text (case, accents, punctuation, URLs, mentions and 'RT' ignored) within the window.

The memory is per worker process and bounded; with several workers, reposts that land on
different partitions are not compared (see the README's note on duplicates).
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from datetime import datetime
from typing import Any

from core.settings import Settings, get_settings
from streams.enrichers.base import enricher
from streams.enrichers.text import match_text

_NOISE = re.compile(r"https?://\S+|(?<!\w)@\w[\w.]*|^\s*rt\b:?", re.IGNORECASE)
MIN_CHARS = 12  # "grazie!" from two people is not a repost


def repost_key(text: str) -> str | None:
    """A digest of the normalised text, or None when too short to tell reposts from coincidences."""
    core = "".join(match_text(_NOISE.sub(" ", text)).replace("#", "").split())
    if len(core) < MIN_CHARS:
        return None
    return hashlib.blake2b(core.encode("utf-8"), digest_size=12).hexdigest()


@enricher("duplicates", writes=("duplicate_of",), order=60)
class DuplicateDetector:
    """Remembers the first post of each normalised text for ``duplicate_window_seconds``."""

    def __init__(self, settings: Settings | None = None) -> None:
        settings = settings or get_settings()
        self.window = settings.duplicate_window_seconds
        self.capacity = settings.duplicate_max_entries
        self.first: OrderedDict[str, tuple[str, float]] = OrderedDict()

    def __call__(self, post: dict[str, Any]) -> dict[str, str | None]:
        key = repost_key(post["text"])
        if key is None:
            return {"duplicate_of": None}
        created = datetime.fromisoformat(post["created_at"]).timestamp()
        seen = self.first.get(key)
        if seen is not None:
            first_id, first_at = seen
            if first_id == post["id"]:
                return {"duplicate_of": None}  # a replay of the original itself
            if abs(created - first_at) <= self.window:
                return {"duplicate_of": first_id}
        self.first[key] = (post["id"], created)
        self.first.move_to_end(key)
        while len(self.first) > self.capacity:
            self.first.popitem(last=False)
        return {"duplicate_of": None}
