"""Where a post gets its entities: hashtags, mentions, URLs, emoji, and watch terms with aliases."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import emoji
import yaml

from core.settings import Settings, get_settings
from schemas.contracts import Entities
from streams.enrichers.base import enricher
from streams.enrichers.matcher import PhraseMatcher
from streams.enrichers.reloading import ReloadingFile
from streams.enrichers.text import MAYBE_EMOJI

# Each look-behind follows its '#' or '@' so that the scan looks for that character and tries the
# rest only there; placed before it, it was tried at every character, at twice the cost.
_HASHTAG = re.compile(r"#(?<![\w#]#)(\w{1,100})")
_MENTION = re.compile(r"@(?<![\w@]@)(\w(?:[\w.]{0,62}\w)?(?:@[\w.-]+\.\w+)?)")
_URL = re.compile(r"https?://[^\s<>\"')\]]+")


# Every character that occurs in an emoji sequence, and the joiner and variation selectors.
# An emoji never spans a character outside this set, so the emoji library (which walks a text
# character by character in Python, ~70 us for a tweet) need only read the runs of these
# characters that have a non-ASCII one: the same emoji, a fraction of the time.
_EMOJI_CHARS = frozenset({ch for sequence in emoji.EMOJI_DATA for ch in sequence} | {"\u200d", "\ufe0e", "\ufe0f"})
assert not any(ch.isspace() for ch in _EMOJI_CHARS)  # spaces separate the runs below


class _EmojiRuns(dict[int, str]):
    """str.translate table keeping the characters of emoji sequences and making every other one a
    space, filled as characters are met. A regex class of these ~1,400 characters (hundreds of
    ranges) costs 16 us on a 100-character post; this, a dict lookup per character."""

    def __missing__(self, code: int) -> str:
        ch = chr(code)
        kept = ch if ch in _EMOJI_CHARS else " "
        self[code] = kept
        return kept


_EMOJI_RUNS = _EmojiRuns()


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _unique_lower(items: list[str]) -> list[str]:
    return list(dict.fromkeys(map(str.lower, items)))


def find_emoji(text: str) -> list[str]:
    """The emoji of ``text`` in order, repeats included, as ``emoji.emoji_list`` finds them."""
    runs = text.translate(_EMOJI_RUNS).split()
    return [found["emoji"] for run in runs if not run.isascii() for found in emoji.emoji_list(run)]


def load_watch_terms(path: Path) -> PhraseMatcher:
    """YAML ``watch_terms: {Name: [alias, ...]}``; the name itself is always an alias."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    terms = doc.get("watch_terms") if isinstance(doc, dict) else None
    if not isinstance(terms, dict):
        raise ValueError(f"watch terms {path} need a 'watch_terms' mapping of name → list of aliases")
    pairs: list[tuple[str, str]] = []
    for name, aliases in terms.items():
        if aliases is not None and not isinstance(aliases, list):
            raise ValueError(f"watch terms {path}: aliases of {name!r} must be a list")
        for alias in [str(name), *(str(a) for a in aliases or [])]:
            pairs.append((alias, str(name)))
    return PhraseMatcher(pairs)


@enricher("entities", writes=("entities",), order=40)
class EntityExtractor:
    """Hashtags, mentions, URLs and emoji from the text; watch terms from ``ASCOLTO_WATCH_TERMS``."""

    def __init__(self, settings: Settings | None = None) -> None:
        settings = settings or get_settings()
        self.watch: ReloadingFile[PhraseMatcher] | None = (
            ReloadingFile(settings.watch_terms, load_watch_terms, settings.reload_seconds)
            if settings.watch_terms
            else None
        )

    def __call__(self, post: dict[str, Any]) -> dict[str, Entities]:
        text = post["text"]
        urls = _unique([m.rstrip(".,;:!?") for m in _URL.findall(text)]) if "://" in text else []
        rest = _URL.sub(" ", text) if urls else text
        return {
            "entities": {
                "hashtags": _unique_lower(_HASHTAG.findall(rest)) if "#" in rest else [],
                "mentions": _unique_lower(_MENTION.findall(rest)) if "@" in rest else [],
                "urls": urls,
                # Every emoji character is outside ASCII; isascii() reads a flag of the string.
                "emoji": _unique(find_emoji(text)) if not text.isascii() and MAYBE_EMOJI.search(text) else [],
                "watch_terms": sorted(self.watch.value.find(text)) if self.watch else [],  # type: ignore[arg-type]
            }
        }
