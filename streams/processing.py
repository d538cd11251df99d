"""What the enrich agent does to one message, as a pure function: bytes in, outcome out.

Kept free of Kafka so that it is tested directly and shared by ``ascolto enrich``.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas import EnrichedPost, InvalidMessage, decode_raw_post, dumps, validate
from streams.enrichers import EnricherFailed, EnrichmentChain


@dataclass(frozen=True)
class Enriched:
    post: EnrichedPost
    value: bytes


@dataclass(frozen=True)
class Failed:
    """Why a message became a dead letter: ``stage`` is decode, validate, enrich:<name> or emit."""

    stage: str
    reason: str


def enrich_message(chain: EnrichmentChain, value: bytes | None) -> Enriched | Failed:
    """Decode, validate, enrich and re-validate one ``posts.raw`` message."""
    try:
        raw = decode_raw_post(value)
    except InvalidMessage as exc:
        return Failed(exc.stage, exc.reason)
    try:
        post = chain.enrich(raw)
    except EnricherFailed as exc:
        return Failed(f"enrich:{exc.name}", exc.error)
    try:
        validate("enriched_post", post)
    except InvalidMessage as exc:
        # An enricher wrote something the contract forbids: the post must not reach the index.
        return Failed("emit", exc.reason)
    return Enriched(post, dumps(post))
