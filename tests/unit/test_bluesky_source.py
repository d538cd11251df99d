"""Jetstream events -> RawPosts: the mapping, the filters, and what is skipped or dead-lettered."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from ascolto.testing import free_port
from connectors.base import Rejected
from connectors.bluesky import BlueskySource
from connectors.live import Item, SourceRefused, SourceUnavailable
from schemas import validate
from tests.jetstream import STEP, T0, JetstreamServer, other_events, post_event

DID = "did:plc:eygmaihciaxprqvxpfvl6flk"


def item(source: BlueskySource, event: dict | bytes, floor_us: int = 0):
    return source.item_of(event if isinstance(event, bytes) else orjson.dumps(event), floor_us)


def test_a_post_becomes_a_raw_post_with_its_url_language_and_the_post_it_replies_to():
    parent = f"at://{DID}/app.bsky.feed.post/3l3parent"
    root = "at://did:plc:root/app.bsky.feed.post/3l3root"
    event = post_event(
        1,
        "Il treno delle 8 è di nuovo in ritardo",
        langs=["it-IT", "en"],
        reply={"root": {"uri": root, "cid": "x"}, "parent": {"uri": parent, "cid": "y"}},
    )
    got = item(BlueskySource(), event)
    assert got is not None and not isinstance(got.post, Rejected)
    post = got.post
    validate("raw_post", post)
    assert post["id"] == f"bluesky:{DID}/3l3qo2vuowo001"
    assert post["text"] == "Il treno delle 8 è di nuovo in ritardo"
    assert post["created_at"] == "2024-09-09T19:46:02.102Z"
    assert post["author"] == {"id": DID, "handle": DID}
    assert post["url"] == f"https://bsky.app/profile/{DID}/post/3l3qo2vuowo001"
    assert post["lang_hint"] == "it"
    assert post["in_reply_to"] == f"bluesky:{DID}/3l3parent"
    assert post["raw"]["thread"] == "bluesky:did:plc:root/3l3root"
    assert got.checkpoint == {"time_us": T0 + STEP}


def test_a_quote_is_kept_and_a_broken_created_at_falls_back_to_when_jetstream_saw_the_post():
    quoted = f"at://{DID}/app.bsky.feed.post/3l3quoted"
    event = post_event(
        2, "look at this", createdAt="yesterday", embed={"$type": "app.bsky.embed.record", "record": {"uri": quoted}}
    )
    post = item(BlueskySource(), event).post
    validate("raw_post", post)
    assert post["raw"]["quotes"] == f"bluesky:{DID}/3l3quoted" and post["raw"]["bad_created_at"] == "yesterday"
    assert post["created_at"].startswith("2024-09-09T19:46:0")  # from time_us


def test_identity_account_deletes_likes_and_image_only_posts_are_skipped():
    like = post_event(3)
    like["commit"]["collection"] = "app.bsky.feed.like"
    source = BlueskySource()
    for event in [*other_events(3), like, post_event(4, "   ")]:
        assert item(source, event) is None


def test_malformed_messages_become_rejects_with_a_reason():
    source = BlueskySource()
    not_json = item(source, b"{not json")
    assert isinstance(not_json.post, Rejected) and "not JSON" in not_json.post.reason
    no_text = post_event(5)
    del no_text["commit"]["record"]["text"]
    rejected = item(source, no_text)
    assert isinstance(rejected.post, Rejected) and "text is not a string" in rejected.post.reason
    assert rejected.checkpoint == {"time_us": T0 + 5 * STEP}  # a reject moves the position on as well
    no_rkey = post_event(6)
    del no_rkey["commit"]["rkey"]
    assert "has no rkey" in item(source, no_rkey).post.reason


def test_keywords_match_anywhere_ignoring_case_and_authors_by_did():
    source = BlueskySource(keywords=["INPS", "#sciopero"])
    assert item(source, post_event(7, "Il sito dell'inps non funziona")) is not None
    assert item(source, post_event(8, "Domani #Sciopero dei treni")) is not None
    assert item(source, post_event(9, "Bella giornata")) is None
    by_did = BlueskySource(dids=["did:plc:wanted"])
    assert item(by_did, post_event(10, did="did:plc:other")) is None
    assert item(by_did, post_event(11, did="did:plc:wanted")).post["author"]["id"] == "did:plc:wanted"


def test_the_cursor_is_rewound_five_seconds_and_replayed_events_never_move_the_checkpoint_back():
    source = BlueskySource(dids=["did:plc:wanted"])
    params = source._params({"time_us": T0})
    assert ("cursor", str(T0 - 5_000_000)) in params and ("wantedDids", "did:plc:wanted") in params
    assert ("cursor", str(T0)) not in params and not any(k == "cursor" for k, _ in BlueskySource()._params({}))
    replayed = item(BlueskySource(), post_event(1), floor_us=T0 + 50 * STEP)
    assert replayed.checkpoint == {"time_us": T0 + 50 * STEP}


def test_a_delete_of_a_post_is_skipped_and_does_not_move_the_checkpoint():
    # Deletes are not propagated: a post deleted on Bluesky stays in the index (only new posts are listened to).
    deleted = post_event(12)
    deleted["commit"] = {
        "rev": "3l3x",
        "operation": "delete",
        "collection": "app.bsky.feed.post",
        "rkey": "3l3qo2vuowo012",
    }
    assert item(BlueskySource(), deleted) is None


# --- --handle, resolved to its DID at start through a loopback AppView -----------------------------------


async def drain(source: BlueskySource, got: list[Item]) -> None:
    async for one in source.stream({}):
        got.append(one)


async def items_until_closed(source: BlueskySource) -> list[Item]:
    """What one connection yields before the loopback server closes it after its last event."""
    got: list[Item] = []
    with pytest.raises(SourceUnavailable, match="closed the connection"):
        await drain(source, got)
    return got


def test_a_handle_resolves_to_its_did_and_only_its_posts_arrive_under_that_handle():
    wanted = "did:plc:z72i7hdynmk6r22z27h6tvur"
    with JetstreamServer([], handles={"bsky.app": wanted}) as server:
        server.add(post_event(1, did=DID), post_event(2, "from the wanted one", did=wanted), post_event(3, did=DID))
        source = BlueskySource(url=server.url, handles=["@BSKY.app"], resolver=server.base + "/")
        got = asyncio.run(items_until_closed(source))
    assert server.resolved == ["bsky.app"]
    assert [i.post["text"] for i in got] == ["from the wanted one"]
    assert got[0].post["author"] == {"id": wanted, "handle": "bsky.app"}


def test_an_unknown_handle_stops_the_source_with_one_sentence():
    with JetstreamServer([post_event(1)]) as server:
        source = BlueskySource(url=server.url, handles=["nobody.example"], resolver=server.base)
        with pytest.raises(SourceRefused) as refused:
            asyncio.run(drain(source, []))
    assert str(refused.value) == (
        f"The Bluesky handle @nobody.example does not resolve to an account at {server.base}; "
        "check --handle, or give the account's --did."
    )


def test_a_resolver_answering_503_or_unreachable_is_retried_later_not_a_refusal():
    with JetstreamServer([], handles={"a.example": DID}, refuse_resolve=[503]) as server:
        server.add(post_event(1))
        source = BlueskySource(url=server.url, handles=["a.example"], resolver=server.base)
        with pytest.raises(SourceUnavailable, match="HTTP 503"):
            asyncio.run(drain(source, []))
        assert [i.post["author"]["handle"] for i in asyncio.run(items_until_closed(source))] == ["a.example"]
    away = BlueskySource(url=server.url, handles=["a.example"], resolver=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(SourceUnavailable, match=r"cannot resolve @a\.example"):
        asyncio.run(drain(away, []))
