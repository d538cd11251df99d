"""`ascolto connect http` as a user runs it, against the real Kafka: refused requests publish nothing, a
mixed batch sends its bad items to the dead letters and its good ones through, and every id a 202 names
(of 50 requests at once) is in posts.raw, once; SIGTERM stops the endpoint cleanly."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from ascolto import launcher
from ascolto.testing import LocalPipeline, free_port, wait_for
from core.signing import signed_headers

TOKEN = "integration-token"
SECRET = b"integration-secret"
MAX_BYTES = 64 * 1024
BEARER = {"Authorization": f"Bearer {TOKEN}"}


class Endpoint:
    def __init__(self, pipeline: LocalPipeline, process: subprocess.Popen[str], port: int) -> None:
        self.pipeline, self.process = pipeline, process
        self.url = f"http://127.0.0.1:{port}"

    def post_all(self, requests: list[tuple[bytes, dict[str, str]]], path: str = "/ingest") -> list[tuple[int, Any]]:
        """Send the requests all at once; (status, JSON answer) of each."""

        async def send(session: aiohttp.ClientSession, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
            async with session.post(self.url + path, data=body, headers=headers) as resp:
                return resp.status, await resp.json()

        async def main() -> list[tuple[int, Any]]:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
                return list(await asyncio.gather(*(send(session, body, headers) for body, headers in requests)))

        return asyncio.run(main())

    def post(self, body: bytes, headers: dict[str, str], path: str = "/ingest") -> tuple[int, Any]:
        return self.post_all([(body, headers)], path)[0]

    def raw_ids(self, expected: int) -> list[str]:
        return [orjson.loads(r.value)["id"] for r in self.pipeline.read(self.pipeline.topics.raw, expected)]


def answers(url: str) -> bool:
    async def probe() -> bool:
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
                async with session.get(url + "/healthz") as resp:
                    return resp.status == 200
        except aiohttp.ClientError:
            return False

    return asyncio.run(probe())


@pytest.fixture
def endpoint(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Endpoint]:
    port = free_port()
    options = getattr(request, "param", ())  # more `connect http` options, through indirect parametrization
    with LocalPipeline(tmp_path) as pipeline:
        env = {
            **pipeline.env,
            "ASCOLTO_INGEST_TOKEN": TOKEN,
            "ASCOLTO_INGEST_SECRET": SECRET.decode(),
            "ASCOLTO_INGEST_MAX_BYTES": str(MAX_BYTES),
        }
        log = (tmp_path / "ingest.log").open("w")
        process = subprocess.Popen(
            launcher.ascolto_command("connect", "http", "--port", str(port), "--source", "crm", *options),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        ep = Endpoint(pipeline, process, port)
        try:

            def up() -> bool:
                assert process.poll() is None, (tmp_path / "ingest.log").read_text()
                return answers(ep.url)

            wait_for(up, timeout=60, what="the ingest endpoint to answer")
            yield ep
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=60) == 0, (tmp_path / "ingest.log").read_text()
            assert "every post it answered 202 for is in Kafka" in (tmp_path / "ingest.log").read_text()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            log.close()


def body_of(items: Any) -> bytes:
    return json.dumps(items).encode()


def test_refused_requests_publish_nothing_and_a_mixed_batch_dead_letters_only_its_bad_items(endpoint):
    one = body_of({"id": "r1", "text": "should never arrive"})
    assert endpoint.post(one, {})[0] == 401
    assert endpoint.post(one, {"Authorization": "Bearer not-the-token"})[0] == 401
    assert endpoint.post(one, signed_headers(b"another secret", one))[0] == 401
    status, answer = endpoint.post(b'[{"id": "r2", "text": "cut short"', BEARER)
    assert status == 400 and "not JSON" in answer["error"]
    huge = body_of([{"id": f"big{i}", "text": "x" * 1000} for i in range(100)])
    status, answer = endpoint.post(huge, BEARER)
    assert status == 413 and "ASCOLTO_INGEST_MAX_BYTES" in answer["error"]

    mixed = [
        {"id": "m1", "text": "Il servizio clienti ha risolto subito", "author": "anna", "created_at": 1_740_000_000},
        {"id": "m2"},  # no text
        {"native_id": "m3", "text": "Second good one", "author": {"handle": "bob", "followers": 3}},
        "not an object",
        {"id": "m4", "text": "bad time", "created_at": "the day after tomorrow"},
    ]
    status, answer = endpoint.post(body_of(mixed), BEARER)
    assert status == 202, answer
    assert answer["accepted"] == 2 and answer["rejected"] == 3 and answer["ids"] == ["crm:m1", "crm:m3"]
    assert [r["item"] for r in answer["rejections"]] == [1, 3, 4]

    signed = body_of({"id": "s1", "text": "signed by the relay"})
    status, answer = endpoint.post(signed, signed_headers(SECRET, signed), path="/ingest?source=relay")
    assert status == 202 and answer["ids"] == ["relay:s1"]

    assert sorted(endpoint.raw_ids(3)) == ["crm:m1", "crm:m3", "relay:s1"]
    letters = endpoint.pipeline.read_dead_letters(3)
    assert sorted(letter["error"].split(":")[0] for letter in letters) == ["item 1", "item 3", "item 4"]
    assert all(letter["stage"] == "connector:http" for letter in letters)
    assert any("no text" in letter["error"] for letter in letters)


def test_every_id_of_50_concurrent_202s_is_in_kafka_once(endpoint):
    requests = []
    for n in range(50):
        body = body_of(
            [{"id": f"c{n}-{k}", "text": f"post {k} of request {n}", "author": f"user{n}"} for k in range(4)]
        )
        requests.append((body, BEARER))
    results = endpoint.post_all(requests)
    assert [status for status, _ in results] == [202] * 50
    promised = [i for _, answer in results for i in answer["ids"]]
    assert len(promised) == 200 == len(set(promised))
    in_kafka = endpoint.raw_ids(200)
    assert sorted(in_kafka) == sorted(promised)  # all of them, and no id twice


CRM_COLUMNS = ("--id-column", "ticket_id", "--text-column", "body", "--author-column", "customer")


@pytest.mark.parametrize("endpoint", [CRM_COLUMNS], indirect=True)
def test_a_crm_export_posted_with_its_own_field_names_is_mapped_by_the_columns_given_at_start(endpoint):
    records = [
        {"ticket_id": "T-1", "body": "La bolletta è sbagliata", "customer": "mario", "priority": "high"},
        {"ticket_id": "T-2", "text": "the text under the default name is not the body"},
    ]
    status, answer = endpoint.post(body_of(records), BEARER)
    assert status == 202, answer
    assert answer["ids"] == ["crm:T-1"] and answer["rejections"] == [
        {"item": 1, "reason": "item 1: no text in column 'body'"}
    ]
    (record,) = endpoint.pipeline.read(endpoint.pipeline.topics.raw, 1)
    post = json.loads(record.value)
    assert post["text"] == "La bolletta è sbagliata" and post["author"]["handle"] == "mario"
    assert post["raw"] == {"priority": "high"}
    (letter,) = endpoint.pipeline.read_dead_letters(1)
    assert letter["error"] == "item 1: no text in column 'body'" and json.loads(letter["original"]) == records[1]
