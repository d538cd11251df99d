"""A connector registers its /metrics with the stack's Prometheus only when that Prometheus was set up,
at the address Prometheus can reach, and clears the files of connectors that died without removing theirs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from ascolto.metrics_endpoint import register_scrape_target
from core.settings import Settings


def test_nothing_is_written_without_the_stacks_prometheus(tmp_path):
    assert register_scrape_target(9100, Settings(stack_dir=tmp_path)) is None
    assert list(tmp_path.rglob("*.json")) == []


def test_target_file_names_a_reachable_address_and_replaces_dead_connectors_files(tmp_path):
    targets = tmp_path / "prometheus" / "targets"
    targets.mkdir(parents=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = targets / f"connector-{int(dead.stdout)}.json"
    stale.write_text("[]")
    hand_written = targets / "my-exporter.json"
    hand_written.write_text("[]")

    path = register_scrape_target(9100, Settings(stack_dir=tmp_path, metrics_bind="0.0.0.0"))

    assert path == targets / f"connector-{os.getpid()}.json"
    assert json.loads(path.read_text()) == [{"targets": ["127.0.0.1:9100"]}]
    assert not stale.exists()
    assert hand_written.exists()  # not a connector's: left alone
    assert list(targets.glob("*.tmp")) == []


def test_a_specific_bind_address_is_the_target(tmp_path):
    (tmp_path / "prometheus" / "targets").mkdir(parents=True)
    path = register_scrape_target(9101, Settings(stack_dir=tmp_path, metrics_bind="::1"))
    assert path is not None
    assert json.loads(path.read_text()) == [{"targets": ["[::1]:9101"]}]
