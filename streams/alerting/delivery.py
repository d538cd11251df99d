"""One notification to one subscriber (the outbox calls this), and ``ascolto alerts test RULE``."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core.settings import Settings
from schemas import new_alert, now_rfc3339
from schemas.timestamps import to_epoch
from streams import metrics
from streams.alerting import channels, messages
from streams.alerting.matching import ALL_KEY
from streams.alerting.outbox import delivery_id, fingerprint
from streams.alerting.rules import EmailChannel, Rule, Subscriber


def message_for(subscriber: Subscriber, alerts: Sequence[Mapping[str, Any]], *, test: bool = False) -> messages.Message:
    """The message of ``alerts`` for one subscriber, in its language (e-mail may set one) or the alert's."""
    channel = subscriber.channel
    language = (channel.language if isinstance(channel, EmailChannel) else None) or alerts[0].get("language", "en")
    return messages.Message(alerts, language=str(language), test=test)


async def deliver(
    subscriber: Subscriber,
    alerts: Sequence[Mapping[str, Any]],
    settings: Settings,
    *,
    delivery: str,
    test: bool = False,
) -> None:
    """Send one message carrying ``alerts`` (one, or a digest) to ``subscriber``; raises channels.DeliveryError."""
    await channels.send(
        subscriber.channel,
        message_for(subscriber, alerts, test=test),
        settings,
        alert_id=str(alerts[0].get("id", "")),
        delivery_id=delivery,
    )


@dataclass(frozen=True)
class TestOutcome:
    """How a test notification to one subscriber went; ``error`` is one secret-free sentence."""

    __test__ = False  # not a pytest class

    subscriber: str
    ok: bool
    error: str | None = None


def test_alert(rule: Rule) -> dict[str, Any]:
    """A clearly marked Alert v1 for ``rule`` with made-up numbers, to try its subscribers."""
    now = now_rfc3339()
    start = now
    italian = rule.language == "it"
    summary = (
        "notifica di prova della regola {name}: nessun picco reale"
        if italian
        else "test notification of rule {name}: no real spike"
    ).format(name=rule.name)
    alert = dict(
        new_alert(
            rule=rule.name,
            key=ALL_KEY if rule.key == "all" else "test",
            window_start=start,
            window_end=now,
            key_kind=rule.key,
            kind=rule.kind,
            status="firing",
            language=rule.language,
            summary=summary,
            metric="test",
            observed=0.0,
            baseline=0.0,
            score=0.0,
            severity="info",
            sample_post_ids=[],
            samples=[],
            created_at=now,
            notify=True,
        )
    )
    alert["id"] = uuid.uuid4().hex  # each test is its own notification
    return alert


async def send_test(rule: Rule, settings: Settings) -> list[TestOutcome]:
    """Send a marked test alert to every subscriber of ``rule`` at once (no outbox, no retries)."""
    alert = test_alert(rule)

    async def one(subscriber: Subscriber) -> TestOutcome:
        who = channels.describe(subscriber.channel)
        fp = fingerprint(rule.name, subscriber)
        try:
            await deliver(subscriber, [alert], settings, delivery=delivery_id(alert["id"], "test", fp), test=True)
        except channels.DeliveryError as exc:
            return TestOutcome(who, False, exc.reason)
        return TestOutcome(who, True)

    return list(await asyncio.gather(*(one(s) for s in rule.subscribers)))


def record_delivered(rule: str, channel: str, alert: Mapping[str, Any]) -> None:
    """Count an accepted notification and its latency since the alert was raised."""
    metrics.ALERTS_DELIVERED.labels(rule, channel).inc()
    raised = _epoch(alert.get("resolved_at") if alert.get("status") == "resolved" else None) or _epoch(
        alert.get("created_at")
    )
    if raised is not None:
        metrics.ALERT_DELIVERY_SECONDS.labels(rule, channel).observe(max(0.0, time.time() - raised))


def _epoch(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return to_epoch(value)
    except ValueError:
        return None
