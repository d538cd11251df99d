"""The RSS/Atom source: entries to posts, conditional GETs, de-duplication, faults (loopback feed server)."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import feedparser
import pytest

from connectors.base import Rejected
from connectors.live import Backoff, CheckpointStore, SourceRefused, run_live
from connectors.rss import RssSource, entry_to_post, native_id
from schemas import validate
from tests.feeds import Feed, FeedServer, atom_document, atom_entry, rss_document, rss_item


def parse(body: bytes, url: str = "https://comune.example/avvisi.xml") -> Any:
    return feedparser.parse(body, response_headers={"content-location": url})


class Producer:
    """Kafka stand-in: everything handed over is acknowledged at each flush."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.rejected: list[str] = []

    def publish(self, post: dict[str, Any]) -> bool:
        validate("raw_post", post)
        self.posts.append(post)
        return True

    def reject(self, original: bytes, reason: str, key: str | None = None) -> None:
        self.rejected.append(reason)

    def flush(self) -> None:
        pass


def run(source: RssSource, store: CheckpointStore, producer: Producer) -> Any:
    backoff = Backoff(initial=0.05, rng=random.Random(1))
    return asyncio.run(run_live(source, producer, store, backoff=backoff))  # type: ignore[arg-type]


def test_an_rss_item_becomes_a_post_with_text_time_link_author_and_language():
    parsed = parse(rss_document([rss_item(2), rss_item(1)]))
    post = entry_to_post("https://comune.example/avvisi.xml", parsed.entries[1], parsed.feed)
    assert not isinstance(post, Rejected)
    validate("raw_post", post)
    assert post["text"] == "Avviso 1: lavori in via Roma\n\nIl servizio 1 resta chiuso & riapre lunedì."
    assert post["created_at"].startswith("2025-03-01T08:01:00") and "created_at_inferred" not in post
    assert post["url"] == "https://comune.example/avvisi/1"
    assert post["author"]["name"] == "ufficio.stampa@comune.example (Ufficio stampa)"
    assert post["lang_hint"] == "it"
    assert post["id"] == "rss:" + native_id("https://comune.example/avvisi.xml", "avviso-1")


def test_ids_are_stable_per_feed_and_guid():
    a = native_id("https://a.example/feed", "x")
    assert a == native_id("https://a.example/feed", "x")
    assert a != native_id("https://b.example/feed", "x") and a != native_id("https://a.example/feed", "y")


def test_an_atom_entry_resolves_its_relative_link_and_uses_updated():
    parsed = parse(atom_document([atom_entry(3)]), "https://agency.example/feed.atom")
    post = entry_to_post("https://agency.example/feed.atom", parsed.entries[0], parsed.feed)
    assert not isinstance(post, Rejected)
    assert post["text"] == "Press release 3\n\nRelease 3 about the new service."
    assert post["url"] == "https://agency.example/news/3"
    assert post["created_at"].startswith("2025-03-01T11:00:00")
    assert post["author"]["handle"] == "Press Office" and post["lang_hint"] == "en"
    assert post["raw"]["guid"] == "urn:uuid:00000000-0000-4000-8000-000000000003"


def test_an_item_without_guid_is_keyed_by_its_link_and_one_without_either_is_rejected():
    no_guid = parse(rss_document([rss_item(5, guid=False)])).entries[0]
    post = entry_to_post("u", no_guid, {})
    assert not isinstance(post, Rejected) and post["raw"]["guid"] == "https://comune.example/avvisi/5"
    bare = parse(rss_document(["<item><description>solo testo</description></item>"])).entries[0]
    rejected = entry_to_post("u", bare, {})
    assert isinstance(rejected, Rejected) and "neither a guid/id nor a link" in rejected.reason
    empty = parse(rss_document(["<item><guid>g</guid></item>"])).entries[0]
    rejected = entry_to_post("u", empty, {})
    assert isinstance(rejected, Rejected) and "neither a title nor a summary" in rejected.reason


def test_polls_use_etag_so_a_second_run_fetches_nothing_and_only_new_entries_are_published(tmp_path):
    store = CheckpointStore(tmp_path, "rss")
    with FeedServer() as server:
        server.feeds["/rss"] = Feed(rss_document(rss_item(n) for n in range(5, 0, -1)))
        server.feeds["/atom"] = Feed(atom_document(atom_entry(n) for n in (2, 1)), "application/atom+xml")
        urls = [server.url("/rss"), server.url("/atom")]
        first = Producer()
        run(RssSource(urls, once=True), store, first)
        assert len(first.posts) == 7 and len({p["id"] for p in first.posts}) == 7
        # Oldest first, as they were written.
        assert [p["raw"]["guid"] for p in first.posts if "avviso" in p["raw"]["guid"]] == [
            f"avviso-{n}" for n in range(1, 6)
        ]

        again = Producer()
        run(RssSource(urls, once=True), store, again)
        assert again.posts == [] and server.statuses("/rss") == [200, 304]

        server.feeds["/rss"] = Feed(rss_document(rss_item(n) for n in range(6, 0, -1)))
        newer = Producer()
        run(RssSource(urls, once=True), store, newer)
        assert [p["raw"]["guid"] for p in newer.posts] == ["avviso-6"]


def test_a_rate_limited_feed_waits_while_the_other_goes_on(tmp_path):
    with FeedServer() as server:
        server.feeds["/busy"] = Feed(rss_document([rss_item(1)]), faults=[("status", 429, 1), ("status", 503, None)])
        server.feeds["/calm"] = Feed(atom_document([atom_entry(1)]), "application/atom+xml")
        producer = Producer()
        report = run(
            RssSource([server.url("/busy"), server.url("/calm")], once=True), CheckpointStore(tmp_path, "r"), producer
        )
        assert server.statuses("/busy") == [429, 503, 200] and server.statuses("/calm") == [200]
        assert [p["raw"]["guid"][:3] for p in producer.posts] == ["urn", "avv"]
        assert report.reconnects == 2


def test_a_refused_feed_stops_the_source_with_one_sentence_without_its_credentials(tmp_path):
    with FeedServer() as server:
        server.feeds["/private"] = Feed(b"", faults=[("status", 401, None)])
        url = server.url("/private").replace("http://", "http://reader:s3cret@")
        with pytest.raises(SourceRefused) as refused:
            run(RssSource([url], once=True), CheckpointStore(tmp_path, "r"), Producer())
    message = str(refused.value)
    assert "answered 401" in message and "check the URL" in message and "s3cret" not in message


def test_a_document_that_is_not_a_feed_is_dead_lettered_once(tmp_path):
    store = CheckpointStore(tmp_path, "r")
    with FeedServer() as server:
        server.feeds["/page"] = Feed(b"<html><body>Login required</body></html>", "text/html")
        for _ in range(2):
            producer = Producer()
            run(RssSource([server.url("/page")], once=True), store, producer)
            rejected = producer.rejected
            if _ == 0:
                assert len(rejected) == 1 and "is not an RSS or Atom feed" in rejected[0]
            else:
                assert rejected == []
