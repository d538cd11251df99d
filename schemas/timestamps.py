"""RFC 3339 UTC timestamps: the one format every contract's times are written in.

:func:`to_rfc3339` normalises timestamps from the wild (ISO 8601, epoch seconds or milliseconds);
:func:`now_rfc3339` stamps the current time. Both write milliseconds and a ``Z``.
:func:`to_datetime`, :func:`to_epoch` and :func:`epoch_to_rfc3339` go between that text and the
clock's numbers, for the code that computes with times read from posts and alerts.
"""

from __future__ import annotations

from datetime import UTC, datetime


def _format(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _format_value(value: object, dt: datetime) -> str:
    try:
        return _format(dt)
    except OverflowError:  # e.g. 9999-12-31T23:00:00-05:00 is past year 9999 once in UTC
        raise ValueError(f"created_at {value!r} is outside the years 1 to 9999 in UTC") from None


def to_datetime(text: str) -> datetime:
    """An ISO 8601 time (``Z`` or an offset) as an aware datetime; naive times are taken as UTC. Raises ValueError."""
    dt = datetime.fromisoformat(text)
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def to_epoch(text: str) -> float:
    """An ISO 8601 time as epoch seconds (naive times taken as UTC). Raises ValueError."""
    return to_datetime(text).timestamp()


def epoch_to_rfc3339(seconds: float) -> str:
    """Epoch seconds as RFC 3339 UTC with milliseconds and a Z."""
    return _format(datetime.fromtimestamp(seconds, UTC))


def now_rfc3339() -> str:
    """Current UTC time as RFC 3339 with milliseconds and a Z."""
    return _format(datetime.now(UTC))


def to_rfc3339(value: object) -> str:
    """Normalise a timestamp; naive times are taken as UTC. Raises ValueError with a readable message."""
    if isinstance(value, bool):  # a bool is an int to Python, never a time
        raise ValueError(f"created_at {value!r} is a boolean, not a time")
    if isinstance(value, int | float) or (
        isinstance(value, str) and value.strip().lstrip("-").replace(".", "", 1).isdigit()
    ):
        number = float(value)
        # Epoch milliseconds are 13 digits today; seconds are 10.
        try:
            dt = datetime.fromtimestamp(number / 1000 if abs(number) > 1e11 else number, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"created_at {value!r} is an epoch number out of range") from None
    elif isinstance(value, str) and value.strip():
        try:
            dt = to_datetime(value.strip())
        except ValueError:
            raise ValueError(f"created_at {value!r} is not an ISO 8601 time or an epoch number") from None
    else:
        raise ValueError(f"created_at {value!r} is empty or not a time")
    return _format_value(value, dt)
