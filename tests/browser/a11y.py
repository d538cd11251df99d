"""Accessibility checks for pages under test: axe-core, as bundled in the axe-playwright-python package
(nothing is fetched at run time), run inside the page.

Italian public administrations are bound to WCAG 2.1 AA by the Stanca law: `assert_accessible(page)` fails
on every serious or critical violation of the WCAG 2.0/2.1 A and AA rules, with one readable line per rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from axe_playwright_python.base import AXE_SCRIPT
from playwright.sync_api import Page

WCAG_AA = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")
BLOCKING = ("serious", "critical")
_MAX_NODES_SHOWN = 5
_RUN = "([context, options]) => axe.run(context ?? document, options)"


def axe_violations(
    page: Page,
    *,
    tags: Sequence[str] = WCAG_AA,
    include: str | None = None,
    disable_rules: Iterable[str] = (),
) -> list[dict[str, Any]]:
    """The violations axe-core finds in the page as it is now (optionally only inside the CSS selector
    `include`), each as axe reports it: id, impact, help, helpUrl, nodes."""
    options: dict[str, Any] = {
        "resultTypes": ["violations"],
        "runOnly": {"type": "tag", "values": list(tags)},
        "rules": {rule: {"enabled": False} for rule in disable_rules},
    }
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE_SCRIPT)
    results = page.evaluate(_RUN, [include, options])
    return list(results.get("violations", []))


def describe(violations: Iterable[dict[str, Any]]) -> str:
    """One line per violated rule: its id, impact, what it asks for and the first few elements at fault."""
    lines = []
    for violation in violations:
        targets = [", ".join(map(str, node.get("target", []))) for node in violation.get("nodes", [])]
        shown = "; ".join(targets[:_MAX_NODES_SHOWN])
        more = f" (+{len(targets) - _MAX_NODES_SHOWN} more)" if len(targets) > _MAX_NODES_SHOWN else ""
        lines.append(f"- {violation['id']} [{violation.get('impact')}]: {violation.get('help')} → {shown}{more}")
    return "\n".join(lines)


def assert_accessible(
    page: Page,
    *,
    impacts: Sequence[str] = BLOCKING,
    include: str | None = None,
    disable_rules: Iterable[str] = (),
) -> None:
    """Fail with a readable list when axe-core finds a violation of one of `impacts` (serious and critical by
    default) in the page; `disable_rules` names axe rule ids to leave out, each one a decision to explain."""
    blocking = [
        v for v in axe_violations(page, include=include, disable_rules=disable_rules) if v.get("impact") in impacts
    ]
    if blocking:
        raise AssertionError(
            f"axe-core found {len(blocking)} {'/'.join(impacts)} accessibility violation(s) on {page.url}:\n"
            + describe(blocking)
        )
