"""Filters shared by search and statistics, and the parsing of their query parameters."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from schemas.timestamps import to_datetime

_RELATIVE = re.compile(r"^(\d+)([smhdw])$")
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}([T ][\d:.]+)?(Z|[+-]\d{2}:?\d{2})?$")
SENTIMENTS = ("positive", "neutral", "negative")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_time(value: str, what: str = "since") -> str:
    """``15m``/``24h``/``7d``/``2w`` → Elasticsearch date math (``now-24h``); ``now`` and ISO dates pass through."""
    value = value.strip()
    match = _RELATIVE.match(value)
    if match:
        return f"now-{match.group(1)}{match.group(2)}"
    if value == "now" or _ISO.match(value):
        return value
    raise ValueError(f"{what} {value!r} is neither a duration like 24h or 7d nor an ISO date")


def time_of(value: str, now: datetime, what: str = "since") -> datetime:
    """The instant ``since``/``until`` stands for (UTC, as Elasticsearch reads dates without a zone)."""
    value = value.strip()
    match = _RELATIVE.match(value)
    if match:
        try:
            return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
        except OverflowError:
            raise ValueError(f"{what} {value!r} reaches back beyond the calendar") from None
    if value == "now":
        return now
    parse_time(value, what)  # the same error for anything else
    try:
        return to_datetime(value)
    except ValueError:
        raise ValueError(f"{what} {value!r} is not a valid ISO date") from None


def listed_param(params: Mapping[str, Any], name: str) -> list[str]:
    """Repeated or comma-separated query parameters."""
    raw = params.getall(name, []) if hasattr(params, "getall") else params.get(name, [])
    values = [raw] if isinstance(raw, str) else list(raw or [])
    return [v.strip() for value in values for v in str(value).split(",") if v.strip()]


def integer_param(params: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        number = int(str(raw))
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {raw!r}") from None
    if not low <= number <= high:
        raise ValueError(f"{name} must be between {low} and {high}, not {number}")
    return number


@dataclass
class PostFilters:
    """Filters shared by search and statistics; unset ones are not applied."""

    lang: list[str] = field(default_factory=list)
    sentiment: list[str] = field(default_factory=list)
    topic: list[str] = field(default_factory=list)
    source: list[str] = field(default_factory=list)
    author: list[str] = field(default_factory=list)
    since: str | None = None
    until: str | None = None
    term: list[str] = field(default_factory=list)  # watch terms (entities.watch_terms)

    @classmethod
    def from_params(cls, params: Mapping[str, Any], default_since: str | None = None) -> PostFilters:
        return cls(
            lang=listed_param(params, "lang"),
            sentiment=listed_param(params, "sentiment"),
            topic=listed_param(params, "topic"),
            source=listed_param(params, "source"),
            author=listed_param(params, "author"),
            term=listed_param(params, "term"),
            since=params.get("since") or default_since,
            until=params.get("until") or None,
        )

    def clauses(self) -> list[dict[str, Any]]:
        """Elasticsearch filter clauses; raises ValueError with a readable message for bad values."""
        bad = set(self.sentiment) - set(SENTIMENTS)
        if bad:
            raise ValueError(f"sentiment must be one of {', '.join(SENTIMENTS)}, not {', '.join(sorted(bad))}")
        filters: list[dict[str, Any]] = []
        for name, es_field in (
            ("lang", "lang"), ("sentiment", "sentiment.label"), ("topic", "topics"),
            ("source", "source"), ("author", "author.handle"), ("term", "entities.watch_terms"),
        ):  # fmt: skip
            values = getattr(self, name)
            if values:
                filters.append({"terms": {es_field: values}})
        time_range: dict[str, str] = {}
        if self.since:
            time_range["gte"] = parse_time(self.since, "since")
        if self.until:
            time_range["lt"] = parse_time(self.until, "until")
        if time_range:
            filters.append({"range": {"created_at": time_range}})
        return filters
