"""Who may use the worker's web server (the HTTP API, later the console).

Bound to a loopback address (ASCOLTO_WEB_BIND, 127.0.0.1 by default) anyone on this machine may ask,
as before. Bound to any other address every request needs ASCOLTO_API_TOKEN, except ``/healthz``
and ``/readyz`` (probes of orchestrators carry no secrets). The token is accepted as

* ``Authorization: Bearer <token>`` (scripts, ``curl``);
* a ``token`` query parameter, for a browser opening a page: the answer then sets the
  ``ascolto_token`` cookie (HttpOnly, SameSite=Strict), so the page's own requests (fetch,
  Server-Sent Events, which cannot send headers) need nothing more;
* that cookie.

Tokens are compared in constant time. Faust's own debugging views (``/router/``, ``/table/``,
``/graph/``, statistics and its index at ``/``) are switched off, and whatever of them Faust still
registers answers 404, with or without a token. The Prometheus ``/metrics`` endpoint is a separate
server (ASCOLTO_METRICS_PORT, ASCOLTO_METRICS_BIND) and needs no token.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Mapping

import faust
from aiohttp import web as aioweb

from core.errors import ConfigError
from core.kafka_config import hide_in_logs
from core.settings import Settings
from web.addresses import is_loopback

#: Paths anyone who reaches the port may ask: liveness and readiness probes.
OPEN_PATHS = frozenset({"/healthz", "/readyz"})
TOKEN_PARAM = "token"
TOKEN_COOKIE = "ascolto_token"
#: Shortest token accepted: anything shorter can be guessed by a patient client.
MIN_TOKEN_LENGTH = 16
#: Faust's settings for its built-in views; all off (the router only serves @table_route, unused here).
FAUST_VIEW_FLAGS = (
    "web_router_enabled",
    "web_tables_enabled",
    "web_graph_enabled",
    "web_stats_enabled",
    "web_metrics_enabled",
)

Handler = Callable[[aioweb.Request], Awaitable[aioweb.StreamResponse]]
Middleware = Callable[[aioweb.Request, Handler], Awaitable[aioweb.StreamResponse]]


def required_token(settings: Settings) -> str | None:
    """The token requests must carry, or None when the web server is bound to loopback.

    Raises :class:`ConfigError` (one sentence) when bound elsewhere without a usable token:
    a worker never starts open to the network.
    """
    if is_loopback(settings.web_bind):
        return None
    token = settings.api_token.get_secret_value() if settings.api_token else ""
    if not token:
        raise ConfigError(
            f"The worker's web server is bound to {settings.web_bind}, beyond this machine: set ASCOLTO_API_TOKEN "
            "to a long random secret (requests then need it), or bind it to 127.0.0.1 with ASCOLTO_WEB_BIND."
        )
    if len(token) < MIN_TOKEN_LENGTH:
        raise ConfigError(
            f"ASCOLTO_API_TOKEN is {len(token)} characters long; use at least {MIN_TOKEN_LENGTH} random ones "
            "(for example `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)."
        )
    return token


def token_matches(presented: str | None, expected: str) -> bool:
    """Constant-time comparison (the time taken does not tell how much of a guess was right)."""
    if not presented:
        return False
    return hmac.compare_digest(presented.encode("utf-8"), expected.encode("utf-8"))


def presented_token(headers: Mapping[str, str], query: Mapping[str, str], cookies: Mapping[str, str]) -> str | None:
    """The token a request carries: Bearer header, else ``token`` query parameter, else the cookie."""
    scheme, _, credentials = headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return query.get(TOKEN_PARAM) or cookies.get(TOKEN_COOKIE) or None


def _error(status: int, sentence: str, headers: Mapping[str, str] | None = None) -> aioweb.Response:
    return aioweb.json_response({"error": sentence}, status=status, headers=headers)


def _is_faust_view(app: faust.App, request: aioweb.Request) -> bool:
    resource = request.match_info.route.resource
    if resource is None:
        return False  # no route: aiohttp answers 404 itself
    view = app.web.views.get(resource.canonical)
    return view is not None and type(view).__module__.startswith("faust.")


def access_middleware(app: faust.App, token: str | None) -> Middleware:
    """The aiohttp middleware guarding every request of ``app``'s web server."""

    @aioweb.middleware
    async def guard(request: aioweb.Request, handler: Handler) -> aioweb.StreamResponse:
        if request.path in OPEN_PATHS:
            return await handler(request)
        if _is_faust_view(app, request):
            return _error(404, f"no such page: {request.path}")
        if token is None:
            return await handler(request)
        presented = presented_token(request.headers, request.query, request.cookies)
        if not token_matches(presented, token):
            return _error(
                401,
                "this worker requires its API token: send `Authorization: Bearer <ASCOLTO_API_TOKEN>` "
                f"(or ?{TOKEN_PARAM}=... once, in a browser)",
                {"WWW-Authenticate": 'Bearer realm="ascolto"'},
            )
        from_query = TOKEN_PARAM in request.query
        if from_query:
            # The views never see the token (the API rejects parameters it does not know).
            request = request.clone(rel_url=request.rel_url.without_query_params(TOKEN_PARAM))
        response = await handler(request)
        if from_query:
            response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="Strict", path="/")
        return response

    return guard


def lock_down(app: faust.App, settings: Settings) -> None:
    """Switch Faust's own views off and guard every request; call before the worker starts.

    Raises :class:`ConfigError` when bound beyond loopback without ASCOLTO_API_TOKEN.
    """
    token = required_token(settings)
    if token:
        hide_in_logs(token)  # a debug log of a request's headers must not show it
    for flag in FAUST_VIEW_FLAGS:
        setattr(app.conf, flag, False)
    # Set, not merged: reading a Faust setting before setting it counts as a late reconfiguration.
    app.conf.web_application_options = {"middlewares": [access_middleware(app, token)]}
