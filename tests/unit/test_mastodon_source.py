"""Mastodon: Status entities (as the API documentation shows them) become RawPosts; SSE; rate-limit waits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import orjson
import pytest

from connectors.base import Rejected
from connectors.live import SourceRefused
from connectors.mastodon import MastodonSource, SseParser, html_to_text, retry_after, status_to_post
from schemas import validate

# The Status example of docs.joinmastodon.org/entities/Status (trimmed to the fields that matter).
DOCUMENTED = {
    "id": "103270115826048975",
    "created_at": "2019-12-08T03:48:33.901Z",
    "in_reply_to_id": None,
    "in_reply_to_account_id": None,
    "sensitive": False,
    "spoiler_text": "",
    "visibility": "public",
    "language": "en",
    "uri": "https://mastodon.social/users/Gargron/statuses/103270115826048975",
    "url": "https://mastodon.social/@Gargron/103270115826048975",
    "replies_count": 5,
    "reblogs_count": 6,
    "favourites_count": 11,
    "content": (
        "<p>&quot;I lost my inheritance with one wrong digit on my sort code&quot;</p>"
        '<p><a href="https://www.theguardian.com/money/2019/dec/07/i-lost-my-193000-inheritance-with-one-wrong'
        '-digit-on-my-sort-code" rel="nofollow noopener noreferrer" target="_blank"><span class="invisible">'
        'https://www.</span><span class="ellipsis">theguardian.com/money/2019/dec</span><span class="invisible">'
        "/07/i-lost-my-193000-inheritance-with-one-wrong-digit-on-my-sort-code</span></a></p>"
    ),
    "reblog": None,
    "account": {
        "id": "1",
        "username": "Gargron",
        "acct": "Gargron",
        "display_name": "Eugen",
        "followers_count": 322930,
        "url": "https://mastodon.social/@Gargron",
    },
    "media_attachments": [],
    "mentions": [],
    "tags": [],
}


def test_a_documented_status_becomes_a_valid_raw_post():
    post = status_to_post(DOCUMENTED, "mastodon.social")
    validate("raw_post", post)
    assert post["id"] == "mastodon:mastodon.social/103270115826048975"
    assert post["text"].startswith('"I lost my inheritance with one wrong digit on my sort code"\n\nhttps://www.')
    assert "<" not in post["text"] and "&quot;" not in post["text"]
    assert post["created_at"].startswith("2019-12-08T03:48:33")
    assert post["author"] == {
        "id": "Gargron@mastodon.social",
        "handle": "Gargron@mastodon.social",
        "name": "Eugen",
        "followers": 322930,
    }
    assert post["url"] == "https://mastodon.social/@Gargron/103270115826048975"
    assert post["lang_hint"] == "en"
    assert post["metrics"] == {"likes": 11, "reposts": 6, "replies": 5}
    assert "in_reply_to" not in post


def test_a_remote_reply_keeps_its_author_domain_and_points_at_the_post_it_answers():
    status = {
        **DOCUMENTED,
        "in_reply_to_id": "103270000000000000",
        "language": "pt-BR",
        "spoiler_text": "CW: money",
        "account": {**DOCUMENTED["account"], "acct": "anna@example.it", "display_name": ""},
    }
    post = status_to_post(status, "mastodon.social")
    validate("raw_post", post)
    assert post["author"]["handle"] == "anna@example.it" and "name" not in post["author"]
    assert post["in_reply_to"] == "mastodon:mastodon.social/103270000000000000"
    assert post["lang_hint"] == "pt"
    assert post["text"].startswith("CW: money\n\n")


def test_a_reblog_is_the_post_it_shares_under_the_reblog_id():
    original = {**DOCUMENTED, "content": "<p>shared words</p>", "account": {**DOCUMENTED["account"], "acct": "b"}}
    post = status_to_post({**DOCUMENTED, "id": "9", "content": "", "reblog": original}, "h.example")
    assert post["native_id"] == "h.example/9" and post["text"] == "shared words"
    assert post["author"]["handle"] == "b@h.example"


def test_html_breaks_and_entities():
    assert html_to_text("<p>a<br>b &amp; c</p><p>d&#39;e</p>") == "a\nb & c\n\nd'e"


def test_sse_events_heartbeats_and_multiline_data():
    parser = SseParser()
    lines = [":thump\n", "event: update\r\n", 'data: {"a":\n', "data: 1}\n", "\n", ":thump\n", "event: delete\n"]
    lines += ["data: 123\n", "\n", "\n"]
    events = [event for line in lines for event in parser.feed(line)]
    assert events == [("update", '{"a":\n1}'), ("delete", "123")]


def test_retry_after_in_seconds_http_date_or_rate_limit_reset():
    assert retry_after({"Retry-After": "7"}) == 7
    later = datetime.now(UTC) + timedelta(seconds=30)
    assert 25 < retry_after({"Retry-After": format_datetime(later, usegmt=True)}) <= 30  # type: ignore[operator]
    assert 25 < retry_after({"X-RateLimit-Reset": later.isoformat().replace("+00:00", "Z")}) <= 30  # type: ignore[operator]
    assert retry_after({}) is None


def test_a_rate_limit_reset_without_an_offset_is_utc_not_a_crash():
    later = datetime.now(UTC) + timedelta(seconds=30)
    assert 25 < retry_after({"X-RateLimit-Reset": later.replace(tzinfo=None).isoformat()}) <= 30  # type: ignore[operator]


def test_a_malformed_status_is_rejected_with_a_reason_and_still_moves_the_checkpoint():
    source = MastodonSource("https://mastodon.social", hashtag="x")
    item, sid = source._item(b"{not json", 5)
    assert isinstance(item.post, Rejected) and "not a Mastodon status" in item.post.reason
    assert sid is None and item.checkpoint is None
    item, sid = source._item(orjson.dumps({"id": "12", "content": "no account"}), 5)
    assert isinstance(item.post, Rejected) and "account" in item.post.reason
    assert sid == 12 and item.checkpoint == {"since_id": "12"}


def test_one_checkpoint_per_instance_and_stream_and_bad_options_say_what_is_wrong():
    assert MastodonSource("mastodon.social", hashtag="#Roma").checkpoint_name == "mastodon-mastodon.social-tag-Roma"
    assert MastodonSource("https://m.example:8443", timeline="local").checkpoint_name == "mastodon-m.example_8443-local"
    with pytest.raises(ValueError, match="instance address"):
        MastodonSource("ftp://x")
    with pytest.raises(ValueError, match="public, local"):
        MastodonSource("mastodon.social", timeline="home")  # mentions: below


# --- mentions: Notification entities (docs.joinmastodon.org/entities/Notification) ---------------------------


def notification(nid: str, kind: str, status: dict | None = None) -> bytes:
    note = {"id": nid, "type": kind, "created_at": "2019-11-23T07:49:02.064Z", "account": DOCUMENTED["account"]}
    if status is not None:
        note["status"] = status
    return orjson.dumps(note)


def test_a_mention_is_its_status_as_a_post_and_the_checkpoint_is_the_notification_id():
    source = MastodonSource("https://mastodon.social", timeline="mentions", token="t")
    item, nid = source._entry(notification("34975861", "mention", DOCUMENTED), 0)
    assert item is not None and not isinstance(item.post, Rejected)
    validate("raw_post", item.post)
    assert item.post == status_to_post(DOCUMENTED, "mastodon.social")  # one document with the timeline's
    assert nid == 34975861 and item.checkpoint == {"since_id": "34975861"}


def test_other_notifications_are_skipped_and_a_mention_without_a_status_is_rejected():
    source = MastodonSource("https://mastodon.social", timeline="mentions", token="t")
    for kind in ("favourite", "reblog", "follow", "poll", "status"):
        assert source._entry(notification("5", kind, DOCUMENTED if kind != "follow" else None), 0) == (None, 5)
    item, nid = source._entry(notification("6", "mention"), 0)
    assert item is not None and isinstance(item.post, Rejected) and "not a Mastodon mention" in item.post.reason
    assert nid == 6 and item.checkpoint == {"since_id": "6"}
    item, nid = source._entry(b'{"type": "mention"}', 0)
    assert item is not None and isinstance(item.post, Rejected) and "not a Mastodon notification" in item.post.reason


def test_mentions_need_a_token_have_their_own_checkpoint_and_read_the_user_stream():
    source = MastodonSource("https://mastodon.social", timeline="mentions", token="t")
    assert source.checkpoint_name == "mastodon-mastodon.social-mentions"
    assert source._paths() == ("/api/v1/streaming/user/notification", "/api/v1/notifications", {"types[]": "mention"})
    with pytest.raises(SourceRefused, match=r"read:notifications.*set MY_TOKEN"):
        MastodonSource("https://mastodon.social", timeline="mentions", token_env="MY_TOKEN")
    with pytest.raises(ValueError, match="hashtag cannot be combined"):
        MastodonSource("https://mastodon.social", timeline="mentions", hashtag="x", token="t")
