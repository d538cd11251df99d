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
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import cast

import yaml

from streams.enrichers.matcher import PhraseMatcher, term_key

_TOPIC_ID = re.compile(r"^[a-z][a-z0-9_]*$")
ANY = "any"


class TaxonomyError(ValueError):
    """The taxonomy file cannot be used; the message says where and why."""


@dataclass(frozen=True)
class Taxonomy:
    topics: dict[str, dict[str, str]]  # id → labels by language
    matcher: PhraseMatcher  # payloads: (topic id, scope)

    def topics_of(self, text: str, lang: str) -> list[str]:
        """Sorted topic ids whose terms occur in ``text`` for a post in ``lang``."""
        found = cast(set[tuple[str, str]], self.matcher.find(text))
        return sorted({topic for topic, scope in found if scope == ANY or scope == lang or lang == "und"})


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
