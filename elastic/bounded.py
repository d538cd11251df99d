"""Running a search within a time limit, and the one sentence for each way a search can fail.

The limit holds on both sides: ``timeout`` in the body makes every shard stop collecting when it
runs out (Elasticsearch then answers with ``timed_out``), and the client gives up a little later
(:data:`GRACE_SECONDS`) for the parts shards do not time out; closing the connection makes
Elasticsearch cancel the search task, so nothing keeps running for an answer nobody waits for.
A search that timed out is an error, never a silently partial answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from elasticsearch import ApiError

from core.errors import AscoltoError

#: How much longer than the search's own timeout the client waits for Elasticsearch's answer.
GRACE_SECONDS = 1.0


class SearchTimedOut(AscoltoError):
    """Elasticsearch did not finish a search within its time limit (and stopped it)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            f"Elasticsearch did not finish the search within {seconds:g} s and stopped it; "
            "narrow the query, the filters or the time range."
        )


def time_limited(body: Mapping[str, Any], seconds: float) -> dict[str, Any]:
    """``body`` with Elasticsearch's per-shard time limit set."""
    return {**body, "timeout": f"{max(1, round(seconds * 1000))}ms"}


def client_timeout(seconds: float) -> float:
    """How long the client waits for an answer to a search limited to ``seconds``."""
    return seconds + GRACE_SECONDS


def complete(resp: Mapping[str, Any], seconds: float) -> Mapping[str, Any]:
    """``resp`` if every shard finished in time, else :class:`SearchTimedOut`."""
    if resp.get("timed_out"):
        raise SearchTimedOut(seconds)
    return resp


def _causes(exc: ApiError) -> list[dict[str, Any]]:
    """What Elasticsearch said went wrong, most specific first: root causes, then the caused_by chain inside out."""
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error")
    if not isinstance(error, dict):
        return [{"reason": str(error or exc.message)}]
    chain: list[dict[str, Any]] = []
    cause: Any = error
    while isinstance(cause, dict):  # search_phase_execution_exception keeps the real one in caused_by
        chain.append(cause)
        cause = cause.get("caused_by")
    return [c for c in [*(error.get("root_cause") or []), *reversed(chain)] if isinstance(c, dict)]


def error_cause(exc: ApiError) -> tuple[str, str]:
    """The type and reason of the most specific cause Elasticsearch gave for failing."""
    for cause in _causes(exc):
        if cause.get("reason"):
            return str(cause.get("type", "")), str(cause["reason"])
    return "", str(exc.message)


def describe_api_error(exc: ApiError) -> tuple[int, str]:
    """The HTTP status the search API answers with, and the sentence, for an error from Elasticsearch."""
    status = exc.meta.status
    kind, reason = error_cause(exc)
    if any(cause.get("type") == "too_many_buckets_exception" for cause in _causes(exc)):
        return 400, "the statistics would need more buckets than Elasticsearch allows; choose a larger interval"
    if status == 400:
        return 400, f"Elasticsearch rejected the query: {reason}"
    if status == 429:
        return 503, f"Elasticsearch is too busy to search right now ({reason}); try again shortly"
    if status in (401, 403):
        return 502, (
            f"Elasticsearch refused the search ({status}: {reason}); the worker's Elasticsearch credentials "
            "need read access to the posts index"
        )
    return 503, f"Elasticsearch failed ({status} {kind}: {reason}); try again shortly"
