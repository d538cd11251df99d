"""The enrichment chain: the same code path for the stream (``ascolto worker``) and ``ascolto enrich``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from ascolto.schemas import EnrichedPost, RawPost, now_rfc3339
from ascolto.streams.enrichers.base import REGISTRY, Enricher, EnricherFailed

# What a post carries before any enricher runs, so that a chain without, say, topics still
# emits a complete EnrichedPost.
_DEFAULTS: dict[str, Any] = {
    "lang": "und",
    "topics": [],
    "entities": {"hashtags": [], "mentions": [], "urls": [], "emoji": [], "watch_terms": []},
}


def _load_builtins() -> None:
    # Importing the modules registers them; done lazily so that importing the package is cheap.
    from ascolto.streams.enrichers import entities, language, sentiment  # noqa: F401


class EnrichmentChain:
    """Enrichers in their declared order; :meth:`enrich` turns a RawPost into an EnrichedPost."""

    def __init__(self, enrichers: Iterable[Enricher]) -> None:
        self.enrichers: list[Enricher] = sorted(enrichers, key=lambda e: e.order)

    @classmethod
    def from_names(cls, names: Iterable[str]) -> EnrichmentChain:
        """Build the chain from registered names (``ASCOLTO_ENRICHERS``)."""
        _load_builtins()
        missing = [n for n in names if n not in REGISTRY]
        if missing:
            known = ", ".join(sorted(REGISTRY))
            raise ValueError(f"unknown enricher(s) {', '.join(missing)}; known: {known}")
        return cls(REGISTRY[name]() for name in names)

    @property
    def names(self) -> list[str]:
        return [e.name for e in self.enrichers]

    def enrich(self, raw: RawPost) -> EnrichedPost:
        """Run every enricher; raises :class:`EnricherFailed` naming the one that failed."""
        post: dict[str, Any] = {**_DEFAULTS, **raw}
        post["entities"] = dict(post["entities"])
        for enr in self.enrichers:
            try:
                fields = enr(post)
            except Exception as exc:  # one bad enricher must not stop the stream
                raise EnricherFailed(enr.name, f"{type(exc).__name__}: {exc}") from exc
            if fields:
                undeclared = set(fields) - set(enr.writes)
                if undeclared:
                    raise EnricherFailed(enr.name, f"wrote undeclared field(s) {sorted(undeclared)}")
                post.update(fields)
        post["enriched_at"] = now_rfc3339()
        return cast(EnrichedPost, post)
