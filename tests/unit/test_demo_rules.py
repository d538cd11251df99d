"""The rules `ascolto demo` ships: they load, stay quiet on the demo's regular posts and fire on its burst.

The posts are the demo's own (the generator, backdated over 30 minutes, enriched by the default chain),
counted the way the detector counts them: tallies per rule and key, KeyTrackers on a stream clock.
"""

from collections import defaultdict
from datetime import timedelta
from typing import Any

import pytest

from ascolto.resources import deploy_path
from connectors.generator import DEFAULT_BRANDS, Burst, GeneratorSource
from core.settings import Settings
from streams.alerting.rules import RuleSet, load_rules
from streams.alerting.tallies import decode_tally, encode_tally, split_key, tallies
from streams.alerting.tracker import Clock, KeyTracker
from streams.enrichers.chain import chain_from_settings

LATENESS = 60.0


@pytest.fixture(scope="module")
def rules() -> RuleSet:
    return load_rules(deploy_path("local", "demo-rules.yaml"))


@pytest.fixture(scope="module")
def chain() -> Any:
    return chain_from_settings(Settings())


def _detect(rules: RuleSet, chain: Any, *, burst: int) -> list[dict[str, Any]]:
    source = GeneratorSource(
        count=2000,
        seed=11,
        backdate=timedelta(minutes=30),
        burst=Burst(after=1000, size=burst, brand=DEFAULT_BRANDS[2]) if burst else None,
    )
    messages = []
    for offset, post in enumerate(source):
        enriched = chain.enrich(post)
        messages.append((offset % 4, offset, enriched))
    trackers: dict[bytes, KeyTracker] = {}
    by_name = {rule.name: rule for rule in rules.rules}
    events: list[dict[str, Any]] = []
    now = 0.0
    for i in range(0, len(messages), 100):  # batches, as the enrich agent tallies them
        batch = tallies(messages[i : i + 100], rules)
        assert batch.unreadable == 0
        for key, encoded in batch.sightings.items():
            sightings = decode_tally(encode_tally(encoded, batch.minutes)).sightings  # what the detect stage reads
            now = max(now, *(s.ts for s in sightings))
            rule_name, name = split_key(key)
            tracker = trackers.setdefault(key, KeyTracker(rule_name, name))
            events += tracker.add(by_name[rule_name], sightings, Clock(now=now, lateness=LATENESS))
    for key, tracker in trackers.items():  # the stream clock moves on after the last post
        events += tracker.advance(by_name[split_key(key)[0]], Clock(now=now + 300, lateness=LATENESS))
    return events


def test_the_demo_rules_load_one_english_one_italian_with_the_demo_webhook(rules):
    assert {rule.language for rule in rules.rules} == {"en", "it"}
    for rule in rules.rules:
        [subscriber] = rule.subscribers
        assert subscriber.channel.kind == "webhook"
        assert subscriber.webhook is not None
        assert subscriber.webhook.url == "http://127.0.0.1:6070/alerts"
        assert subscriber.webhook.secret_env == "ASCOLTO_DEMO_WEBHOOK_SECRET"


def test_the_burst_fires_each_rule_once_then_resolves(rules, chain):
    events = _detect(rules, chain, burst=300)
    by_rule: dict[str, list[str]] = defaultdict(list)
    for event in events:
        by_rule[event["rule"]].append(event["status"])
    assert dict(by_rule) == {
        "demo_outage_negative": ["firing", "resolved"],
        "demo_volume_totale": ["firing", "resolved"],
    }
    firing = {e["rule"]: e for e in events if e["status"] == "firing"}
    assert firing["demo_outage_negative"]["key"] == "outage"
    assert "outage" in firing["demo_outage_negative"]["summary"]


def test_without_the_burst_nothing_fires(rules, chain):
    assert _detect(rules, chain, burst=0) == []
