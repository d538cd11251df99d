"""The webhook receiver ``ascolto demo`` runs for its alerts, and the signing secret it shares with the worker.

The demo's rules (``deploy/local/demo-rules.yaml``) send every alert to ``http://127.0.0.1:6070/alerts``,
signed with the secret in ``ASCOLTO_DEMO_WEBHOOK_SECRET``. The secret is random, made once and kept in
the ascolto home (``<stack dir>/demo/webhook-secret``, readable by its owner only); the demo gives it to
the worker it starts. The receiver answers 401 to a request whose signature is not genuine (see
:mod:`streams.alerting.signing`), and hands each genuine alert to the demo once, even when retried.
"""

from __future__ import annotations

import os
import queue
import secrets
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson

from core.errors import AscoltoError
from streams.alerting.signing import DELIVERY_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify

#: The port in the shipped demo rules' webhook URL.
DEMO_PORT = 6070
DEMO_PATH = "/alerts"
SECRET_ENV = "ASCOLTO_DEMO_WEBHOOK_SECRET"
MAX_BODY = 4 * 1024 * 1024  # an alert with samples is a few KiB; a digest of many stays far below this


def demo_secret(stack_dir: Path) -> str:
    """The demo's webhook signing secret: read from the ascolto home, or made there (mode 0600) the first time."""
    path = stack_dir / "demo" / "webhook-secret"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        path.chmod(0o600)
        value = path.read_text(encoding="utf-8").strip()
        if value:
            return value
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    value = secrets.token_hex(32)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(value + "\n")
    return value


class DemoReceiver:
    """An HTTP server on 127.0.0.1 in a thread; genuine alerts arrive on :attr:`alerts` as dicts."""

    def __init__(self, secret: str, port: int = DEMO_PORT) -> None:
        self.secret = secret.encode()
        self.port = port
        self.alerts: queue.Queue[dict[str, Any]] = queue.Queue()
        self.rejected = 0
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{DEMO_PATH}"

    def start(self) -> DemoReceiver:
        """Listen; one clear error when the port is taken."""
        try:
            self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        except OSError as exc:
            raise AscoltoError(
                f"The demo's alert receiver cannot listen on 127.0.0.1:{self.port} ({exc.strerror}); "
                "stop what uses that port."
            ) from None
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, name="demo-receiver", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> DemoReceiver:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def accept(self, body: bytes, headers: dict[str, str]) -> HTTPStatus:
        """What the receiver answers to one POST (and, when genuine and new, the alerts it passes on)."""
        if not verify(self.secret, body, headers):
            with self._lock:
                self.rejected += 1
            return HTTPStatus.UNAUTHORIZED
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            return HTTPStatus.BAD_REQUEST
        if not isinstance(payload, dict):
            return HTTPStatus.BAD_REQUEST
        delivery = headers.get(DELIVERY_ID_HEADER, "")
        with self._lock:
            if delivery and delivery in self._seen:
                return HTTPStatus.OK  # a retry of a delivery already passed on
            self._seen.add(delivery)
        digest = payload.get("digest")
        items: list[Any] = digest if isinstance(digest, list) else [payload]
        for item in items:
            if isinstance(item, dict):
                self.alerts.put(item)
        return HTTPStatus.OK

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                if self.path != DEMO_PATH:
                    self._answer(HTTPStatus.NOT_FOUND)
                    return
                length = int(self.headers.get("Content-Length") or 0)
                if not 0 < length <= MAX_BODY:
                    self._answer(HTTPStatus.REQUEST_ENTITY_TOO_LARGE if length else HTTPStatus.BAD_REQUEST)
                    return
                body = self.rfile.read(length)
                # HTTP header names are case-insensitive: look the signed ones up by their canonical names.
                names = (TIMESTAMP_HEADER, SIGNATURE_HEADER, DELIVERY_ID_HEADER)
                headers = {name: value for name in names if (value := self.headers.get(name)) is not None}
                self._answer(receiver.accept(body, headers))

            def _answer(self, status: HTTPStatus) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the demo prints the alerts; request lines would only clutter its output

        return Handler
