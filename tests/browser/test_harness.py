"""The browser harness itself, on tiny pages served from a local folder: Chromium renders and runs script,
screenshots land where the report says, page errors are caught, and the accessibility check passes a
labelled page and names what is wrong with an unlabelled one."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.a11y import assert_accessible, axe_violations
from tests.browser.conftest import SCREENSHOTS, ConsoleErrors

GOOD = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Counter</title></head>
<body><main>
  <h1>Counter</h1>
  <label for="step">Step</label> <input id="step" type="number" value="2">
  <button id="add" type="button">Add</button>
  <p>Total: <output id="total" aria-live="polite">0</output></p>
</main>
<script>
  document.getElementById("add").addEventListener("click", () => {
    const total = document.getElementById("total");
    total.textContent = String(Number(total.textContent) + Number(document.getElementById("step").value));
  });
</script>
</body></html>
"""

# An image with no text alternative, an unlabelled field and a button with no name: three rules axe
# counts as critical, which a screen-reader user meets as "image", "edit text" and "button".
BAD = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Broken</title></head>
<body><main>
  <img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">
  <input type="text">
  <button type="button"></button>
</main></body></html>
"""

FAILING_SCRIPT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Errors</title></head>
<body><main><h1>Errors</h1></main>
<script>console.error("feed stream dropped"); undefinedFunction();</script>
</body></html>
"""


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # keep pytest's output to the tests' own
        pass


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """Serves tmp_path on loopback; `site("good.html")` → its URL."""
    for name, html in {"good.html": GOOD, "bad.html": BAD, "errors.html": FAILING_SCRIPT}.items():
        (tmp_path / name).write_text(html, encoding="utf-8")
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield lambda name: f"http://127.0.0.1:{server.server_address[1]}/{name}"
    finally:
        server.shutdown()
        server.server_close()


def test_page_runs_its_script_and_is_screenshotted(
    page: Page, site: Callable[[str], str], screenshot: Callable[[str], Path]
) -> None:
    page.goto(site("good.html"))
    page.get_by_label("Step").fill("5")
    page.get_by_role("button", name="Add").click()
    page.get_by_role("button", name="Add").click()
    expect(page.locator("#total")).to_have_text("10")

    path = screenshot("after-two-clicks")
    assert path == SCREENSHOTS / "test_page_runs_its_script_and_is_screenshotted-after-two-clicks.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_labelled_page_passes_the_accessibility_check(page: Page, site: Callable[[str], str]) -> None:
    page.goto(site("good.html"))
    assert_accessible(page)


def test_the_accessibility_check_names_each_violation(page: Page, site: Callable[[str], str]) -> None:
    page.goto(site("bad.html"))
    found = {v["id"] for v in axe_violations(page)}
    assert {"image-alt", "label", "button-name"} <= found

    with pytest.raises(AssertionError) as failure:
        assert_accessible(page)
    message = str(failure.value)
    for rule in ("image-alt", "label", "button-name"):
        assert f"- {rule} [critical]" in message
    assert "button" in message and "img" in message  # the elements at fault, by CSS selector


def test_italian_locale_reaches_the_page(open_page: Callable[..., Page], site: Callable[[str], str]) -> None:
    page = open_page(locale="it-IT")
    page.goto(site("good.html"))
    assert page.evaluate("navigator.language") == "it-IT"


def test_page_errors_are_collected_and_can_be_declared(
    page: Page, site: Callable[[str], str], console_errors: ConsoleErrors
) -> None:
    page.goto(site("errors.html"))
    page.wait_for_load_state("load")
    expect(page.get_by_role("heading", name="Errors")).to_be_visible()
    seen = console_errors.seen
    assert any("feed stream dropped" in line for line in seen), seen
    assert any("undefinedFunction" in line for line in seen), seen
    assert len(console_errors.unexpected()) == 2

    # What this test provokes on purpose, declared: nothing left to fail it at the end.
    console_errors.expect(r"feed stream dropped")
    console_errors.expect(r"undefinedFunction is not defined")
    assert console_errors.unexpected() == []
