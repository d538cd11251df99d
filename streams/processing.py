"""What the enrich agent does to messages, as pure functions: bytes in, outcomes out.

Kept free of Kafka so that it is tested directly and shared by ``ascolto enrich``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from schemas import EnrichedPost, InvalidMessage, RawPost, decode_raw_post, dumps, validate
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
    """Decode, validate, enrich and re-validate one ``posts.raw`` message (``ascolto enrich``)."""
    return enrich_batch(chain, [value])[0]


def enrich_batch(chain: EnrichmentChain, values: Sequence[bytes | None]) -> list[Enriched | Failed]:
    """Decode, validate, enrich and re-validate a batch of ``posts.raw`` messages: one outcome per value, in order.

    The chain runs enricher by enricher over the batch (:meth:`EnrichmentChain.enrich_many`),
    which is cheaper than post by post and gives the same posts.
    """
    outcomes: list[Enriched | Failed | None] = [None] * len(values)
    raws: list[RawPost] = []
    positions: list[int] = []
    for i, value in enumerate(values):
        try:
            raws.append(decode_raw_post(value))
        except InvalidMessage as exc:
            outcomes[i] = Failed(exc.stage, exc.reason)
            continue
        positions.append(i)
    for i, result in zip(positions, chain.enrich_many(raws), strict=True):
        if isinstance(result, EnricherFailed):
            outcomes[i] = Failed(f"enrich:{result.name}", result.error)
        else:
            outcomes[i] = _emit(result)
    return cast(list[Enriched | Failed], outcomes)


def _emit(post: EnrichedPost) -> Enriched | Failed:
    try:
        validate("enriched_post", post)
    except InvalidMessage as exc:
        # An enricher wrote something the contract forbids: the post must not reach the index.
        return Failed("emit", exc.reason)
    return Enriched(post, dumps(post))
