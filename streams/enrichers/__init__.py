"""Enrichers: language → sentiment → topics → entities → duplicates → your own.

Where a post gets its language: ``language.py``; its sentiment: ``sentiment.py`` (Italian rules
in ``sentiment_it.py``); its topic tags: ``topic_tags.py`` (the taxonomy in ``taxonomy.py``); its
entities: ``entities.py``; repost flags: ``duplicates.py``. How to write one: ``base.py`` and
docs/enrichers.md. The hot ones are compiled by mypyc when built: ``native.py``.
"""

from streams.enrichers import native

# Before any compiled module loads: an outdated build must not run.
NATIVE = native.guard(__path__)

from streams.enrichers.base import REGISTRY, Enricher, EnricherFailed, enricher  # noqa: E402
from streams.enrichers.chain import EnrichmentChain  # noqa: E402
from streams.enrichers.plugins import EnricherNotFound  # noqa: E402

__all__ = ["NATIVE", "REGISTRY", "Enricher", "EnricherFailed", "EnricherNotFound", "EnrichmentChain", "enricher"]
