"""Backdated generation: a run of seconds spread over minutes of event time, the burst a spike in it."""

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from connectors.generator import Burst, GeneratorSource
from schemas import validate
from schemas.timestamps import to_datetime


def _time(post: dict) -> datetime:
    return to_datetime(post["created_at"])


def test_backdated_posts_spread_over_the_past_in_order_with_the_burst_at_one_time():
    before = datetime.now(UTC)
    source = GeneratorSource(
        count=100, seed=3, backdate=timedelta(minutes=30), burst=Burst(after=50, size=20, brand="ACME Energia")
    )
    posts = list(source)
    after = datetime.now(UTC)
    for post in posts:
        validate("raw_post", post)
        assert "created_at_inferred" not in post  # the time is the generator's, not a guess
    regular = [p for p in posts if "-burst-" not in p["id"]]
    burst = [p for p in posts if "-burst-" in p["id"]]
    assert len(regular) == 100 and len(burst) == 20
    times = [_time(p) for p in regular]
    assert times == sorted(times)
    # Post n is at now - 30 min + n * 18 s: the first 30 minutes ago, the last 18 s ago.
    assert before - timedelta(minutes=30) - timedelta(seconds=1) <= times[0] <= after - timedelta(minutes=30)
    assert all(b - a == timedelta(seconds=18) for a, b in pairwise(times))
    # The burst comes after post 49 and shares its time, a millisecond apart.
    burst_times = [_time(p) for p in burst]
    assert burst_times[0] - times[49] == timedelta(milliseconds=1)
    assert burst_times[-1] - times[49] == timedelta(milliseconds=20)
    assert all(p["id"].startswith(f"generator:{source.run_id}-") for p in posts)


def test_same_seed_same_ids_and_texts_times_follow_now():
    a = list(GeneratorSource(count=10, seed=9, backdate=timedelta(hours=1)))
    b = list(GeneratorSource(count=10, seed=9, backdate=timedelta(hours=1)))
    assert [(p["id"], p["text"]) for p in a] == [(p["id"], p["text"]) for p in b]


def test_without_backdate_posts_are_stamped_now():
    [post] = list(GeneratorSource(count=1, seed=1))
    assert abs(_time(post) - datetime.now(UTC)) < timedelta(seconds=5)


def test_backdate_needs_a_count_and_a_positive_span():
    with pytest.raises(ValueError, match="count"):
        GeneratorSource(backdate=timedelta(minutes=5))
    with pytest.raises(ValueError, match="longer than zero"):
        GeneratorSource(count=5, backdate=timedelta(0))
