"""Browser fixtures: Debian's Chromium, headless, driven by Playwright for Python.

- `browser` (session): one Chromium for the whole run. Playwright's own browser download is never used
  (it cannot reach its servers here): `make tools` installs Debian's `chromium`, found on PATH or through
  ASCOLTO_CHROMIUM. Missing, the browser tests skip with one sentence, and fail under CI=true.
- `page` (per test): a fresh context and page (English locale); `open_page(locale=...)` opens more. At
  teardown each page is saved as `test-artifacts/screenshots/<test>.png` (failed or not), and the paths are
  listed at the end of the run; `screenshot("step")` saves one more on the way.
- Errors the page logs (console.error, uncaught exceptions) fail the test unless it declared them with
  `console_errors.expect(r"regex")`.
- `pipeline`: as in tests/integration, the real local stack with an isolated pipeline and worker.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Error, Page, sync_playwright

from ascolto.testing import LocalPipeline
from core.settings import Settings
from tests.environment import in_ci
from tests.integration.conftest import stack_down_sentence

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
INSTALL_SENTENCE = (
    "Chromium is not installed: run `make tools` (it installs Debian's `chromium` package) "
    "or point ASCOLTO_CHROMIUM at a Chromium or Chrome binary."
)
# Without the background-networking flags Chromium keeps dialling Google's services, which this
# machine's closed network refuses, many at a time; a fresh profile comes from Playwright itself.
CHROMIUM_FLAGS = [
    "--no-sandbox",  # the suite runs as root in CI, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Chromium asks every site for /favicon.ico on its own; a 404 there is the browser's doing, not the page's.
_BROWSERS_OWN = re.compile(r"Failed to load resource: .*\(\S+/favicon\.ico\)$")
_SCREENSHOTS_TAKEN = pytest.StashKey[list[Path]]()
_CONSOLE = pytest.StashKey["ConsoleErrors"]()


def chromium_path() -> str | None:
    """The Chromium to drive: ASCOLTO_CHROMIUM if set, else Debian's `chromium` (or a `chromium-browser`/
    `google-chrome`) on PATH."""
    configured = os.environ.get("ASCOLTO_CHROMIUM")
    if configured:
        return configured if Path(configured).is_file() else None
    return next(
        (path for name in ("chromium", "chromium-browser", "google-chrome") if (path := shutil.which(name))), None
    )


def safe_name(text: str) -> str:
    """A file name from a test id: `test_feed[it-IT]` → `test_feed-it-IT`."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "page"


@dataclass
class ConsoleErrors:
    """What pages log as errors during one test; `expect(pattern)` declares the ones the test provokes."""

    seen: list[str] = field(default_factory=list)
    expected: list[re.Pattern[str]] = field(default_factory=lambda: [_BROWSERS_OWN])

    def expect(self, pattern: str) -> None:
        self.expected.append(re.compile(pattern))

    def watch(self, page: Page) -> None:
        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                where = message.location.get("url", "")
                self.seen.append(f"console.error: {message.text}" + (f" ({where})" if where else ""))

        def on_page_error(error: Error) -> None:
            self.seen.append(f"uncaught {error.name}: {error.message}")

        page.on("console", on_console)
        page.on("pageerror", on_page_error)

    def unexpected(self) -> list[str]:
        return [line for line in self.seen if not any(p.search(line) for p in self.expected)]


# Package scope, not session: Playwright's sync API keeps an event loop running in this thread while it is
# open, and every later test calling asyncio.run() (most of tests/unit and tests/integration) would fail.
@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    path = chromium_path()
    if path is None:
        if in_ci():
            pytest.fail(INSTALL_SENTENCE, pytrace=False)
        pytest.skip(INSTALL_SENTENCE)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def console_errors(request: pytest.FixtureRequest) -> ConsoleErrors:
    errors = ConsoleErrors()
    request.node.stash[_CONSOLE] = errors
    return errors


@pytest.fixture
def open_page(
    browser: Browser, console_errors: ConsoleErrors, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Page]]:
    """`open_page(locale="it-IT")` → a new page in a context of its own; each is screenshotted at teardown."""
    opened: list[Page] = []

    def open_one(*, locale: str = "en-US", **context_options: object) -> Page:
        context = browser.new_context(locale=locale, **context_options)  # type: ignore[arg-type]
        page = context.new_page()
        console_errors.watch(page)
        opened.append(page)
        return page

    yield open_one
    base = safe_name(request.node.name)
    for index, page in enumerate(opened):
        path = SCREENSHOTS / (f"{base}.png" if index == 0 else f"{base}-{index + 1}.png")
        try:
            _save(request, page, path)
        finally:
            page.context.close()


@pytest.fixture
def page(open_page: Callable[..., Page]) -> Page:
    return open_page()


@pytest.fixture
def screenshot(page: Page, request: pytest.FixtureRequest) -> Callable[[str], Path]:
    """`screenshot("after-filter")` saves the page now as `<test>-after-filter.png` and returns the path."""

    def take(step: str) -> Path:
        path = SCREENSHOTS / f"{safe_name(request.node.name)}-{safe_name(step)}.png"
        _save(request, page, path)
        return path

    return take


def _save(request: pytest.FixtureRequest, page: Page, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        page.screenshot(path=str(path), full_page=True)
    except Error as error:  # a crashed or closed page: say so, the test's own outcome stands
        print(f"screenshot {path} not saved: {error.message}")
        return
    request.config.stash.setdefault(_SCREENSHOTS_TAKEN, []).append(path)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Fail a test whose pages logged errors it did not declare, once its own body has passed."""
    result = yield
    errors = item.stash.get(_CONSOLE, None)
    if errors is not None and (unexpected := errors.unexpected()):
        raise AssertionError("the page logged errors:\n" + "\n".join(f"- {line}" for line in unexpected))
    return result


@pytest.hookimpl(trylast=True)  # after `-m`/`-k` deselection: probe the stack only for tests that use it
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    needing_stack = [
        item for item in items if item.get_closest_marker("browser") and "pipeline" in getattr(item, "fixturenames", ())
    ]
    if not needing_stack:
        return
    sentence = stack_down_sentence(Settings())
    if sentence is None:
        return
    if in_ci():
        pytest.exit(sentence, returncode=pytest.ExitCode.TESTS_FAILED)
    for item in needing_stack:
        item.add_marker(pytest.mark.skip(reason=sentence))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config) -> None:
    taken = config.stash.get(_SCREENSHOTS_TAKEN, [])
    if taken:
        terminalreporter.write_line(f"browser screenshots ({len(taken)}) in {SCREENSHOTS.relative_to(REPO)}/:")
        for path in taken:
            terminalreporter.write_line(f"  {path.relative_to(REPO)}")


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[LocalPipeline]:
    with LocalPipeline(tmp_path) as p:
        yield p
