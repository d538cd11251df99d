"""The detector's first stage: which keys a post counts under, and the tally records of a batch."""

from __future__ import annotations

import itertools

import pytest

from ascolto.testing import run_enricher
from streams.alerting.rules import parse_rules
from streams.alerting.tallies import Matcher, decode_tally, encode_tally, split_key, tallies

RULES = parse_rules(
    """
rules:
  - {name: by_topic, kind: negative_spike, key: topic}
  - {name: billing_only, kind: negative_spike, key: topic, filters: {topic: [billing]}}
  - {name: italian_negative, kind: volume_spike, key: all, filters: {lang: it, sentiment: negative}}
  - {name: by_source, kind: flatline, key: source, minutes: 30}
  - {name: tags, kind: new_term}
  - {name: brands, kind: negative_spike, key: watch_term, filters: {source: [mastodon, test]}}
"""
)
TEXTS = [
    "Bolletta sbagliata di nuovo, addebito doppio, vergognoso! #rimborso",
    "My bill is wrong again and the internet outage lasted all day #fail #refund",
    "The new train timetable starts on Monday.",
    "",
]


@pytest.fixture(scope="module")
def posts():
    return [run_enricher("entities", t, before=("language", "sentiment", "topics")) for t in TEXTS]


def test_each_rule_counts_a_post_under_the_keys_its_filters_and_key_field_say(posts):
    keys = {rule.name: [rule.keys_of(post) for post in posts] for rule in RULES.rules}
    assert keys == {
        "by_topic": [["billing"], ["billing", "outage"], ["transport"], []],
        "billing_only": [["billing"], ["billing"], [], []],  # the keyed field's filter narrows the keys
        "italian_negative": [["all"], [], [], []],
        "by_source": [["test"], ["test"], ["test"], ["test"]],
        "tags": [["rimborso"], ["fail", "refund"], [], []],
        "brands": [[], [], [], []],
    }
    # What the enrich agent runs per post is the same matcher, compiled once per rule set.
    for rule, post in itertools.product(RULES.rules, posts):
        assert Matcher.of(rule.filters, rule.key).keys_of(post) == rule.keys_of(post)


def test_a_batch_becomes_one_tally_per_rule_and_key_with_offsets(posts):
    batch = [(2, 100 + i, p) for i, p in enumerate(posts)]
    batch.append((2, 200, {**posts[0], "created_at": "not a time"}))
    result = tallies(batch, RULES)
    assert result.unreadable == 1
    grouped = result.sightings
    keys = {split_key(k) for k in grouped}
    assert ("billing_only", "billing") in keys and ("tags", "rimborso") in keys and ("by_source", "test") in keys
    assert ("billing_only", "transport") not in keys
    tally = decode_tally(encode_tally(grouped[b"by_source\x1ftest"], result.minutes))
    sightings = tally.sightings
    # Every post's minute, whether a rule counts it or not: the stream was not silent then.
    assert tally.minutes == sorted({int(s.ts // 60) * 60 for s in sightings})
    assert [(s.partition, s.offset) for s in sightings] == [(2, 100), (2, 101), (2, 102), (2, 103)]
    assert sightings[0].negative and "#rimborso" in sightings[0].terms
