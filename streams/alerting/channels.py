"""Sending one message to one subscriber: webhook, Slack, Teams, e-mail (Kafka needs nothing sent).

Every failure is a :class:`DeliveryError` saying in one sentence what went wrong and whether trying
again may help. The sentence never holds a secret: no Slack or Teams URL (the URL is the credential),
no signing key, no SMTP password, and no text of the underlying exception (which may quote them).
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import aiosmtplib
import orjson

from core.settings import Settings
from streams.alerting import messages
from streams.alerting.rules import Channel, EmailChannel, KafkaChannel, SlackChannel, TeamsChannel, WebhookChannel
from streams.alerting.signing import ALERT_ID_HEADER, DELIVERY_ID_HEADER, signed_headers

#: Slack and Teams answer quickly; a hung connection must not hold the outbox up for long.
CHAT_TIMEOUT_SECONDS = 15.0

#: OpenSSL's verify codes for a certificate valid for another host name, e-mail or IP address.
_NAME_MISMATCH_CODES = frozenset({62, 63, 64})


class DeliveryError(Exception):
    """A failed delivery: ``reason`` is one secret-free sentence, ``retry`` whether trying again may help."""

    def __init__(self, reason: str, *, retry: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry = retry


def retry_status(status: int) -> bool:
    """Whether an HTTP status is worth retrying: 5xx, 408 and 429 are; other 4xx are not."""
    return status >= 500 or status in (408, 429)


def describe(channel: Channel) -> str:
    """The subscriber in words, without secrets (a webhook by host, chat webhooks by variable name)."""
    if isinstance(channel, WebhookChannel):
        return f"webhook {_where(channel.url)}"
    if isinstance(channel, SlackChannel | TeamsChannel):
        return f"{channel.kind} (URL in {channel.url_env})"
    if isinstance(channel, EmailChannel):
        return "email to " + ", ".join(channel.to)
    return "kafka alerts topic"


def _where(url: str) -> str:
    # The host and path, never the query string, which some receivers use for a token.
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _env(name: str, what: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise DeliveryError(f"The environment variable {name} ({what}) is not set in the worker; set it.", retry=False)
    return value


async def _post(url: str, body: bytes, headers: Mapping[str, str], timeout: float, who: str) -> None:
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
            async with session.post(url, data=body, headers={"Content-Type": "application/json", **headers}) as resp:
                if resp.status >= 300:
                    raise DeliveryError(f"The {who} answered HTTP {resp.status}.", retry=retry_status(resp.status))
    except TimeoutError:
        raise DeliveryError(f"The {who} did not answer within {timeout:g} s.", retry=True) from None
    except aiohttp.ClientConnectionError:
        raise DeliveryError(f"Could not connect to the {who}.", retry=True) from None
    except aiohttp.ClientError as exc:
        raise DeliveryError(f"The request to the {who} failed ({type(exc).__name__}).", retry=True) from None


async def send_webhook(channel: WebhookChannel, msg: messages.Message, *, alert_id: str, delivery_id: str) -> None:
    """POST the alert (one) or ``{"digest": [...]}`` as JSON, signed with the secret in ``secret_env``."""
    secret = _env(channel.secret_env, "the webhook signing key").encode()
    payload: dict[str, Any] = dict(msg.alerts[0]) if len(msg.alerts) == 1 else {"digest": list(msg.alerts)}
    if msg.test:
        payload["test"] = True
    body = orjson.dumps(payload)
    headers = {**signed_headers(secret, body), ALERT_ID_HEADER: alert_id, DELIVERY_ID_HEADER: delivery_id}
    await _post(channel.url, body, headers, channel.timeout_seconds, describe(channel))


async def send_chat(channel: SlackChannel | TeamsChannel, msg: messages.Message) -> None:
    """Post to a Slack incoming webhook or a Teams Workflows webhook, whose URL is in ``url_env``."""
    url = _env(channel.url_env, f"the {channel.kind} webhook URL")
    payload = messages.slack_payload(msg) if isinstance(channel, SlackChannel) else messages.teams_payload(msg)
    await _post(url, orjson.dumps(payload), {}, CHAT_TIMEOUT_SECONDS, describe(channel))


def email_message(channel: EmailChannel, msg: messages.Message, sender: str) -> EmailMessage:
    """A multipart/alternative e-mail: plain text and HTML."""
    email = EmailMessage()
    email["Subject"] = msg.subject
    email["From"] = sender
    email["To"] = ", ".join(channel.to)
    email.set_content(messages.plain_text(msg))
    email.add_alternative(messages.html_body(msg), subtype="html")
    return email


def smtp_tls_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context trusting only ``smtp_ca_file``, or None for aiosmtplib's default (the system's CAs).

    Either way the server's certificate and host name are checked.
    """
    if settings.smtp_ca_file is None or settings.smtp_security == "none":
        return None
    try:
        return ssl.create_default_context(cafile=str(settings.smtp_ca_file))
    except (OSError, ValueError):  # ssl.SSLError is an OSError: not PEM, or no certificate in it
        raise DeliveryError(
            f"ASCOLTO_SMTP_CA_FILE ({settings.smtp_ca_file}) is not a readable PEM certificate file; fix or unset it.",
            retry=False,
        ) from None


def _refused_certificate(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    # aiosmtplib wraps the handshake error of implicit TLS in SMTPConnectError; STARTTLS raises it bare.
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _certificate_sentence(where: str, refused: ssl.SSLCertVerificationError) -> str:
    if refused.verify_code in _NAME_MISMATCH_CODES:
        return f"The {where} presented a certificate for another host name; set ASCOLTO_SMTP_HOST to a name it holds."
    # verify_message is OpenSSL's short text ("unable to get local issuer certificate"): no secret in it.
    return (
        f"The {where} presented a certificate this worker does not trust ({refused.verify_message}); "
        "if a private CA signed it, set ASCOLTO_SMTP_CA_FILE to that CA's PEM file."
    )


async def send_email(channel: EmailChannel, msg: messages.Message, settings: Settings) -> None:
    """Send over SMTP with the server, security, CA and login of ``settings`` (ASCOLTO_SMTP_*)."""
    email = email_message(channel, msg, settings.smtp_from)
    where = f"SMTP server {settings.smtp_host}:{settings.smtp_port}"
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    tls_context = smtp_tls_context(settings)
    try:
        await aiosmtplib.send(
            email,
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=password,
            use_tls=settings.smtp_security == "tls",
            start_tls=settings.smtp_security == "starttls",
            tls_context=tls_context,
            timeout=settings.smtp_timeout_seconds,
        )
    except aiosmtplib.SMTPAuthenticationError:
        raise DeliveryError(
            f"The {where} refused the login; check ASCOLTO_SMTP_USERNAME and ASCOLTO_SMTP_PASSWORD.", retry=False
        ) from None
    except aiosmtplib.SMTPRecipientsRefused:
        raise DeliveryError(f"The {where} refused the recipients {', '.join(channel.to)}.", retry=False) from None
    except aiosmtplib.SMTPResponseException as exc:
        raise DeliveryError(f"The {where} answered {exc.code}.", retry=exc.code < 500) from None
    except (aiosmtplib.SMTPTimeoutError, TimeoutError):
        raise DeliveryError(
            f"The {where} did not answer within {settings.smtp_timeout_seconds:g} s.", retry=True
        ) from None
    except (aiosmtplib.SMTPException, OSError) as exc:
        refused = _refused_certificate(exc)
        if refused is not None:  # retried: a fixed certificate or CA file makes a later attempt pass
            raise DeliveryError(_certificate_sentence(where, refused), retry=True) from None
        raise DeliveryError(f"Could not send through the {where} ({type(exc).__name__}).", retry=True) from None


async def send(channel: Channel, msg: messages.Message, settings: Settings, *, alert_id: str, delivery_id: str) -> None:
    """Send ``msg`` to one subscriber's channel; raises :class:`DeliveryError`."""
    if isinstance(channel, WebhookChannel):
        await send_webhook(channel, msg, alert_id=alert_id, delivery_id=delivery_id)
    elif isinstance(channel, SlackChannel | TeamsChannel):
        await send_chat(channel, msg)
    elif isinstance(channel, EmailChannel):
        await send_email(channel, msg, settings)
    elif isinstance(channel, KafkaChannel):
        return  # the alert is on the alerts topic already
    else:  # pragma: no cover - the union is closed
        raise DeliveryError(f"Unknown subscriber kind {channel.kind}.", retry=False)
