"""What the enrich agent does to messages, as pure functions: bytes in, outcomes out.

Kept free of Kafka so that it is tested directly and shared by ``ascolto enrich``.

:func:`enrich_batch` is total: every message gets an outcome, an :class:`Enriched` post or a
:class:`Failed` one for the dead-letter topic, whatever its bytes are and whatever an enricher or
the JSON writer does with it. A message the agent could not account for would be skipped when
Faust restarts the agent: lost, neither enriched nor dead-lettered.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import cast

from core.settings import Settings, get_settings
from schemas import EnrichedPost, InvalidMessage, RawPost, decode_raw_post, dumps, validate
from schemas.timestamps import to_datetime
from streams.enrichers import EnricherFailed, EnrichmentChain

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Enriched:
    post: EnrichedPost
    value: bytes


@dataclass(frozen=True)
class Failed:
    """Why a message became a dead letter: ``stage`` is decode, validate, enrich:<name>, enrich or emit."""

    stage: str
    reason: str


@dataclass(frozen=True)
class DateWindow:
    """The ``created_at`` a worker accepts: from ``oldest`` (a UTC day) to ``max_future_seconds`` past its clock.

    A post dated in year 9999 would stay first in "newest" forever and stretch every date
    histogram; one dated 1970 is a source's zero value, not a time. Both go to the dead-letter
    topic with a reason naming the setting. Connectors publish them unchanged: the policy is the
    worker's, so changing it and replaying the dead letters is enough.
    """

    oldest: date = date(1990, 1, 1)
    max_future_seconds: float = 86400.0

    @classmethod
    def from_settings(cls, settings: Settings) -> DateWindow:
        return cls(settings.oldest_post_date, settings.max_future_seconds)

    def check(self, created_at: str, now: float) -> None:
        """Raise :class:`InvalidMessage` (stage validate) when ``created_at`` (canonical RFC 3339) is outside."""
        when = to_datetime(created_at)
        if when.timestamp() - now > self.max_future_seconds:
            raise InvalidMessage(
                f"created_at {created_at} is more than {self.max_future_seconds:g} s ahead of the worker's clock "
                f"({datetime.fromtimestamp(now, UTC):%Y-%m-%dT%H:%M:%SZ}): fix the source's clock, "
                "or raise ASCOLTO_MAX_FUTURE_SECONDS and replay the dead letter"
            )
        if when.date() < self.oldest:
            raise InvalidMessage(
                f"created_at {created_at} is before ASCOLTO_OLDEST_POST_DATE ({self.oldest.isoformat()}): "
                "fix the source's dates, or lower ASCOLTO_OLDEST_POST_DATE and replay the dead letter"
            )


def enrich_message(chain: EnrichmentChain, value: bytes | None, window: DateWindow | None = None) -> Enriched | Failed:
    """Decode, validate, enrich and re-validate one ``posts.raw`` message (``ascolto enrich``)."""
    return enrich_batch(chain, [value], window)[0]


def enrich_batch(
    chain: EnrichmentChain, values: Sequence[bytes | None], window: DateWindow | None = None
) -> list[Enriched | Failed]:
    """Decode, validate, enrich and re-validate a batch of ``posts.raw`` messages: one outcome per value, in order.

    The chain runs enricher by enricher over the batch (:meth:`EnrichmentChain.enrich_many`),
    which is cheaper than post by post and gives the same posts. Should the chain fail for the
    batch as a whole, it runs again post by post, so only the post that made it fail is lost to
    the dead-letter topic. ``window`` defaults to the settings' :class:`DateWindow`.
    """
    window = window or DateWindow.from_settings(get_settings())
    now = time.time()
    outcomes: list[Enriched | Failed | None] = [None] * len(values)
    raws: list[RawPost] = []
    positions: list[int] = []
    for i, value in enumerate(values):
        try:
            raw = decode_raw_post(value)
            window.check(raw["created_at"], now)
        except InvalidMessage as exc:
            outcomes[i] = Failed(exc.stage, exc.reason)
            continue
        except Exception as exc:  # a bug at decode must cost one message, not the batch
            outcomes[i] = Failed("decode", _unexpected(exc))
            continue
        raws.append(raw)
        positions.append(i)
    for i, result in zip(positions, _enrich_all(chain, raws), strict=True):
        if isinstance(result, EnricherFailed):
            outcomes[i] = Failed(f"enrich:{result.name}" if result.name else "enrich", result.error)
        else:
            outcomes[i] = _emit(result)
    return cast(list[Enriched | Failed], outcomes)


def _enrich_all(chain: EnrichmentChain, raws: list[RawPost]) -> list[EnrichedPost | EnricherFailed]:
    try:
        return chain.enrich_many(raws)
    except Exception:
        log.exception("the enrichment chain failed for a batch of %d posts; enriching them one by one", len(raws))
    return [_enrich_alone(chain, raw) for raw in raws]


def _enrich_alone(chain: EnrichmentChain, raw: RawPost) -> EnrichedPost | EnricherFailed:
    try:
        return chain.enrich_many([raw])[0]
    except Exception as exc:
        return EnricherFailed("", _unexpected(exc))


def _emit(post: EnrichedPost) -> Enriched | Failed:
    try:
        validate("enriched_post", post)
    except InvalidMessage as exc:
        # An enricher wrote something the contract forbids: the post must not reach the index.
        return Failed("emit", exc.reason)
    except Exception as exc:
        return Failed("emit", f"the enriched post cannot be validated: {_unexpected(exc)}")
    try:
        return Enriched(post, dumps(post))
    except Exception as exc:  # e.g. a plugin's field nested past orjson's 255 levels
        return Failed("emit", f"the enriched post cannot be written as JSON: {_unexpected(exc)}")


def _unexpected(exc: Exception) -> str:
    return f"{type(exc).__name__}: {str(exc)[:500]}"
