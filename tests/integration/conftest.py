"""Integration fixtures: the real local stack (started by `ascolto stack up` / .ci/run) and one
isolated pipeline per test (own topics, index, consumer group) with a real worker process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ascolto.stack import LocalStack
from ascolto.testing import LocalPipeline
from core.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session", autouse=True)
def stack_is_up() -> None:
    """Integration tests need the real servers; say how to get them rather than skipping."""
    settings = Settings()
    down = [s.name for s in LocalStack(settings).status() if not s.ready]
    if down:
        pytest.fail(f"local {', '.join(down)} not running: start it with `ascolto stack up` (or run `bash .ci/run`)")


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[LocalPipeline]:
    with LocalPipeline(tmp_path) as p:
        yield p
