"""The worked example of docs/connectors.md, against a loopback server: it resumes, waits out a 503, stops on a 401."""

from __future__ import annotations

import asyncio
import random
import sys
from pathlib import Path

import pytest
from aiohttp import web

from connectors.live import Backoff, CheckpointStore, SourceRefused, run_live
from tests.unit.test_live_sources import FakeProducer

NOTICES = [{"id": i, "text": f"Avviso {i}: sportello chiuso", "at": f"2026-11-29T10:{i:02d}:00Z"} for i in range(1, 8)]
NOTICES.insert(3, {"id": 99, "at": "2026-11-29T10:30:00Z"})  # no text: a dead letter


@pytest.fixture
def notices_source(monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "docs" / "examples"))
    import notices_source

    yield notices_source.Notices
    sys.modules.pop("notices_source", None)


async def serve(token: str, fail_first: int) -> tuple[web.AppRunner, str, list[int]]:
    calls: list[int] = []

    async def notices(request: web.Request) -> web.Response:
        calls.append(int(request.query.get("after", 0)))
        if request.headers.get("Authorization") != f"Bearer {token}":
            return web.Response(status=401)
        if len(calls) <= fail_first:
            return web.Response(status=503, headers={"Retry-After": "0"})
        after = int(request.query.get("after", 0))
        return web.json_response([n for n in NOTICES if n["id"] > after][:3])

    app = web.Application()
    app.router.add_get("/notices", notices)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}/notices", calls


def test_the_worked_example_publishes_resumes_and_waits_out_errors(tmp_path, notices_source):
    async def main() -> tuple[FakeProducer, list[int]]:
        runner, url, calls = await serve("t0ken", fail_first=1)
        producer, store = FakeProducer(), CheckpointStore(tmp_path, "notices")
        stop = asyncio.Event()

        async def stop_when_all_published() -> None:
            while len(set(producer.acked)) < 7:
                await asyncio.sleep(0.01)
            stop.set()

        watcher = asyncio.create_task(stop_when_all_published())
        backoff = Backoff(initial=0.01, rng=random.Random(1))
        await run_live(
            notices_source(url, "t0ken", every=0.01), producer, store, stop=stop, flush_every=1, backoff=backoff
        )  # type: ignore[arg-type]
        await watcher
        await runner.cleanup()
        return producer, calls

    producer, calls = asyncio.run(main())
    assert sorted(set(producer.acked), key=lambda i: int(i.split(":")[1])) == [f"notices:{i}" for i in range(1, 8)]
    assert producer.rejected and "not a notice" in producer.rejected[0]
    assert calls[:2] == [0, 0]  # a 503 first: the same position asked again
    assert CheckpointStore(tmp_path, "notices").load()["after"] >= 7


def test_the_worked_example_stops_on_a_refused_token(tmp_path, notices_source):
    async def main() -> None:
        runner, url, _ = await serve("t0ken", fail_first=0)
        try:
            await run_live(notices_source(url, "wrong"), FakeProducer(), CheckpointStore(tmp_path, "notices"))  # type: ignore[arg-type]
        finally:
            await runner.cleanup()

    with pytest.raises(SourceRefused, match="set NOTICES_TOKEN"):
        asyncio.run(main())
