"""Access to the worker's web server: the bind rule, the token check, Faust's own views hidden.

The app is the real worker app (``build_worker_app``), its aiohttp application served in-process;
Kafka and Elasticsearch are closed ports here, which only /readyz and the API would notice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from ascolto import launcher
from ascolto.launcher import readiness_url
from ascolto.worker import build_worker_app
from core.errors import ConfigError
from core.settings import Settings
from web.access import TOKEN_COOKIE, presented_token, required_token, token_matches
from web.addresses import is_loopback

TOKEN = "s3cret-token-of-32-characters-xx"


@pytest.mark.parametrize("bind", ["127.0.0.1", "127.0.0.53", "localhost", "::1", "[::1]"])
def test_loopback_binds(bind):
    assert is_loopback(bind)


@pytest.mark.parametrize("bind", ["0.0.0.0", "::", "", "192.168.1.20", "worker.example.org"])
def test_other_binds_reach_beyond_this_machine(bind):
    assert not is_loopback(bind)


def test_loopback_needs_no_token():
    assert required_token(Settings(web_bind="127.0.0.1")) is None


def test_non_local_bind_without_token_is_refused_with_one_sentence():
    with pytest.raises(ConfigError, match="set ASCOLTO_API_TOKEN") as info:
        required_token(Settings(web_bind="0.0.0.0"))
    assert "\n" not in str(info.value)


def test_short_token_is_refused():
    with pytest.raises(ConfigError, match="at least 16"):
        required_token(Settings(web_bind="0.0.0.0", api_token="short"))


def test_worker_refuses_to_start_open_to_the_network(tmp_path):
    with pytest.raises(ConfigError, match="ASCOLTO_API_TOKEN"):
        build_worker_app(Settings(web_bind="0.0.0.0", data_dir=tmp_path))


def test_token_comparison():
    assert token_matches(TOKEN, TOKEN)
    assert not token_matches(TOKEN[:-1] + "y", TOKEN)
    assert not token_matches("", TOKEN)
    assert not token_matches(None, TOKEN)
    assert not token_matches("è", TOKEN)  # non-ASCII input is a wrong token, not a crash


def test_where_a_token_may_come_from():
    assert presented_token({"Authorization": f"Bearer {TOKEN}"}, {}, {}) == TOKEN
    assert presented_token({"Authorization": f"bearer  {TOKEN} "}, {}, {}) == TOKEN
    assert presented_token({}, {"token": TOKEN}, {}) == TOKEN
    assert presented_token({}, {}, {TOKEN_COOKIE: TOKEN}) == TOKEN
    assert presented_token({"Authorization": f"Basic {TOKEN}"}, {}, {}) is None


def serve(settings: Settings, scenario: Callable[[TestClient[Any, Any]], Awaitable[None]]) -> None:
    """Run ``scenario`` against the worker app's web server, in this process."""
    app = build_worker_app(settings)
    app.web.init_server()  # what the worker does at start: Faust's blueprints, then our pages

    async def main() -> None:
        async with TestClient(TestServer(app.web.web_app)) as client:
            await scenario(client)

    asyncio.run(main())


FAUST_VIEWS = ["/", "/router/", "/table/", "/graph/", "/stats/", "/assignment/", "/performance/"]


def test_token_required_when_bound_beyond_loopback(tmp_path):
    async def scenario(client: TestClient[Any, Any]) -> None:
        resp = await client.get("/api/stats")
        assert resp.status == 401
        assert "ASCOLTO_API_TOKEN" in (await resp.json())["error"]
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        wrong = await client.get("/api/stats", headers={"Authorization": "Bearer " + "x" * len(TOKEN)})
        assert wrong.status == 401
        # With the token the request reaches the API (Elasticsearch is a closed port here: 503).
        right = await client.get("/api/stats", headers={"Authorization": f"Bearer {TOKEN}"})
        assert right.status == 503, await right.text()
        assert "Elasticsearch" in (await right.json())["error"]
        # Probes need no token.
        assert (await client.get("/healthz")).status == 200
        assert (await client.get("/readyz")).status == 503
        for path in FAUST_VIEWS:
            assert (await client.get(path, headers={"Authorization": f"Bearer {TOKEN}"})).status == 404, path

    serve(Settings(web_bind="0.0.0.0", api_token=TOKEN, data_dir=tmp_path), scenario)


def test_token_in_the_query_sets_a_cookie_and_is_not_passed_on(tmp_path):
    async def scenario(client: TestClient[Any, Any]) -> None:
        # The API rejects unknown parameters: a 400 naming "token" would mean it was passed on.
        first = await client.get("/api/stats", params={"token": TOKEN})
        assert first.status == 503, await first.text()
        assert first.cookies[TOKEN_COOKIE]["httponly"]
        # The browser sends the cookie back: no token needed any more.
        again = await client.get("/api/stats")
        assert again.status == 503, await again.text()

    serve(Settings(web_bind="0.0.0.0", api_token=TOKEN, data_dir=tmp_path), scenario)


def test_loopback_bind_asks_no_token_but_still_hides_faust_views(tmp_path):
    async def scenario(client: TestClient[Any, Any]) -> None:
        assert (await client.get("/api/stats")).status == 503  # reached the API: no 401
        for path in FAUST_VIEWS:
            assert (await client.get(path)).status == 404, path

    serve(Settings(web_bind="127.0.0.1", data_dir=tmp_path), scenario)


@pytest.mark.parametrize(
    ("bind", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:7001/api/stats"),
        ("0.0.0.0", "http://127.0.0.1:7001/api/stats"),
        ("::", "http://127.0.0.1:7001/api/stats"),
        ("10.1.2.3", "http://10.1.2.3:7001/api/stats"),
        ("fd00::5", "http://[fd00::5]:7001/api/stats"),
    ],
)
def test_a_worker_bound_to_one_address_is_awaited_there(bind, url):
    assert readiness_url(Settings(web_bind=bind, web_port=7001)) == url


def test_the_token_never_shows_in_logs(tmp_path, caplog):
    build_worker_app(Settings(web_bind="0.0.0.0", api_token=TOKEN, data_dir=tmp_path))
    with caplog.at_level(logging.DEBUG, logger="aiohttp.access"):
        logging.getLogger("aiohttp.access").debug("GET /api/stats Authorization: Bearer %s", TOKEN)
    assert TOKEN not in caplog.text and "***" in caplog.text


@pytest.mark.parametrize("processes", ["1", "2"])
def test_worker_command_refuses_an_open_bind_in_one_sentence(tmp_path, processes):
    env = launcher.child_env({"web_bind": "0.0.0.0", "data_dir": tmp_path})
    env.pop("ASCOLTO_API_TOKEN", None)
    out = launcher.run(["worker", "--processes", processes], env=env, timeout=120)
    assert out.returncode != 0
    assert "set ASCOLTO_API_TOKEN" in out.stderr and "Traceback" not in out.stderr
