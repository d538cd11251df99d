"""Suite-wide wiring: a test's folder is its marker, external tools are required or skipped, and
the summary counts results per marker.

`tests/unit` runs with no server and no JVM; `tests/integration` needs the real local Kafka and
Elasticsearch (see tests/integration/conftest.py); `tests/faults` starts a private Kafka and
Elasticsearch of its own, to kill and freeze them (see tests/faults/conftest.py); `tests/browser`
drives Debian's Chromium headless (see tests/browser/conftest.py). The marker
comes from the folder so it cannot be forgotten: `pytest -m unit`, `pytest -m integration` and
`pytest -m faults` (and `-m browser`) select exactly those folders.
"""

from __future__ import annotations

import shutil
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.environment import in_ci

TESTS = Path(__file__).resolve().parent
KINDS = ("unit", "integration", "faults", "browser")
INSTALL_HINT = "run `make tools` or install it yourself"


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        try:
            kind = item.path.resolve().relative_to(TESTS).parts[0]
        except ValueError:
            continue  # collected from outside tests/ (a path given by hand): not this suite's business
        if kind not in KINDS:
            raise pytest.UsageError(
                f"{item.nodeid}: put tests under tests/unit, tests/integration, tests/faults or tests/browser."
            )
        item.add_marker(kind)


@pytest.fixture
def require_tool() -> Callable[[str, str], str]:
    """`require_tool("kcat", "kcat")` → the command's path; skips (fails in CI) when it is missing.

    The virtualenv's bin folder is searched too: `make tools` may put a command there.
    """

    def find(command: str, debian_package: str) -> str:
        path = shutil.which(command) or shutil.which(command, path=str(Path(sys.executable).parent))
        if path:
            return path
        message = f"{command} is not installed: {INSTALL_HINT} (Debian/Ubuntu package `{debian_package}`)."
        if in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)

    return find


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config) -> None:
    """One line of counts per marker, e.g. `unit: 101 passed · integration: 40 passed · faults: 10 passed`."""
    counts: dict[str, Counter[str]] = {kind: Counter() for kind in KINDS}
    for outcome in ("passed", "failed", "error", "skipped", "xfailed", "xpassed"):
        for report in terminalreporter.stats.get(outcome, []):
            kind = next((k for k in KINDS if k in getattr(report, "keywords", {})), None)
            if kind:
                counts[kind][outcome] += 1
    parts = [
        f"{kind}: " + ", ".join(f"{n} {outcome}" for outcome, n in counts[kind].items())
        for kind in KINDS
        if counts[kind]
    ]
    if parts:
        terminalreporter.write_line(" · ".join(parts))
