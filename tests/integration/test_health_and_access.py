"""A real worker bound beyond loopback: the token rule, Faust's views hidden, /healthz, and /readyz
following Elasticsearch away and back.

"Beyond loopback" is ASCOLTO_WEB_BIND=0.0.0.0 (every interface): what makes a worker reachable from
other machines is its bind, so the rule follows the bind, and a request through 127.0.0.1 needs the
token too. Elasticsearch goes away for this worker only: it reaches the shared Elasticsearch through
a TCP relay this test closes and reopens (the shared servers are never stopped).
"""

from __future__ import annotations

import socket
import threading
import urllib.error
import urllib.request
from typing import Any

import orjson
import pytest

from ascolto.testing import LocalPipeline, free_port, wait_for
from core.settings import Settings

pytestmark = pytest.mark.integration

TOKEN = "integration-token-0123456789abcdef"


class Relay:
    """A TCP relay from a local port to ``target``, which can be closed (connections cut) and reopened."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self.server: socket.socket | None = None
        self.conns: list[socket.socket] = []

    def open(self) -> None:
        if self.server is not None:
            return
        server = socket.create_server(("127.0.0.1", self.port))
        self.server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def close(self) -> None:
        if self.server is not None:
            # shutdown wakes the thread blocked in accept(); close alone would leave it accepting.
            try:
                self.server.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.server.close()
            self.server = None
        for conn in self.conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()
        self.conns.clear()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return  # closed
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, orjson.loads(resp.read())
    except urllib.error.HTTPError as exc:
        body = exc.read()
        try:
            return exc.code, orjson.loads(body)
        except orjson.JSONDecodeError:
            return exc.code, body.decode(errors="replace")


def test_token_probes_and_readiness_on_a_worker_bound_to_every_interface(tmp_path):
    es = Settings()
    host, _, port = es.es_url.rpartition("//")[2].rpartition("@")[2].partition(":")
    relay = Relay((host, int(port.strip("/") or 9200)))
    relay.open()
    relayed = es.es_url.replace(f"{host}:{port.strip('/')}", f"127.0.0.1:{relay.port}", 1)
    try:
        with LocalPipeline(tmp_path, web_bind="0.0.0.0", api_token=TOKEN, es_url=relayed) as pipeline:
            pipeline.start_worker()
            web = f"http://127.0.0.1:{pipeline.settings.web_port}"
            bearer = {"Authorization": f"Bearer {TOKEN}"}

            status, body = get(f"{web}/api/stats")
            assert status == 401 and "ASCOLTO_API_TOKEN" in body["error"]
            assert get(f"{web}/api/stats", {"Authorization": "Bearer wrong-token-wrong-token!!"})[0] == 401
            assert get(f"{web}/api/stats", bearer)[0] == 200
            assert get(f"{web}/api/search?q=anything&token={TOKEN}")[0] == 200
            assert get(f"{web}/healthz") == (200, {"alive": True})
            for path in ("/", "/router/", "/table/", "/graph/", "/stats/", "/assignment/"):
                assert get(f"{web}{path}", bearer)[0] == 404, path
            # Prometheus scrapes without a token: /metrics is its own server, on loopback by default.
            with urllib.request.urlopen(f"http://127.0.0.1:{pipeline.settings.metrics_port}/metrics") as resp:
                assert resp.status == 200

            def readyz() -> tuple[int, Any]:
                return get(f"{web}/readyz")

            wait_for(lambda: readyz()[0] == 200, timeout=60, what="/readyz 200 with the stack up")
            assert readyz()[1] == {"ready": True, "checks": {"kafka": "ok", "elasticsearch": "ok", "agents": "ok"}}

            relay.close()
            try:
                status, body = wait_for(
                    lambda: (r := readyz())[0] == 503 and r, timeout=30, what="/readyz 503 with Elasticsearch away"
                )
                assert body["checks"]["elasticsearch"].startswith("Elasticsearch at http")
                assert body["checks"]["kafka"] == "ok"
                assert TOKEN not in str(body)
                assert get(f"{web}/healthz")[0] == 200  # alive all the same

                relay.open()
                wait_for(lambda: readyz()[0] == 200, timeout=30, what="/readyz 200 once Elasticsearch is back")
                pipeline.assert_worker_alive()
            finally:
                relay.open()  # the pipeline's cleanup reaches Elasticsearch through it
    finally:
        relay.close()
