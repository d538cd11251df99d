"""Alert delivery without Kafka: signatures, messages, retry schedule, de-duplication, digests, errors."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest
from aiohttp import web

from ascolto.testing import free_port, make_alert
from core.settings import Settings
from schemas import validate
from streams.alerting import channels, messages, outbox, signing
from streams.alerting.delivery import deliver, message_for
from streams.alerting.rules import EmailChannel, Subscriber, parse_rules

SLACK_SECRET_URL = "http://127.0.0.1:{port}/services/T000/B000/sEcReTtOkEn"


def subscriber(text: str) -> Subscriber:
    rules = parse_rules(
        "rules:\n  - name: r\n    kind: volume_spike\n    subscribers:\n      - " + text + "\n", source="t.yaml"
    )
    return rules.rules[0].subscribers[0]


def test_the_sample_alert_is_a_valid_alert_v1() -> None:
    validate("alert", make_alert())


# --- signatures -------------------------------------------------------------------------------
def test_a_signed_body_verifies_and_a_tampered_or_old_one_does_not() -> None:
    body = orjson.dumps(make_alert())
    headers = signing.signed_headers(b"k3y", body, now=1_000_000)
    assert signing.verify(b"k3y", body, headers, now=1_000_010)
    assert not signing.verify(b"k3y", body.replace(b"billing", b"b1lling"), headers, now=1_000_010)
    assert not signing.verify(b"other", body, headers, now=1_000_010)
    assert not signing.verify(b"k3y", body, headers, now=1_000_000 + 3600)  # a replay an hour later
    assert not signing.verify(b"k3y", body, {}, now=1_000_000)


# --- messages ---------------------------------------------------------------------------------
def test_english_message_has_the_change_samples_and_search() -> None:
    seven = [{"id": f"p{i}", "text": f"post {i} " + "x" * 400, "author": f"user{i}"} for i in range(7)]
    msg = messages.Message([make_alert(samples=seven)], language="en")
    text = messages.plain_text(msg)
    assert msg.subject.startswith("[ascolto] critical: negative posts about billing: 48 in 10 min")
    assert "Sample posts" in text and "ascolto search --topic billing" in text and "api/search" in text
    assert text.count("@user") == messages.MAX_SAMPLES  # 7 samples, 5 shown
    assert "x" * 400 not in text  # cut to about 280 characters


def test_italian_message_uses_italian_fixed_words() -> None:
    resolved = make_alert(
        status="resolved",
        language="it",
        summary="post negativi su billing: 48 in 10 min",
        resolution={"window_start": "a", "window_end": "b", "observed": 4, "summary": "tornato a 4 in 10 min"},
    )
    msg = messages.Message([resolved], language="it")
    assert msg.subject.startswith("[ascolto] risolto: tornato a 4")
    firing = messages.plain_text(messages.Message([make_alert(language="it")], language="it"))
    assert "critico" in firing and "Post di esempio" in firing and "Cercali tutti" in firing
    assert "Sample posts" not in firing and "Search all" not in firing


def test_html_escapes_post_text_and_slack_escapes_its_controls() -> None:
    hostile = make_alert(samples=[{"id": "p1", "text": "<script>alert(1)</script> <@U123>", "author": "<b>x</b>"}])
    page = messages.html_body(messages.Message([hostile]))
    assert "<script>" not in page and "&lt;script&gt;" in page and "<b>x</b>" not in page
    slack = orjson.dumps(messages.slack_payload(messages.Message([hostile]))).decode()
    assert "<@U123>" not in slack and "&lt;@U123&gt;" in slack


def test_teams_payload_is_an_adaptive_card_message() -> None:
    payload = messages.teams_payload(messages.Message([make_alert()]))
    attachment = payload["attachments"][0]
    assert payload["type"] == "message" and attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["content"]["type"] == "AdaptiveCard" and attachment["content"]["version"] == "1.4"


def test_email_is_plain_and_html_in_the_subscribers_language() -> None:
    sub = subscriber("email: {to: [a@example.com], language: it}")
    assert isinstance(sub.channel, EmailChannel)
    email = channels.email_message(sub.channel, message_for(sub, [make_alert(language="en")]), "ascolto@example.com")
    kinds = [part.get_content_type() for part in email.iter_parts()]
    assert kinds == ["text/plain", "text/html"]
    assert "critico" in email["Subject"] and "Post di esempio" in email.get_body(("plain",)).get_content()


# --- outbox rules -----------------------------------------------------------------------------
POLICY = outbox.Policy(retry_for=3600, initial=5, maximum=300)


def test_backoff_grows_is_capped_and_jittered() -> None:
    rng = random.Random(7)
    waits = [POLICY.backoff(n, rng) for n in range(1, 12)]
    assert 4 <= waits[0] <= 6 and 8 <= waits[1] <= 12 and 16 <= waits[2] <= 24
    assert all(w <= 300 for w in waits) and waits[-1] >= 240


def test_failed_delivery_is_retried_until_the_retry_period_then_given_up() -> None:
    sub = subscriber("webhook: {url: 'http://x.example/h', secret_env: S}")
    entry = outbox.new_entry(make_alert(), sub, "fp", now=0, digest_seconds=None)
    now = 0.0
    attempts = 0
    while entry["state"] == "pending":
        assert entry["next_at"] <= 3600
        now = entry["next_at"]
        entry = outbox.failed(entry, "down", retry=True, now=now, policy=POLICY, rng=random.Random(attempts))
        attempts += 1
    assert entry["state"] == "gave_up" and now == pytest.approx(3600) and entry["last_error"] == "down"
    assert 12 < attempts < 25  # backed off, not hammered every second nor given up early


def test_a_permanent_error_gives_up_at_once() -> None:
    sub = subscriber("kafka: {}")
    entry = outbox.new_entry(make_alert(), sub, "fp", now=0, digest_seconds=None)
    assert outbox.failed(entry, "404", retry=False, now=1, policy=POLICY)["state"] == "gave_up"


def test_the_same_alert_has_the_same_delivery_id_per_subscriber() -> None:
    a = subscriber("webhook: {url: 'http://x.example/h', secret_env: S, timeout_seconds: 3}")
    b = subscriber("webhook: {url: 'http://x.example/h', secret_env: S, digest: 1h}")
    c = subscriber("webhook: {url: 'http://y.example/h', secret_env: S}")
    fa, fb, fc = (outbox.fingerprint("r", s) for s in (a, b, c))
    assert fa == fb != fc  # how to send (timeout, digest) is not who to
    assert outbox.delivery_id("id1", "firing", fa) == outbox.delivery_id("id1", "firing", fb)
    assert outbox.delivery_id("id1", "firing", fa) != outbox.delivery_id("id1", "resolved", fa)


def test_digest_entries_wait_for_the_boundary_and_go_out_together() -> None:
    digest = subscriber("slack: {url_env: SLACK, digest: 1h}")
    plain = subscriber("kafka: {}")
    entries = {
        "0/a": outbox.new_entry(make_alert(id="a" * 32), digest, "D", now=7300, digest_seconds=3600),
        "0/b": outbox.new_entry(
            make_alert(id="b" * 32, status="resolved"), digest, "D", now=7200.5, digest_seconds=3600
        ),
        "1/c": outbox.new_entry(make_alert(id="c" * 32), plain, "K", now=7300, digest_seconds=None),
    }
    assert entries["0/a"]["next_at"] == 10800
    assert outbox.due(entries.items(), now=7400) == [outbox.Batch("K", ("1/c",))]
    assert outbox.due(entries.items(), now=10800) == [
        outbox.Batch("K", ("1/c",)),
        outbox.Batch("D", ("0/b", "0/a")),  # oldest first, resolution included
    ]
    assert outbox.pending(entries.items()) == 3
    done = {k: outbox.delivered(v, 10800) for k, v in entries.items()}
    assert outbox.due(done.items(), now=10900) == [] and outbox.pending(done.items()) == 0
    assert outbox.expired(done.items(), now=10800 + outbox.TOMBSTONE_SECONDS + 1) == list(done)


# --- channels: error classification, no secrets in errors --------------------------------------
@asynccontextmanager
async def receiver(status: int, seen: list[web.Request] | None = None, delay: float = 0) -> AsyncIterator[int]:
    async def handle(request: web.Request) -> web.Response:
        await request.read()
        if seen is not None:
            seen.append(request)
        await asyncio.sleep(delay)
        return web.Response(status=status)

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield port
    finally:
        await runner.cleanup()


def outcome(send: Callable[[], Any]) -> channels.DeliveryError | None:
    try:
        asyncio.run(send())
    except channels.DeliveryError as exc:
        return exc
    return None


@pytest.mark.parametrize(
    ("status", "retry"), [(500, True), (503, True), (429, True), (408, True), (404, False), (400, False)]
)
def test_slack_http_errors_are_classified_and_never_show_the_url(
    status: int, retry: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def run() -> None:
        async with receiver(status) as port:
            monkeypatch.setenv("SLACK_URL", SLACK_SECRET_URL.format(port=port))
            await deliver(subscriber("slack: {url_env: SLACK_URL}"), [make_alert()], Settings(), delivery="d")

    error = outcome(run)
    assert error is not None and error.retry is retry and str(status) in error.reason
    assert "sEcReTtOkEn" not in error.reason and "127.0.0.1" not in error.reason and "SLACK_URL" in error.reason


def test_refused_connection_and_timeout_are_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_SECRET", "s3cr3t-key")
    down = subscriber(f"webhook: {{url: 'http://127.0.0.1:{free_port()}/hook', secret_env: HOOK_SECRET}}")
    error = outcome(lambda: deliver(down, [make_alert()], Settings(), delivery="d"))
    assert error is not None and error.retry and "connect" in error.reason

    async def slow() -> None:
        async with receiver(200, delay=5) as port:
            hook = f"webhook: {{url: 'http://127.0.0.1:{port}/hook', secret_env: HOOK_SECRET, timeout_seconds: 0.3}}"
            await deliver(subscriber(hook), [make_alert()], Settings(), delivery="d")

    error = outcome(slow)
    assert error is not None and error.retry and "0.3 s" in error.reason and "s3cr3t" not in error.reason


def test_a_missing_secret_variable_is_permanent_and_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_SECRET", raising=False)
    hook = subscriber("webhook: {url: 'http://127.0.0.1:9/h', secret_env: NO_SUCH_SECRET}")
    error = outcome(lambda: deliver(hook, [make_alert()], Settings(), delivery="d"))
    assert error is not None and not error.retry and "NO_SUCH_SECRET" in error.reason


def test_webhook_is_signed_and_carries_the_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_SECRET", "s3cr3t-key")
    seen: list[web.Request] = []
    bodies: list[bytes] = []

    async def run() -> None:
        async with receiver(204, seen) as port:
            hook = subscriber(f"webhook: {{url: 'http://127.0.0.1:{port}/hook', secret_env: HOOK_SECRET}}")
            await deliver(hook, [make_alert()], Settings(), delivery="dlv1")
            bodies.append(await seen[0].read())

    assert outcome(run) is None
    headers = seen[0].headers
    assert signing.verify(b"s3cr3t-key", bodies[0], headers)
    assert headers[signing.DELIVERY_ID_HEADER] == "dlv1" and headers[signing.ALERT_ID_HEADER] == make_alert()["id"]
    assert orjson.loads(bodies[0])["summary"] == make_alert()["summary"]


def test_smtp_errors_never_show_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(
        smtp_host="127.0.0.1", smtp_port=free_port(), smtp_security="none", smtp_username="u", smtp_password="pw-S3CRET"
    )
    error = outcome(lambda: deliver(subscriber("email: {to: [a@example.com]}"), [make_alert()], settings, delivery="d"))
    assert error is not None and error.retry and "pw-S3CRET" not in error.reason and "SMTP server" in error.reason


def test_a_resolution_waits_until_its_firing_is_delivered() -> None:
    hook = subscriber("kafka: {}")
    firing = outbox.new_entry(make_alert(id="f" * 32), hook, "K", now=100, digest_seconds=None)
    resolved = outbox.new_entry(make_alert(id="f" * 32, status="resolved"), hook, "K", now=100, digest_seconds=None)
    entries = {"0/fire": firing, "0/res": resolved}
    assert outbox.due(entries.items(), now=101) == [outbox.Batch("K", ("0/fire",))]
    entries["0/fire"] = outbox.delivered(firing, 101)
    assert outbox.due(entries.items(), now=102) == [outbox.Batch("K", ("0/res",))]
