"""Which keys an enriched post counts under for a rule: the one reading of a rule's ``filters`` and ``key``.

:class:`Matcher` holds a rule's filters and key as plain frozensets, so that the enrich agent can ask
every rule about every post without pydantic on the way; the rule model
(:meth:`streams.alerting.rules.Filters.admits`, ``Rule.keys_of``) asks it too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

ALL_KEY = "all"  # the one key of rules with ``key: all``: the whole stream
#: The fields a rule's ``filters`` may list values of.
FILTER_FIELDS = ("topic", "watch_term", "source", "lang", "sentiment")


def values_of(post: Mapping[str, Any], field: str) -> Sequence[str]:
    """The values an EnrichedPost v1 has for a filter or key field (``topic``, ``hashtag``, ``all``...)."""
    if field == "topic":
        return post.get("topics") or ()
    if field == "source":
        return (post["source"],) if post.get("source") else ()
    if field == "lang":
        return (post.get("lang", ""),)
    if field == "sentiment":
        return ((post.get("sentiment") or {}).get("label", ""),)
    if field == "all":
        return (ALL_KEY,)
    entities = post.get("entities") or {}
    return entities.get("watch_terms" if field == "watch_term" else "hashtags") or ()


@dataclass(frozen=True)
class Matcher:
    """A rule's filters (only the non-empty ones) and key field, as sets."""

    key: str
    filters: tuple[tuple[str, frozenset[str]], ...]
    #: The key field's own filter: ``topic: [billing]`` with ``key: topic`` counts billing, not every
    #: other topic its posts also have.
    wanted: frozenset[str]

    @classmethod
    def of(cls, filters: object, key: str = ALL_KEY) -> Matcher:
        """From a rule's ``filters`` (anything with the :data:`FILTER_FIELDS` as attributes) and ``key``."""
        lists = {f: getattr(filters, f) for f in FILTER_FIELDS}
        return cls(key, tuple((f, frozenset(v)) for f, v in lists.items() if v), frozenset(lists.get(key, ())))

    def admits(self, post: Mapping[str, Any]) -> bool:
        """Whether the post passes every filter (each admits a post having any of its values)."""
        for name, allowed in self.filters:
            if not any(value in allowed for value in values_of(post, name)):
                return False
        return True

    def keys_of(self, post: Mapping[str, Any]) -> list[str]:
        """The keys the post counts under (none when the filters leave it out)."""
        if not self.admits(post):
            return []
        keys = values_of(post, self.key)
        return sorted({k for k in keys if k in self.wanted}) if self.wanted else sorted(set(keys))
