"""Enrichers: language → sentiment → topics → entities → duplicates → your own.

Where a post gets its language: ``language.py``; its sentiment: ``sentiment.py`` (Italian rules
in ``sentiment_it.py``); its topic tags: ``topic_tags.py`` (the taxonomy in ``taxonomy.py``); its
entities: ``entities.py``; repost flags: ``duplicates.py``. How to write one: ``base.py`` and
docs/enrichers.md.
"""

from streams.enrichers.base import REGISTRY, Enricher, EnricherFailed, enricher
from streams.enrichers.chain import EnrichmentChain
from streams.enrichers.plugins import EnricherNotFound

__all__ = ["REGISTRY", "Enricher", "EnricherFailed", "EnricherNotFound", "EnrichmentChain", "enricher"]
