"""Addresses of the worker's web server, and asking its /readyz: no Faust here, so that
CLI commands (``ascolto stack status``) use them without loading Faust."""

from __future__ import annotations

import ipaddress
import urllib.error
import urllib.request

import orjson


def is_loopback(bind: str) -> bool:
    """True when ``bind`` only accepts connections from this machine (``0.0.0.0`` and ``::`` do not)."""
    host = bind.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to any interface


def local_host(bind: str) -> str:
    """Where a client on this machine reaches a server bound to ``bind`` (any-address binds: loopback)."""
    host = bind.strip().strip("[]")
    if host in ("", "0.0.0.0", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def ask_readiness(url: str, timeout: float = 5.0) -> tuple[bool, list[str]]:
    """Ask a worker's ``/readyz``: (ready, the sentences of its failed checks, or why it did not answer)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            body = orjson.loads(resp.read())
    except urllib.error.HTTPError as exc:
        try:
            body = orjson.loads(exc.read())
        except orjson.JSONDecodeError:
            return False, [f"{url} answered {exc.code}"]
    except (urllib.error.URLError, OSError) as exc:
        return False, [f"{url} did not answer ({getattr(exc, 'reason', exc)})"]
    except orjson.JSONDecodeError:
        return False, [f"{url} answered something other than JSON"]
    checks = body.get("checks", {}) if isinstance(body, dict) else {}
    reasons = [str(answer) for answer in checks.values() if answer != "ok"]
    return bool(isinstance(body, dict) and body.get("ready")), reasons
