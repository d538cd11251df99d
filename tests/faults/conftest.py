"""The fault suite's own stack: a private Kafka + Elasticsearch (``ascolto stack up`` under a temporary
ASCOLTO_HOME, on free ports), started once per session and removed at the end.

The faults kill and freeze these servers, never the shared stack on 9092/9200 that the integration
tests (and other people) use. Starting it from a cold home takes about 30 s: the Kafka and
Elasticsearch artifacts come from the local Maven repository once they were downloaded.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from ascolto.faults.private_stack import PrivateStack
from tests.environment import in_ci

_UP_SECONDS = pytest.StashKey[float]()


@pytest.fixture(scope="session")
def private_stack(request: pytest.FixtureRequest) -> Iterator[PrivateStack]:
    missing = [tool for tool in ("java", "mvn") if shutil.which(tool) is None]
    if missing:
        sentence = f"The fault suite needs {' and '.join(missing)} to start its own Kafka and Elasticsearch."
        if in_ci():
            pytest.fail(sentence, pytrace=False)
        pytest.skip(sentence)
    stack, seconds = PrivateStack.started()
    request.config.stash[_UP_SECONDS] = seconds
    try:
        yield stack
    finally:
        stack.down()
        stack.remove()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config) -> None:
    if _UP_SECONDS in config.stash:
        terminalreporter.write_line(f"faults: private stack up in {config.stash[_UP_SECONDS]:.0f}s (cold home)")
