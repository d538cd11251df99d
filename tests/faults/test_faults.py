"""Nothing lost, nothing duplicated, nothing stalled: each fault against a real worker on the private stack.

The accounting is exact: every post produced is one document through the alias or one dead letter
(:func:`ascolto.faults.accounting.account`), checked once both consumer groups have committed
everything. Each case is bounded in time (pytest-timeout).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from ascolto.faults.private_stack import PrivateStack
from ascolto.faults.scenarios import Outcome, run_scenario

#: Posts per case: enough for a fault to land mid-stream, few enough to keep the suite in minutes.
N = 3000


def run(stack: PrivateStack, name: str, tmp_path: Path, n: int = N, **settings: str) -> Outcome:
    outcome = run_scenario(stack, name, n, tmp_path, **settings)
    print(outcome.accounting.row(outcome.name, outcome.recovery_seconds))
    return outcome


def assert_exact(outcome: Outcome, dead_letters: int = 0) -> None:
    accounting = outcome.accounting
    assert accounting.lost == 0, accounting
    assert accounting.duplicated == 0, accounting
    assert accounting.unexpected == 0, accounting
    assert accounting.documents == accounting.distinct, accounting
    reasons = Counter(f"{r.letter.get('stage')}: {str(r.letter.get('error'))[:160]}" for r in outcome.dead_letters)
    assert accounting.dead_letters == dead_letters, (accounting, reasons.most_common(5))
    assert accounting.distinct + accounting.dead_letters == accounting.produced, accounting


@pytest.mark.timeout(300)
def test_worker_sigkilled_mid_stream_then_restarted(private_stack, tmp_path):
    outcome = run(private_stack, "worker-sigkill", tmp_path)
    assert_exact(outcome)
    assert outcome.notes["indexed_at_fault"] < N


@pytest.mark.timeout(300)
def test_kafka_sigkilled_and_restarted(private_stack, tmp_path):
    assert_exact(run(private_stack, "kafka-sigkill", tmp_path))


@pytest.mark.timeout(300)
def test_elasticsearch_frozen_longer_than_the_bulk_timeout(private_stack, tmp_path):
    assert_exact(run(private_stack, "es-sigstop", tmp_path))


@pytest.mark.timeout(300)
def test_elasticsearch_sigkilled_and_restarted(private_stack, tmp_path):
    assert_exact(run(private_stack, "es-sigkill", tmp_path))


@pytest.mark.timeout(300)
def test_poison_message_is_dead_lettered_with_its_reason(private_stack, tmp_path):
    outcome = run(private_stack, "poison", tmp_path)
    assert_exact(outcome, dead_letters=1)
    [record] = outcome.dead_letters
    assert record.key == outcome.notes["poison_id"]
    assert record.letter["error"], record.letter
    assert outcome.notes["dead_letters_metric"] >= 1  # counted, not only published


@pytest.mark.timeout(300)
def test_oversized_line_is_dead_lettered_and_the_replay_goes_on(private_stack, tmp_path):
    limit = 64 * 1024
    outcome = run(private_stack, "oversized-line", tmp_path, n=200, max_message_bytes=str(limit))
    assert outcome.notes["returncode"] == 0, outcome.notes["stderr"]
    assert "Traceback" not in outcome.notes["stderr"]
    assert_exact(outcome, dead_letters=1)
    [record] = outcome.dead_letters
    assert record.size <= limit  # the dead letter itself fits
    assert record.letter["stage"].startswith("connector"), record.letter


@pytest.mark.timeout(300)
def test_long_posts_neither_stall_the_api_nor_get_lost(private_stack, tmp_path):
    outcome = run(private_stack, "long-posts", tmp_path, n=1000)
    assert_exact(outcome)
    assert outcome.notes["api_requests"] > 0
    assert 0 not in outcome.notes["api_statuses"], outcome.notes  # every request answered
    assert outcome.notes["api_max_seconds"] < 2.0, outcome.notes
    assert outcome.notes["long_texts_indexed"] == [100_000] * 5  # indexed whole, whatever enrichment analysed


@pytest.mark.timeout(300)
def test_write_block_holds_posts_until_lifted(private_stack, tmp_path):
    assert_exact(run(private_stack, "write-block", tmp_path))


@pytest.mark.timeout(300)
def test_lost_alias_mid_stream_the_worker_keeps_indexing(private_stack, tmp_path):
    assert_exact(run(private_stack, "lost-alias", tmp_path))


@pytest.mark.timeout(300)
def test_lost_backing_index_mid_stream_everything_published_after_is_indexed(private_stack, tmp_path):
    outcome = run(private_stack, "lost-index", tmp_path)
    accounting = outcome.accounting
    assert outcome.notes["lost_after"] == 0, accounting
    # What the deleted index held is gone by the operator's hand; nothing may be duplicated or dead-lettered.
    assert accounting.duplicated == accounting.unexpected == accounting.dead_letters == 0, accounting
    assert accounting.documents == accounting.distinct


@pytest.mark.timeout(400)
def test_flood_of_malformed_messages_interleaved_with_valid_posts(private_stack, tmp_path):
    outcome = run(private_stack, "flood", tmp_path, n=2000)
    assert_exact(outcome, dead_letters=outcome.notes["malformed"])
