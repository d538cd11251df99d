"""The time helpers every stage shares: ISO 8601 text to epoch seconds and back."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas.timestamps import epoch_to_rfc3339, to_datetime, to_epoch, to_rfc3339

T = datetime(2026, 5, 4, 10, 0, 0, 250_000, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    "text",
    ["2026-05-04T10:00:00.250Z", "2026-05-04T10:00:00.250+00:00", "2026-05-04T12:00:00.250+02:00"],
)
def test_a_time_with_z_or_an_offset_is_the_same_instant(text: str) -> None:
    assert to_epoch(text) == T
    assert to_datetime(text) == datetime.fromtimestamp(T, UTC)


def test_a_naive_time_is_utc_whatever_the_machine_clock_zone() -> None:
    assert to_epoch("2026-05-04T10:00:00.250") == T
    assert to_datetime("2026-05-04T10:00:00.250").tzinfo is not None


def test_not_a_time_raises_value_error() -> None:
    with pytest.raises(ValueError):
        to_epoch("yesterday")


def test_epoch_seconds_format_as_the_contract_writes_times_and_round_trip() -> None:
    assert epoch_to_rfc3339(T) == "2026-05-04T10:00:00.250Z"
    assert epoch_to_rfc3339(T) == to_rfc3339("2026-05-04T12:00:00.25+02:00")
    assert to_epoch(epoch_to_rfc3339(T)) == T
