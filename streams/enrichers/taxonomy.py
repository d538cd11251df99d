"""Topic taxonomies: YAML of topic → terms (any language or per language), compiled for matching.

Format (see ``data/taxonomy.yaml``)::

    version: 1
    topics:
      billing:
        label: {it: Bollette e pagamenti, en: Billing and payments}
        any: ["#bollette", "pagopa"]      # every post
        it: ["bollett*", "rimbors*"]      # posts in Italian (or of unknown language)
        en: ["bill", "refund*"]
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any, cast

import yaml

from streams.enrichers.matcher import PhraseMatcher, term_key

_TOPIC_ID = re.compile(r"^[a-z][a-z0-9_]*$")
ANY = "any"
#: A post's language when it is not known: every term applies.
UNKNOWN = "und"


class TaxonomyError(ValueError):
    """The taxonomy file cannot be used; the message says where and why."""


class Taxonomy:
    """A checked taxonomy: its topics' labels and the matcher of their terms."""

    def __init__(self, topics: dict[str, dict[str, str]], matcher: PhraseMatcher) -> None:
        self.topics = topics  # id → labels by language
        self.matcher = matcher  # payloads: (topic id, scope)
        # A post's topics are a bit mask, each found term ORs in its row's mask for the post's
        # language (no sets to merge per post). Bits follow the ids' sorted order, so the names of
        # a mask's bits, lowest first, are the sorted list the post gets.
        groups = cast(list[frozenset[tuple[str, str]]], matcher.groups())
        ids = sorted({topic for group in groups for topic, _ in group})
        bits = {topic: 1 << i for i, topic in enumerate(ids)}
        self._names = {1 << i: topic for i, topic in enumerate(ids)}
        # Columns: 0 for a language no term is scoped to (``any`` terms only), 1 for "und" (every
        # term), then one per language some term is scoped to.
        scoped = sorted({scope for group in groups for _, scope in group} - {ANY, UNKNOWN})
        self._columns = {UNKNOWN: 1, **{lang: i for i, lang in enumerate(scoped, 2)}}
        self._rows: dict[frozenset[tuple[str, str]], list[int]] = {}
        for group in groups:
            row = [0] * (len(scoped) + 2)
            for topic, scope in group:
                bit = bits[topic]
                if scope == ANY:
                    row = [mask | bit for mask in row]
                else:
                    row[1] |= bit
                    if scope != UNKNOWN:
                        row[self._columns[scope]] |= bit
            self._rows[group] = row

    def field_of(self, post: dict[str, Any]) -> dict[str, list[str]]:
        """The ``topics`` field of a post being enriched (compiled: cheaper than reading the post in Python)."""
        return {"topics": self.topics_of(post["text"], post.get("lang", UNKNOWN))}

    def topics_of(self, text: str, lang: str) -> list[str]:
        """Sorted topic ids whose terms occur in ``text`` for a post in ``lang``."""
        column = self._columns.get(lang, 0)
        rows = self._rows
        mask = 0
        for _, group in self.matcher.occurrences(text):
            mask |= rows[cast(frozenset[tuple[str, str]], group)][column]
        found: list[str] = []
        while mask:
            lowest = mask & -mask
            found.append(self._names[lowest])
            mask ^= lowest
        return found


def default_taxonomy_path() -> Path:
    return Path(str(resources.files("streams.enrichers").joinpath("data/taxonomy.yaml")))


def load_taxonomy(path: Path) -> Taxonomy:
    """Parse and check a taxonomy file; raises :class:`TaxonomyError` naming the problem."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise TaxonomyError(f"cannot read taxonomy {path}: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("topics"), dict) or not doc["topics"]:
        raise TaxonomyError(f"taxonomy {path} needs a non-empty 'topics' mapping")
    labels: dict[str, dict[str, str]] = {}
    terms: list[tuple[str, tuple[str, str]]] = []
    for topic, spec in doc["topics"].items():
        if not isinstance(topic, str) or not _TOPIC_ID.match(topic):
            raise TaxonomyError(f"taxonomy {path}: topic id {topic!r} must be lower_snake_case")
        if not isinstance(spec, dict):
            raise TaxonomyError(f"taxonomy {path}: topic {topic} must be a mapping")
        labels[topic] = {str(k): str(v) for k, v in (spec.get("label") or {}).items()}
        count = 0
        for scope, values in spec.items():
            if scope == "label":
                continue
            if not isinstance(values, list):
                raise TaxonomyError(f"taxonomy {path}: {topic}.{scope} must be a list of terms")
            for term in values:
                if not isinstance(term, str) or not term.strip() or "*" in term.rstrip("*"):
                    raise TaxonomyError(f"taxonomy {path}: {topic}.{scope} has a bad term {term!r}")
                try:
                    term_key(term)
                except ValueError as exc:
                    raise TaxonomyError(f"taxonomy {path}: {topic}.{scope}: {exc}") from None
                terms.append((term, (topic, str(scope))))
                count += 1
        if not count:
            raise TaxonomyError(f"taxonomy {path}: topic {topic} has no terms")
    return Taxonomy(labels, PhraseMatcher(terms))
