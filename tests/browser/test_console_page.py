"""The console page in Debian's Chromium against the real stack: posts flow through Kafka, the worker
and Elasticsearch, and the page shows them as a user would check: chart data equal to Elasticsearch's
own counts, a new negative post in the live feed without a reload, a filter narrowing the feed, the
language switch, a hostile post rendered as text, the post's detail dialog, no serious axe violation."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from ascolto.testing import LocalPipeline, make_post
from tests.browser.a11y import assert_accessible

pytestmark = pytest.mark.timeout(300)

NEGATIVE = "This service is terrible, awful and broken, I hate it"
POSITIVE = "I love this, it is wonderful and great, thank you"
NEUTRAL = "The office opens at nine on Monday"
HOSTILE = "<img src=x onerror=\"document.body.dataset.pwned='yes'\"> look at this terrible thing"


def es_counts(pipeline: LocalPipeline, since: str, until: str) -> dict[str, int]:
    """What Elasticsearch itself counts per sentiment in the page's window (created_at, since ≤ t < until)."""
    window: dict[str, Any] = {"range": {"created_at": {"gte": since, "lt": until}}}
    counts = {"total": pipeline.count({"bool": {"filter": [window]}})}
    for label in ("positive", "neutral", "negative"):
        counts[label] = pipeline.count({"bool": {"filter": [window, {"term": {"sentiment.label": label}}]}})
    return counts


def page_counts(page: Page) -> dict[str, int]:
    data = page.locator("#overview").evaluate("node => ({...node.dataset})")
    rows = page.locator("#overview-table tbody tr").evaluate_all("rows => rows.map(r => ({...r.dataset}))")
    # The hidden table is what a screen reader reads: its rows must add up to the same figures.
    for label in ("positive", "neutral", "negative"):
        assert sum(int(r[label]) for r in rows) == int(data[label]), label
    return {key: int(data[key]) for key in ("total", "positive", "neutral", "negative")} | {
        "since": data["since"],
        "until": data["until"],
    }  # type: ignore[dict-item]


def test_console_shows_the_pipeline_live(pipeline: LocalPipeline, page: Page, screenshot: Any) -> None:
    pipeline.start_worker()
    texts = (NEGATIVE, NEGATIVE, POSITIVE, POSITIVE, NEUTRAL, HOSTILE)
    posts = [make_post(text, native_id=f"page-{n}") for n, text in enumerate(texts)]  # one document each
    pipeline.publish(posts)
    pipeline.wait_count(len(posts))

    page.goto(f"http://127.0.0.1:{pipeline.settings.web_port}/console/")
    expect(page.locator("#feed-list > li")).to_have_count(len(posts), timeout=30_000)
    page.wait_for_function(f"document.getElementById('overview').dataset.total === '{len(posts)}'", timeout=30_000)

    shown = page_counts(page)
    assert {k: shown[k] for k in ("total", "positive", "neutral", "negative")} == es_counts(
        pipeline, str(shown["since"]), str(shown["until"])
    )
    assert shown["negative"] >= 2 and shown["positive"] >= 2

    # A hostile post is text on the page, never markup.
    hostile = page.locator("#feed-list > li", has_text="look at this terrible thing")
    expect(hostile.locator(".post-text")).to_have_text(HOSTILE)
    assert page.locator("#feed-list img").count() == 0
    assert page.evaluate("document.body.dataset.pwned") is None
    screenshot("loaded")

    # A new negative post arrives in the feed without a reload.
    page.evaluate("window.__sameDocument = true")
    fresh = make_post("Another terrible, awful outage, the worst service ever")
    pipeline.publish([fresh])
    item = page.locator(f'#feed-list > li[data-id="{fresh["id"]}"]')
    expect(item).to_be_visible(timeout=30_000)
    expect(item).to_have_attribute("data-sentiment", "negative")
    assert page.evaluate("window.__sameDocument") is True
    assert page.locator("#feed-list > li").first.get_attribute("data-id") == fresh["id"]  # newest on top

    # The post's detail: a modal dialog, Esc closes it, focus returns to its button.
    item.locator(".post-open").click()
    expect(page.locator("#detail-text")).to_have_text(fresh["text"], timeout=10_000)
    expect(page.locator("#detail-body")).to_contain_text("vader")
    assert_accessible(page)
    page.keyboard.press("Escape")
    expect(page.locator("#detail")).not_to_have_attribute("open", "")
    assert page.evaluate("document.activeElement.closest('li')?.dataset.id") == fresh["id"]

    # A filter narrows the feed (the stream reconnects with it).
    page.select_option("#f-sentiment", "negative")
    expect(page.locator("#feed-list > li")).to_have_count(shown["negative"] + 1, timeout=30_000)
    sentiments = page.locator("#feed-list > li").evaluate_all("items => items.map(i => i.dataset.sentiment)")
    assert set(sentiments) == {"negative"}
    screenshot("filtered")

    # The language switch changes the labels at once, and <html lang> with them.
    expect(page.locator("#overview-title")).to_have_text("Volume and sentiment")
    page.click("#lang-it")
    expect(page.locator("#overview-title")).to_have_text("Volume e sentiment")
    expect(page.locator("html")).to_have_attribute("lang", "it")
    expect(page.locator("#lang-it")).to_have_attribute("aria-pressed", "true")
    assert_accessible(page)


def test_console_speaks_italian_to_an_italian_browser(pipeline: LocalPipeline, open_page: Any) -> None:
    pipeline.start_worker()
    page = open_page(locale="it-IT")
    page.goto(f"http://127.0.0.1:{pipeline.settings.web_port}/console/")
    expect(page.locator("html")).to_have_attribute("lang", "it")
    expect(page.locator("#feed-title")).to_have_text("Flusso in diretta")
    expect(page.locator("#alerts-status")).to_contain_text("non sono configurate", timeout=15_000)
    page.click("#lang-en")
    page.reload()  # the choice is remembered
    expect(page.locator("#feed-title")).to_have_text("Live feed")
