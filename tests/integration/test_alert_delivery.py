"""Alert delivery through a real worker: Alert events on the alerts topic → signed webhooks and e-mail.

The receivers run in this process: an aiohttp server that checks the HMAC signature (401 otherwise)
and an aiosmtpd SMTP server. Retry settings are seconds so the tests stay short.
"""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import psutil
import pytest
from aiosmtpd.controller import Controller
from kafka import KafkaProducer

from ascolto import testing
from ascolto.metrics_reading import metric_total
from ascolto.testing import LocalPipeline, free_port, wait_for
from core.kafka import kafka_client_config
from schemas import ALERT_HEADERS, dumps, now_rfc3339, to_rfc3339
from streams.alerting.delivery import send_test
from streams.alerting.rules import load_rules
from tests.integration.receivers import Mailbox, Receiver

SECRET = "it-" + uuid.uuid4().hex
SECRET_ENV = "ASCOLTO_TEST_HOOK_SECRET"


RULES = """
rules:
  - name: spike_it
    kind: negative_spike
    key: topic
    language: it
    subscribers:
      - webhook: {{url: "http://127.0.0.1:{hook}/hook", secret_env: {env}, timeout_seconds: 5}}
      - email: {{to: [social@example.com]}}
      - kafka: {{}}
  - name: late_hook
    kind: volume_spike
    subscribers:
      - webhook: {{url: "http://127.0.0.1:{late}/hook", secret_env: {env}, timeout_seconds: 2}}
  - name: dead_hook
    kind: volume_spike
    subscribers:
      - webhook: {{url: "http://127.0.0.1:{dead}/hook", secret_env: {env}, timeout_seconds: 2}}
  - name: kill_hook
    kind: volume_spike
    subscribers:
      - webhook: {{url: "http://127.0.0.1:{kill}/hook", secret_env: {env}, timeout_seconds: 2}}
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    mp = pytest.MonkeyPatch()
    mp.setenv(SECRET_ENV, SECRET)  # reaches the worker through its environment
    hook, late, dead, kill = free_port(), free_port(), free_port(), free_port()
    rules = tmp_path_factory.mktemp("rules") / "rules.yaml"
    rules.write_text(RULES.format(hook=hook, late=late, dead=dead, kill=kill, env=SECRET_ENV))
    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    receiver = Receiver(hook, SECRET).start()
    try:
        with LocalPipeline(
            alert_rules=str(rules),
            smtp_host="127.0.0.1",
            smtp_port=str(smtp.port),
            smtp_security="none",
            alert_retry_initial_seconds="0.5",
            alert_retry_max_seconds="1",
            # Long enough for a SIGKILLed worker's restart and its partitions' return (session timeout).
            alert_retry_for_seconds="30",
        ) as pipeline:
            pipeline.start_worker()
            # Raised first: its retry period runs out while the other tests run.
            dead_alert = make_alert("dead_hook")
            publish(pipeline, dead_alert)
            yield {
                "pipeline": pipeline,
                "receiver": receiver,
                "mailbox": mailbox,
                "late": late,
                "kill": kill,
                "rules": rules,
                "dead_alert": dead_alert,
            }
    finally:
        receiver.stop()
        smtp.stop()
        mp.undo()


def make_alert(rule: str, status: str = "firing", **extra: Any) -> dict[str, Any]:
    """A fresh Italian alert of ``rule`` (its own id, raised now) with a hostile sample."""
    now = now_rfc3339()
    fresh = {
        "id": uuid.uuid4().hex,
        "rule": rule,
        "status": status,
        "language": "it",
        "summary": "post negativi su billing: 48 in 10 min, di solito 5 ± 2, 9.6×",
        "window_start": now,
        "window_end": now,
        "created_at": now,
        "sample_post_ids": ["test:1"],
        "samples": [{"id": "test:1", "text": "<script>alert(1)</script> la bolletta è sbagliata", "author": "mario"}],
    }
    return testing.make_alert(**{**fresh, **extra})


def publish(pipeline: LocalPipeline, *alerts: dict[str, Any]) -> None:
    producer = KafkaProducer(**kafka_client_config(pipeline.settings), acks="all")
    try:
        for alert in alerts:
            producer.send(
                pipeline.topics.alerts, key=alert["id"].encode(), value=dumps(alert), headers=list(ALERT_HEADERS)
            )
        producer.flush(30)
    finally:
        producer.close()


def metric(pipeline: LocalPipeline, name: str, rule: str) -> float:
    return metric_total(pipeline.settings.metrics_port, name, rule=rule)


def test_one_notification_per_subscriber_and_a_repeat_sends_nothing(world: dict[str, Any]) -> None:
    pipeline, receiver, mailbox = world["pipeline"], world["receiver"], world["mailbox"]
    firing = make_alert("spike_it")
    held_back = make_alert("spike_it", notify=False)  # within the rule's realert period
    # Raised two hours ago, seen only now (a new notifier reading the topic's history): news then, not now.
    stale = make_alert("spike_it", created_at=to_rfc3339((datetime.now(UTC) - timedelta(hours=2)).isoformat()))
    publish(pipeline, held_back, {**held_back, "status": "resolved", "notify": True}, stale, firing)
    wait_for(lambda: receiver.of(firing["id"]) and mailbox.messages, timeout=60, what="webhook and e-mail delivery")

    mail = mailbox.messages[0]
    assert mail["Subject"].startswith("[ascolto] critico: post negativi su billing")
    plain = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert "Post di esempio" in plain and "ascolto search --topic billing" in plain
    assert "&lt;script&gt;" in html and "<script>" not in html

    # The detector may publish an alert twice after a crash; then its resolution follows on the same key.
    resolved = {**firing, "status": "resolved", "resolved_at": now_rfc3339()}
    publish(pipeline, firing, resolved)
    wait_for(lambda: len(receiver.of(firing["id"])) >= 2 and len(mailbox.messages) >= 2, timeout=60, what="resolution")
    statuses = [b["status"] for b in receiver.of(firing["id"])]
    assert statuses == ["firing", "resolved"]
    assert len(mailbox.messages) == 2 and mailbox.messages[1]["Subject"].startswith("[ascolto] risolto")
    assert receiver.rejected == 0 and receiver.of(held_back["id"]) == [] and receiver.of(stale["id"]) == []
    assert metric(pipeline, "ascolto_alerts_delivered_total", "spike_it") == 6  # webhook, e-mail, kafka × 2


def test_a_receiver_that_is_down_gets_the_alert_when_it_comes_back(world: dict[str, Any]) -> None:
    pipeline = world["pipeline"]
    alert = make_alert("late_hook")
    publish(pipeline, alert)
    wait_for(
        lambda: metric(pipeline, "ascolto_alert_delivery_retries_total", "late_hook") >= 2, timeout=60, what="retries"
    )
    late = Receiver(world["late"], SECRET).start()
    try:
        wait_for(lambda: late.of(alert["id"]), timeout=30, what="the delivery after the receiver came up")
        assert len(late.of(alert["id"])) == 1 and late.rejected == 0
    finally:
        late.stop()


def test_a_receiver_that_never_comes_back_ends_in_the_dead_letters(world: dict[str, Any]) -> None:
    pipeline, alert = world["pipeline"], world["dead_alert"]  # raised when the worker started
    letters = pipeline.read_dead_letters(1, timeout=60)  # nothing else of this deployment is dead-lettered
    found = next(x for x in letters if x["stage"] == "notify" and alert["id"] in x["error"])
    assert "webhook" in found["error"] and orjson.loads(found["original"])["id"] == alert["id"]
    assert metric(pipeline, "ascolto_alert_deliveries_failed_total", "dead_hook") == 1


def test_send_test_reaches_every_subscriber(world: dict[str, Any]) -> None:
    receiver, mailbox, pipeline = world["receiver"], world["mailbox"], world["pipeline"]
    rule = load_rules(world["rules"]).get("spike_it")
    assert rule is not None
    before = len(mailbox.messages)
    outcomes = asyncio.run(send_test(rule, pipeline.settings))
    assert [o.ok for o in outcomes] == [True, True, True], outcomes
    assert any(b.get("test") is True for b in receiver.bodies)
    assert len(mailbox.messages) == before + 1 and "PROVA" in mailbox.messages[-1]["Subject"]


def test_pending_deliveries_survive_a_sigkill_of_the_worker(world: dict[str, Any]) -> None:
    pipeline = world["pipeline"]
    alert = make_alert("kill_hook")
    publish(pipeline, alert)
    wait_for(
        lambda: metric(pipeline, "ascolto_alert_delivery_retries_total", "kill_hook") >= 1, timeout=60, what="a retry"
    )
    assert pipeline.worker is not None
    psutil.Process(pipeline.worker.pid).send_signal(signal.SIGKILL)
    pipeline.worker.wait(timeout=30)
    pipeline.start_worker()  # restores the outbox from its changelog topic
    receiver = Receiver(world["kill"], SECRET).start()
    try:
        wait_for(lambda: receiver.of(alert["id"]), timeout=60, what="the delivery after the restart")
        assert len(receiver.of(alert["id"])) == 1
    finally:
        receiver.stop()
