"""Reddit: documented t3/t1 things become RawPosts; the rate-limit budget's pacing; the checkpoint's overlap."""

from __future__ import annotations

import pytest

from connectors.reddit import Listing, RateBudget, RedditSource, thing_to_post
from schemas import validate
from tests.reddit_server import comment_thing, post_thing


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_post_becomes_a_valid_raw_post_with_its_thread_url_and_counts() -> None:
    post = thing_to_post(post_thing(7, selftext="Da due settimane &amp; nessuna risposta."))
    assert post is not None
    validate("raw_post", post)
    assert post["id"] == "reddit:t3_p7" and post["native_id"] == "t3_p7"
    assert post["text"] == "Post 7: il treno è in ritardo\n\nDa due settimane &amp; nessuna risposta."
    assert post["created_at"] == "2025-01-01T10:00:07.000Z"
    assert post["author"] == {"id": "t2_4xk1e", "handle": "mario_rossi"}
    assert post["url"] == "https://www.reddit.com/r/italy/comments/p7/post_7/"
    assert post["metrics"] == {"likes": 12, "replies": 3}
    assert "in_reply_to" not in post
    assert post["raw"] == {"subreddit": "italy", "link_id": "t3_p7", "conversation_id": "reddit:t3_p7", "score": 12}


def test_a_comment_replies_to_its_parent_in_its_post_s_thread() -> None:
    post = thing_to_post(comment_thing(4, link=1))
    assert post is not None
    validate("raw_post", post)
    assert post["id"] == "reddit:t1_c4" and post["text"] == "Commento 4: concordo, è un disservizio"
    assert post["in_reply_to"] == "reddit:t1_c3"
    assert post.get("raw") == {"subreddit": "italy", "link_id": "t3_p1", "conversation_id": "reddit:t3_p1", "score": 2}
    assert post["url"] == "https://www.reddit.com/r/italy/comments/p1/post_1/c4/"


@pytest.mark.parametrize(
    "thing",
    [
        comment_thing(3, body="[removed]"),
        comment_thing(3, body="[deleted]"),
        post_thing(3, selftext="[removed]"),
        post_thing(3, selftext="[deleted]"),
    ],
)
def test_removed_and_deleted_things_are_not_posts(thing: dict) -> None:
    assert thing_to_post(thing) is None


def test_a_deleted_author_has_no_handle() -> None:
    thing = comment_thing(5)
    thing["data"]["author"] = "[deleted]"
    post = thing_to_post(thing)
    assert post is not None and post["author"]["handle"] == "unknown"


@pytest.mark.parametrize("missing", ["name", "created_utc"])
def test_a_thing_without_fullname_or_time_cannot_be_a_post(missing: str) -> None:
    thing = post_thing(1)
    del thing["data"][missing]
    with pytest.raises(KeyError):
        thing_to_post(thing)


def test_the_budget_spreads_the_remaining_requests_over_the_window() -> None:
    clock = Clock()
    budget = RateBudget(clock=clock, margin=1.0)
    assert budget.wait() == 0.0  # nothing known yet: the first request goes at once
    budget.update({"X-Ratelimit-Used": "4", "X-Ratelimit-Remaining": "96.0", "X-Ratelimit-Reset": "48"})
    assert budget.wait() == pytest.approx(0.5)  # 48 s for 96 requests
    clock.now += 0.2
    assert budget.wait() == pytest.approx(0.3)


def test_the_budget_waits_for_the_reset_when_none_remain() -> None:
    clock = Clock()
    budget = RateBudget(clock=clock, margin=1.0)
    budget.update({"X-Ratelimit-Used": "100", "X-Ratelimit-Remaining": "0.0", "X-Ratelimit-Reset": "7"})
    assert budget.wait() == pytest.approx(8.0)  # the reset is whole seconds, maybe rounded down: one more


def test_a_budget_of_n_requests_is_never_exceeded_when_its_waits_are_kept() -> None:
    """A simulated server (10 requests per 2 s windows, reset rounded down) and a client that keeps the waits."""
    clock = Clock()
    start = clock.now
    budget = RateBudget(clock=clock, margin=1.0)
    per_window: dict[int, int] = {}
    for _ in range(200):
        clock.now += budget.wait()
        window = int((clock.now - start) // 2.0)
        per_window[window] = per_window.get(window, 0) + 1
        used = per_window[window]
        end = start + (window + 1) * 2.0
        budget.update({"X-Ratelimit-Remaining": str(10 - used), "X-Ratelimit-Reset": str(int(end - clock.now))})
        clock.now += 0.01  # the request's own time
    assert max(per_window.values()) <= 10


def test_without_headers_requests_keep_reddit_s_average_pace() -> None:
    clock = Clock()
    budget = RateBudget(clock=clock)
    budget.update({})
    assert budget.wait() == pytest.approx(0.6)


def test_a_429_waits_for_retry_after_else_the_reset() -> None:
    budget = RateBudget(margin=1.0)
    assert budget.retry_after({"Retry-After": "3"}) == 3.0
    assert budget.retry_after({"X-Ratelimit-Reset": "5"}) == 6.0
    assert budget.retry_after({}) is None


def entries(*ids: int) -> list[tuple[str, float, int]]:
    """(fullname, created_utc, thing) for posts with these numbers, newest first as listings are."""
    return [(f"t3_p{i}", float(i), i) for i in sorted(ids, reverse=True)]


def test_a_first_poll_takes_the_page_and_does_not_page_on() -> None:
    listing = Listing.load(None, keep=100)
    assert listing.select(entries(3, 2, 1), overlap=600) == ([3, 2, 1], False)


def test_a_poll_keeps_only_what_it_has_not_seen_and_stops_paging_there() -> None:
    listing = Listing.load({"newest": 5.0, "seen": ["t3_p4", "t3_p5"]}, keep=100)
    # 3 is older than the newest published but within the overlap and never seen (it appeared late).
    assert listing.select(entries(7, 6, 5, 4, 3), overlap=600) == ([7, 6, 3], False)


def test_a_page_entirely_new_asks_for_the_next_one() -> None:
    listing = Listing.load({"newest": 5.0, "seen": ["t3_p5"]}, keep=100)
    assert listing.select(entries(9, 8, 7), overlap=600) == ([9, 8, 7], True)


def test_things_older_than_the_overlap_are_taken_as_published() -> None:
    listing = Listing.load({"newest": 1000.0, "seen": []}, keep=100)
    assert listing.select(entries(1001, 300, 200), overlap=600) == ([1001], False)


def test_the_seen_set_is_bounded_and_the_newest_only_grows() -> None:
    listing = Listing.load(None, keep=3)
    for i in (1, 2, 5, 4):
        listing.add(f"t3_p{i}", float(i))
    assert listing.dump() == {"newest": 5.0, "seen": ["t3_p2", "t3_p5", "t3_p4"]}
    assert Listing.load(listing.dump(), keep=3) == listing


def credentials(**overrides: object) -> dict:
    return {"client_id": "id", "client_secret": "secret", "user_agent": "linux:x:1 (by /u/me)"} | overrides


def test_the_source_checks_what_it_is_given() -> None:
    assert RedditSource(["r/italy", "Roma"], **credentials()).joined == "italy+Roma"
    with pytest.raises(ValueError, match="User-Agent"):
        RedditSource(["italy"], **credentials(user_agent=" "))
    with pytest.raises(ValueError, match="not a subreddit name"):
        RedditSource(["it aly"], **credentials())
    with pytest.raises(ValueError, match="kinds must be among"):
        RedditSource(["italy"], **credentials(), kinds=("votes",))
    with pytest.raises(ValueError, match="ASCOLTO_REDDIT_CLIENT_ID"):
        RedditSource(["italy"], **credentials(client_secret=""))
