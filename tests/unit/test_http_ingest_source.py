"""POST /ingest without Kafka: how items map to RawPosts, who gets in, and what each answer means."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer

from connectors.base import Rejected
from connectors.file import Columns
from connectors.http_ingest import BadBody, IngestEndpoint, parse_body, to_post
from core.errors import AscoltoError, DeliveryError
from core.settings import Settings
from core.signing import signed_headers
from schemas import validate

TOKEN = "s3cret-token"
SECRET = b"hmac-secret"


# --- mapping --------------------------------------------------------------------------------------


def test_a_minimal_item_becomes_a_valid_post_of_the_request_source():
    post = to_post({"id": 42, "text": "il treno è in ritardo"}, "crm", 0)
    assert not isinstance(post, Rejected)
    validate("raw_post", post)
    assert post["id"] == "crm:42" and post["native_id"] == "42" and post["source"] == "crm"
    assert post["author"]["handle"] == "unknown" and post.get("created_at_inferred") is True


def test_a_full_item_keeps_author_url_reply_language_and_extras():
    item = {
        "native_id": "t-1",
        "text": "Thanks for the quick answer",
        "created_at": "2025-03-01T10:00:00+01:00",
        "author": {"handle": "mario", "id": "u9", "name": "Mario Rossi", "followers": 12},
        "url": "https://crm.example/tickets/1",
        "lang": "EN",
        "in_reply_to": "crm:t-0",
        "channel": "phone",
    }
    post = to_post(item, "crm", 0)
    assert not isinstance(post, Rejected)
    assert post["created_at"] == "2025-03-01T09:00:00.000Z"
    assert post["author"] == {"id": "u9", "handle": "mario", "name": "Mario Rossi", "followers": 12}
    assert post["url"] == "https://crm.example/tickets/1" and post["lang_hint"] == "en"
    assert post["in_reply_to"] == "crm:t-0" and post["raw"] == {"channel": "phone"}


def test_an_author_given_as_a_string_is_the_handle():
    post = to_post({"id": "a", "text": "x", "author": "@anna"}, "http", 0)
    assert not isinstance(post, Rejected) and post["author"] == {"id": "@anna", "handle": "@anna"}


def test_a_rawpost_v1_is_taken_as_it_is():
    original = to_post({"id": "1", "text": "already a post"}, "relay", 0)
    assert to_post(dict(original), "other", 3) == original


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ({"text": "no id"}, "item 2: no native_id or id"),
        ({"id": True, "text": "a boolean id"}, "item 2: no native_id or id"),
        ({"id": "1"}, "item 2: no text"),
        ({"id": "1", "text": "   "}, "item 2: no text"),
        ({"id": "1", "text": "x", "created_at": "yesterday-ish"}, "item 2: "),
        ({"id": "1", "text": "x", "author": 7}, "item 2: author is a JSON number"),
        ({"id": "1", "text": "x", "author": {"handle": "a", "followers": "many"}}, "item 2: author.followers"),
        ("just text", "item 2: a JSON string, not an object"),
        ({"schema_version": 1, "id": "x:1"}, "item 2: "),  # a RawPost missing fields fails validation
    ],
)
def test_an_item_that_cannot_be_a_post_is_rejected_with_its_index_and_reason(item, reason):
    rejected = to_post(item, "http", 2)
    assert isinstance(rejected, Rejected)
    assert rejected.reason.startswith(reason) and len(rejected.reason) > len("item 2: ")
    assert orjson.loads(rejected.original) == item


def test_a_body_is_one_object_or_an_array():
    assert len(parse_body(b'{"id": 1, "text": "a"}', "http")) == 1
    items = parse_body(b'[{"id": 1, "text": "a"}, {"id": 2}, 3]', "http")
    assert [isinstance(i, Rejected) for i in items] == [False, True, True]
    assert parse_body(b"[]", "http") == []
    with pytest.raises(BadBody, match="not JSON"):
        parse_body(b'{"id": 1,', "http")
    with pytest.raises(BadBody, match="JSON string"):
        parse_body(b'"hello"', "http")


# --- the endpoint, with a producer that stands in for Kafka -------------------------------------------


class FakeProducer:
    """Acknowledges everything at flush, or refuses while ``down``, like PostProducer."""

    def __init__(self) -> None:
        self.unflushed: list[str] = []
        self.acked: list[str] = []
        self.letters: list[str] = []
        self.errors: list[str] = []
        self.down = False

    def publish(self, post: dict[str, Any]) -> bool:
        self.unflushed.append(post["id"])
        return True

    def reject(self, original: bytes, reason: str, key: str | None = None) -> None:
        self.letters.append(reason)

    def flush(self, timeout: float | None = None) -> None:
        if self.down:
            self.errors.append("posts.raw key=x: KafkaTimeoutError")
        if self.errors:  # as PostProducer: refusals stay until someone clears them
            raise DeliveryError(f"Kafka refused {len(self.errors)} record(s); check that the brokers are up.")
        self.acked.extend(self.unflushed)
        self.unflushed.clear()


def run_with_client(
    test: Callable[[TestClient, FakeProducer], Awaitable[None]], columns: Columns | None = None, **settings: Any
) -> FakeProducer:
    producer = FakeProducer()
    env = {"ingest_token": TOKEN, "ingest_secret": SECRET.decode(), "ingest_max_bytes": 4096, **settings}
    endpoint = IngestEndpoint(Settings(**env), producer, default_source="http", columns=columns)  # type: ignore[arg-type]

    async def main() -> None:
        async with TestClient(TestServer(endpoint.app())) as client:
            await test(client, producer)

    asyncio.run(main())
    return producer


BEARER = {"Authorization": f"Bearer {TOKEN}"}


def test_a_good_request_is_answered_202_with_the_acknowledged_ids():
    async def test(client: TestClient, producer: FakeProducer) -> None:
        body = [{"id": 1, "text": "ok"}, {"id": 2}, {"id": 3, "text": "ok too"}]
        resp = await client.post("/ingest?source=crm", json=body, headers=BEARER)
        assert resp.status == 202
        answer = await resp.json()
        assert answer["accepted"] == 2 and answer["rejected"] == 1
        assert answer["ids"] == ["crm:1", "crm:3"] and producer.acked == ["crm:1", "crm:3"]
        assert answer["rejections"] == [{"item": 1, "reason": "item 1: no text"}]
        assert producer.letters == ["item 1: no text"]

    run_with_client(test)


def test_a_signed_request_gets_in_and_a_tampered_or_stale_one_does_not():
    async def test(client: TestClient, producer: FakeProducer) -> None:
        body = json.dumps({"id": "s1", "text": "signed"}).encode()
        resp = await client.post("/ingest", data=body, headers=signed_headers(SECRET, body))
        assert resp.status == 202 and (await resp.json())["ids"] == ["http:s1"]
        tampered = body.replace(b"signed", b"forged")
        resp = await client.post("/ingest", data=tampered, headers=signed_headers(SECRET, body))
        assert resp.status == 401
        stale = signed_headers(SECRET, body, now=1_000_000)
        assert (await client.post("/ingest", data=body, headers=stale)).status == 401
        assert producer.acked == ["http:s1"]

    run_with_client(test)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}, {"Authorization": TOKEN}],
)
def test_missing_or_wrong_credentials_are_401_and_publish_nothing(headers):
    async def test(client: TestClient, producer: FakeProducer) -> None:
        resp = await client.post("/ingest", json={"id": 1, "text": "x"}, headers=headers)
        assert resp.status == 401 and "credentials" in (await resp.json())["error"]
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        assert producer.acked == [] and producer.letters == []

    run_with_client(test)


def test_bad_json_an_oversized_body_and_a_bad_source_are_refused_whole():
    async def test(client: TestClient, producer: FakeProducer) -> None:
        resp = await client.post("/ingest", data=b'[{"id": 1, "text": "x"', headers=BEARER)
        assert resp.status == 400 and "not JSON" in (await resp.json())["error"]
        big = json.dumps([{"id": i, "text": "x" * 100} for i in range(100)]).encode()
        resp = await client.post("/ingest", data=big, headers=BEARER)
        assert resp.status == 413 and "ASCOLTO_INGEST_MAX_BYTES" in (await resp.json())["error"]
        resp = await client.post("/ingest?source=Bad%20Name", json={"id": 1, "text": "x"}, headers=BEARER)
        assert resp.status == 400 and "source" in (await resp.json())["error"]
        assert producer.acked == [] and producer.letters == []

    run_with_client(test)


def test_kafka_not_acknowledging_is_503_and_the_next_request_goes_through_once_it_is_back():
    async def test(client: TestClient, producer: FakeProducer) -> None:
        producer.down = True
        resp = await client.post("/ingest", json={"id": 1, "text": "x"}, headers=BEARER)
        assert resp.status == 503 and "send them again" in (await resp.json())["error"]
        producer.down = False
        resp = await client.post("/ingest", json={"id": 1, "text": "x"}, headers=BEARER)
        assert resp.status == 202 and (await resp.json())["ids"] == ["http:1"]

    run_with_client(test)


def test_concurrent_requests_are_each_answered_with_their_own_ids():
    async def test(client: TestClient, producer: FakeProducer) -> None:
        async def send(n: int) -> list[str]:
            resp = await client.post(
                "/ingest", json=[{"id": f"{n}-{k}", "text": "x"} for k in range(3)], headers=BEARER
            )
            assert resp.status == 202
            return list((await resp.json())["ids"])

        answers = await asyncio.gather(*(send(n) for n in range(20)))
        for n, ids in enumerate(answers):
            assert ids == [f"http:{n}-{k}" for k in range(3)]
        assert sorted(producer.acked) == sorted(i for ids in answers for i in ids)

    run_with_client(test)


def test_the_endpoint_does_not_start_without_a_way_to_authenticate():
    with pytest.raises(AscoltoError, match="ASCOLTO_INGEST_TOKEN"):
        IngestEndpoint(Settings(), FakeProducer())  # type: ignore[arg-type]
    with pytest.raises(AscoltoError, match="source name"):
        IngestEndpoint(Settings(ingest_token=TOKEN), FakeProducer(), default_source="CRM!")  # type: ignore[arg-type]


def test_a_surprise_while_publishing_is_a_503_and_the_endpoint_keeps_answering():
    async def test(client: TestClient, producer: FakeProducer) -> None:
        broken = producer.flush

        def fail_once(timeout: float | None = None) -> None:
            producer.flush = broken  # type: ignore[method-assign]
            raise RuntimeError("a bug")

        producer.flush = fail_once  # type: ignore[method-assign]
        resp = await client.post("/ingest", json={"id": 1, "text": "x"}, headers=BEARER)
        assert resp.status == 503 and "unexpectedly" in (await resp.json())["error"]
        resp = await asyncio.wait_for(client.post("/ingest", json={"id": 2, "text": "x"}, headers=BEARER), 10)
        assert resp.status == 202

    run_with_client(test)


# --- a column mapping configured at start (a CRM export's own field names) -----------------------------

CRM = Columns(id="ticket_id", text="body", created_at="opened", author="customer", lang="language")


def test_a_mapped_item_becomes_the_post_its_columns_name():
    item = {
        "ticket_id": "T-77",
        "body": "La bolletta è sbagliata",
        "opened": "2025-03-01T10:00:00+01:00",
        "customer": "mario.rossi",
        "language": "IT",
        "channel": "phone",
    }
    post = to_post(item, "crm", 0, CRM)
    assert not isinstance(post, Rejected)
    validate("raw_post", post)
    assert post["id"] == "crm:T-77" and post["text"] == "La bolletta è sbagliata"
    assert post["created_at"] == "2025-03-01T09:00:00.000Z" and post["author"]["handle"] == "mario.rossi"
    assert post["lang_hint"] == "it" and post["raw"] == {"channel": "phone"}


def test_a_mapped_item_without_its_text_column_is_rejected_naming_the_column():
    rejected = to_post({"ticket_id": "T-78", "text": "in the wrong field"}, "crm", 4, CRM)
    assert isinstance(rejected, Rejected)
    assert rejected.reason == "item 4: no text in column 'body'"


def test_a_mapped_request_is_202_for_good_items_and_names_the_missing_column_for_bad_ones():
    async def test(client: TestClient, producer: FakeProducer) -> None:
        body = [{"ticket_id": "T-1", "body": "ok"}, {"ticket_id": "T-2", "note": "no body"}]
        resp = await client.post("/ingest?source=crm", json=body, headers=BEARER)
        assert resp.status == 202
        answer = await resp.json()
        assert answer["ids"] == ["crm:T-1"] and answer["rejected"] == 1
        assert answer["rejections"] == [{"item": 1, "reason": "item 1: no text in column 'body'"}]
        assert producer.acked == ["crm:T-1"] and producer.letters == ["item 1: no text in column 'body'"]

    run_with_client(test, columns=CRM)
