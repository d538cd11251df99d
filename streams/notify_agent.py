"""The notifier: alerts topic → durable outbox (a changelog-backed Faust table) → subscribers.

An agent reads ``<prefix>alerts`` and queues one outbox entry per subscriber of the alert's rule
(skipping entries it already has: an alert published twice is notified once). A timer, every second,
sends what is due in this worker's partitions of the outbox and writes the outcome back. The table's
changelog is a Kafka topic, so after a crash or a rebalance the worker that owns a partition restores
its pending deliveries and goes on retrying them. A delivery that cannot succeed (the retry period is
over, or the subscriber refuses it for good, or its rule is gone) goes to the dead-letter topic with
stage ``notify`` and counts in ``ascolto_alert_deliveries_failed_total``: never dropped in silence.
The rules of :mod:`streams.alerting.outbox` decide what is due and when to retry.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any, cast

import faust
import orjson

from core.kafka import TopicNames
from core.settings import Settings
from schemas import DEAD_LETTER_HEADERS, InvalidMessage, dead_letter, dumps, validate
from schemas.timestamps import to_epoch
from streams import metrics
from streams.alerting import outbox
from streams.alerting.channels import DeliveryError
from streams.alerting.delivery import deliver, record_delivered
from streams.alerting.rulebook import RuleBook
from streams.alerting.rules import Subscriber

log = logging.getLogger(__name__)

STAGE = "notify"
TICK_SECONDS = 1.0
#: Deliveries sent at once: one slow subscriber must not hold up the others.
PARALLEL = 8


class OutboxTable(faust.Table):
    """The outbox; a key ``"<partition>/<delivery id>"`` lives in that partition of the changelog.

    The partition is the alert's partition on the alerts topic, so the worker that consumes the alert
    owns its deliveries, and the timer (outside any stream event) can write entries too.
    """

    def partition_for_key(self, key: Any) -> int:
        return int(str(key).split("/", 1)[0])


def _stale(alert: dict[str, Any], within: float) -> bool:
    """Whether the event was raised more than ``within`` seconds ago (never, with ``within`` 0)."""
    raised = alert.get("resolved_at") if alert.get("status") == "resolved" else alert.get("created_at")
    if not within or not isinstance(raised, str):
        return False
    try:
        return time.time() - to_epoch(raised) > within
    except ValueError:
        return False


def add_notifier(app: faust.App, settings: Settings, rulebook: RuleBook) -> OutboxTable:
    """Add the notifier's agent, outbox table and delivery timer to ``app``; returns the table."""
    names = TopicNames.of(settings)
    alerts_topic = app.topic(names.alerts, key_type=bytes, value_type=bytes, partitions=settings.topic_partitions)
    dlq = app.topic(names.dlq, key_type=bytes, value_type=bytes, partitions=settings.topic_partitions)
    table = cast(
        OutboxTable,
        app.tables.add(
            OutboxTable(
                app,
                name="alert-outbox",
                default=None,
                beacon=app.tables.beacon,
                partitions=settings.topic_partitions,
                key_type=str,
                value_type=None,
                help="Alert deliveries waiting, delivered (kept a few days for de-duplication) or given up.",
            )
        ),
    )
    policy = outbox.Policy(
        settings.alert_retry_for_seconds, settings.alert_retry_initial_seconds, settings.alert_retry_max_seconds
    )

    async def send_dead_letter(reason: str, original: bytes | None, key: bytes | None) -> None:
        letter = dead_letter(STAGE, reason, original, topic=names.alerts, max_bytes=settings.max_message_bytes)
        delivery = await dlq.send(key=key, value=dumps(letter), headers=list(DEAD_LETTER_HEADERS))
        await delivery
        metrics.DEAD_LETTERS.labels(STAGE).inc()

    @app.agent(alerts_topic, name="ascolto.notify")
    async def enqueue(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            message = event.message
            try:
                alert = orjson.loads(message.value or b"")
                validate("alert", alert)
            except InvalidMessage as exc:
                await send_dead_letter(f"The alert cannot be notified: {exc.reason}", message.value, message.key)
                continue
            except orjson.JSONDecodeError:
                await send_dead_letter("The alert cannot be notified: it is not JSON.", message.value, message.key)
                continue
            if alert.get("notify") is False:
                continue  # held back by the rule's realert period, or history when raised
            if _stale(alert, settings.alert_notify_within_seconds):
                # Raised long before this notifier saw it (a new deployment reading the topic's history):
                # news then, not now. Its subscribers were told at the time, or it is in the index.
                continue
            rule = rulebook.rules.get(str(alert["rule"]))
            if rule is None:
                await send_dead_letter(
                    f"Alert {alert['id']} names rule {alert['rule']}, which is not in the rules file; "
                    "nobody was notified.",
                    message.value,
                    message.key,
                )
                continue
            now = time.time()
            for subscriber in rule.subscribers:
                fp = outbox.fingerprint(rule.name, subscriber)
                status = alert.get("status", "firing")
                key = f"{message.partition}/{outbox.delivery_id(alert['id'], status, fp)}"
                if table.get(key) is not None:
                    continue  # the same alert again: already queued or delivered
                fired = f"{message.partition}/{outbox.delivery_id(alert['id'], 'firing', fp)}"
                if status == "resolved" and table.get(fired) is None:
                    continue  # its firing was held back (realert), or this subscriber came later: nothing to resolve
                digest = getattr(subscriber.channel, "digest", None)
                table[key] = outbox.new_entry(
                    alert, subscriber, fp, now=now, digest_seconds=digest.total_seconds() if digest else None
                )

    def owned() -> list[tuple[str, outbox.Entry]]:
        # Standby copies of other workers' partitions live in the same table: leave those alone.
        changelog = table.changelog_topic.get_topic_name()
        mine = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == changelog}
        return [(k, v) for k, v in list(table.items()) if v is not None and table.partition_for_key(k) in mine]

    def subscriber_of(entry: outbox.Entry) -> Subscriber | None:
        rule = rulebook.rules.get(entry["rule"])
        if rule is None:
            return None
        return next((s for s in rule.subscribers if outbox.fingerprint(rule.name, s) == entry["subscriber"]), None)

    async def give_up(keys: Sequence[str], reason: str) -> None:
        now = time.time()
        for key in keys:
            entry = table[key]
            alert = entry["alert"]
            text = (
                f"Gave up notifying the {entry['channel']} subscriber of rule {entry['rule']} "
                f"about alert {alert.get('id')} ({entry['status']}) after {entry['attempts']} attempts: {reason}"
            )
            await send_dead_letter(text, dumps(alert), str(alert.get("id", "")).encode())
            metrics.ALERT_DELIVERIES_FAILED.labels(entry["rule"], entry["channel"]).inc()
            log.error("%s", text)
            table[key] = outbox.dead(entry, now)

    async def attempt(batch: outbox.Batch) -> None:
        entries = [table[key] for key in batch.keys]
        first = entries[0]
        subscriber = subscriber_of(first)
        if subscriber is None:
            for key, entry in zip(batch.keys, entries, strict=True):
                table[key] = {**entry, "attempts": entry["attempts"] + 1}
            await give_up(batch.keys, "the rule or this subscriber was removed from the rules file")
            return
        alerts = [entry["alert"] for entry in entries]
        try:
            try:
                await deliver(subscriber, alerts, settings, delivery=batch.keys[0].split("/", 1)[1])
            except DeliveryError:
                raise
            except Exception as unexpected:
                # A bug here must not stop the timer (and every other delivery): retry, then dead-letter.
                log.exception("Unexpected error delivering an alert of rule %s", first["rule"])
                raise DeliveryError(
                    f"Sending failed unexpectedly ({type(unexpected).__name__}); see the worker log.", retry=True
                ) from None
        except DeliveryError as exc:
            now = time.time()
            gave_up = []
            for key, entry in zip(batch.keys, entries, strict=True):
                after = outbox.failed(entry, exc.reason, retry=exc.retry, now=now, policy=policy)
                table[key] = after
                if after["state"] == "gave_up":
                    gave_up.append(key)
                else:
                    metrics.ALERT_DELIVERY_RETRIES.labels(entry["rule"], entry["channel"]).inc()
            if gave_up:
                await give_up(gave_up, exc.reason)
            else:
                log.warning(
                    "Alert delivery to a %s subscriber of rule %s failed, will retry: %s",
                    first["channel"],
                    first["rule"],
                    exc.reason,
                )
            return
        now = time.time()
        for key, entry in zip(batch.keys, entries, strict=True):
            table[key] = outbox.delivered(entry, now)
            record_delivered(entry["rule"], entry["channel"], entry["alert"])

    @app.timer(interval=TICK_SECONDS, name="ascolto.notify_outbox")
    async def deliver_due() -> None:
        if app.rebalancing or app.tables.recovery.in_recovery:  # type: ignore[attr-defined]
            return  # the table is being restored: what is due is not known yet
        entries = owned()
        now = time.time()
        for key in outbox.expired(entries, now):
            del table[key]
        batches = outbox.due(entries, now)
        if batches:
            gate = asyncio.Semaphore(PARALLEL)

            async def guarded(batch: outbox.Batch) -> None:
                async with gate:
                    await attempt(batch)

            await asyncio.gather(*(guarded(b) for b in batches))
            # Outcomes reach the changelog now rather than with the next commit: a crash right after
            # a delivery then repeats as few notifications as possible.
            await app.producer.flush()
        metrics.ALERT_OUTBOX_PENDING.set(outbox.pending(owned()))

    return table
