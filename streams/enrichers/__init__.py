"""Enrichers: language → sentiment → entities → your own, each a small registered unit.

Where a post gets its language: ``language.py``; its sentiment: ``sentiment.py``; its entities:
``entities.py``. How to write one: ``base.py`` and docs/enrichers.md.
"""

from ascolto.streams.enrichers.base import REGISTRY, Enricher, EnricherFailed, enricher
from ascolto.streams.enrichers.chain import EnrichmentChain

__all__ = ["REGISTRY", "Enricher", "EnricherFailed", "EnrichmentChain", "enricher"]
