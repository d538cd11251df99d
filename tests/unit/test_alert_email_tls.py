"""Alert e-mail over STARTTLS and implicit TLS, against an in-process aiosmtpd with a throw-away CA.

The CA and the server certificate (for 127.0.0.1 and localhost) are made at test time with the
``openssl`` command; the client must check both the certificate and the host name.
"""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from ascolto.testing import free_port, make_alert
from core.settings import Settings
from streams.alerting import channels, messages
from streams.alerting.rules import EmailChannel

pytestmark = [
    # aiosmtpd warns about AUTH without STARTTLS even when the whole connection is implicit TLS.
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning"),
]

USER = "alerts@example.com"
PASSWORD = "pw-S3CRET-smtp"
TO = ["oncall@example.com"]


@pytest.fixture(autouse=True)
def _openssl_installed(require_tool) -> None:
    # The test CA is made with the openssl command (skipped without it; CI installs it and fails without it).
    require_tool("openssl", "openssl")


@dataclass(frozen=True)
class Pki:
    ca: Path
    cert: Path
    key: Path
    other_cert: Path  # signed by the same CA for another host name only
    other_key: Path

    def server_context(self, *, other_host: bool = False) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*((self.other_cert, self.other_key) if other_host else (self.cert, self.key)))
        return context


EC_KEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _server_cert(d: Path, name: str, alt_names: str) -> tuple[Path, Path]:
    _openssl("req", *EC_KEY, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
    (d / f"{name}.cnf").write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
        f"subjectAltName={alt_names}\n"
        "authorityKeyIdentifier=keyid\n"
    )
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.cnf", cwd=d,
    )  # fmt: skip
    return d / f"{name}.pem", d / f"{name}.key"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A throw-away CA and two server certificates it signed: one for 127.0.0.1/localhost, one for another name."""
    d = tmp_path_factory.mktemp("pki")
    _openssl(
        "req", "-x509", *EC_KEY, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=test CA", cwd=d
    )
    cert, key = _server_cert(d, "server", "IP:127.0.0.1,DNS:localhost")
    other_cert, other_key = _server_cert(d, "other", "DNS:mail.example.invalid")
    return Pki(ca=d / "ca.pem", cert=cert, key=key, other_cert=other_cert, other_key=other_key)


@dataclass
class Mailbox:
    """What the server saw: the messages, the logins it accepted, whether each message came over TLS."""

    messages: list[EmailMessage] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    over_tls: list[bool] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        self.over_tls.append(server.transport is not None and server.transport.get_extra_info("sslcontext") is not None)
        return "250 OK"

    def authenticator(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.login.decode() == USER and data.password.decode() == PASSWORD
        if ok:
            self.logins.append(data.login.decode())
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself


@contextmanager
def smtp_server(pki: Pki, security: str, *, other_host: bool = False) -> Iterator[tuple[Mailbox, int]]:
    """An aiosmtpd on 127.0.0.1 that requires STARTTLS (``starttls``) or speaks TLS at once (``tls``), with AUTH."""
    box, port = Mailbox(), free_port()
    tls: dict[str, Any]
    if security == "starttls":
        tls = {
            "tls_context": pki.server_context(other_host=other_host),
            "require_starttls": True,
            "auth_require_tls": True,
        }
    else:
        # aiosmtpd counts only STARTTLS as TLS for auth_require_tls; with implicit TLS every byte is encrypted.
        tls = {"ssl_context": pki.server_context(other_host=other_host), "auth_require_tls": False}
    controller = Controller(
        box, hostname="127.0.0.1", port=port, authenticator=box.authenticator, auth_required=True, **tls
    )
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


def settings_for(port: int, security: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_security": security,
        "smtp_username": USER,
        "smtp_password": PASSWORD,
        "smtp_from": "ascolto@example.com",
        "smtp_timeout_seconds": 10,
        **overrides,
    }
    return Settings(**values)


def send(settings: Settings) -> channels.DeliveryError | None:
    try:
        asyncio.run(channels.send_email(EmailChannel(to=TO), messages.Message([make_alert()], language="en"), settings))
    except channels.DeliveryError as exc:
        return exc
    return None


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_alert_arrives_over_tls_with_login_and_both_bodies(pki: Pki, security: str) -> None:
    with smtp_server(pki, security) as (box, port):
        error = send(settings_for(port, security, smtp_ca_file=pki.ca))
    assert error is None, error.reason
    assert box.logins == [USER] and box.over_tls == [True]
    (email,) = box.messages
    assert email["To"] == TO[0] and email["Subject"].startswith("[ascolto] critical: negative posts about billing")
    plain, html = email.get_body(("plain",)), email.get_body(("html",))
    assert plain is not None and "ascolto search --topic billing" in plain.get_content()
    assert html is not None and "<" in html.get_content() and "billing" in html.get_content()


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_an_untrusted_certificate_says_to_set_the_ca_file(pki: Pki, security: str) -> None:
    # Without the test CA the worker trusts only the system's CAs, which never signed this certificate.
    with smtp_server(pki, security) as (box, port):
        error = send(settings_for(port, security))
    assert error is not None and "ASCOLTO_SMTP_CA_FILE" in error.reason and error.retry
    assert PASSWORD not in error.reason and "\n" not in error.reason
    assert box.messages == [] and box.logins == []


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_a_certificate_for_another_host_is_refused(pki: Pki, security: str) -> None:
    # Signed by the trusted CA, but for mail.example.invalid: the host name check alone must refuse it.
    with smtp_server(pki, security, other_host=True) as (box, port):
        error = send(settings_for(port, security, smtp_ca_file=pki.ca))
    assert error is not None and "ASCOLTO_SMTP_HOST" in error.reason and "another host" in error.reason
    assert box.messages == [] and box.logins == []


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_a_wrong_password_is_refused_and_never_shown(pki: Pki, security: str) -> None:
    wrong = "wr0ng-pa55word"
    with smtp_server(pki, security) as (box, port):
        error = send(settings_for(port, security, smtp_password=wrong, smtp_ca_file=pki.ca))
    assert error is not None and "refused the login" in error.reason and not error.retry
    assert wrong not in error.reason and wrong not in str(error) and PASSWORD not in error.reason
    assert box.messages == [] and box.logins == []


def test_a_missing_ca_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    error = send(settings_for(free_port(), "starttls", smtp_ca_file=missing))
    assert error is not None and "ASCOLTO_SMTP_CA_FILE" in error.reason and str(missing) in error.reason
