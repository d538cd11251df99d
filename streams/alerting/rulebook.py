"""The rules in force: loaded from ``ASCOLTO_ALERT_RULES`` at start, reloaded when the file changes.

A worker must not start with a broken rules file (the mistake is found at once, with its
file:line), but once running it must not stop alerting because someone saved a half-edited file:
a reload that fails keeps the rules in force, logs the problems once per change of the file, and
counts it in ``ascolto_alert_rule_reloads_total{outcome="rejected"}``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

from core.settings import Settings
from streams import metrics
from streams.alerting.rules import RuleFileError, RuleSet, load_rules, unknown_topics
from streams.enrichers.taxonomy import TaxonomyError, default_taxonomy_path, load_taxonomy

log = logging.getLogger(__name__)


def _stamp(path: Path) -> tuple[float, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_mtime, stat.st_size)


class RuleBook:
    """The current :class:`RuleSet` of one file (or none: no path, no rules, nothing fires)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        # Raises RuleFileError at start: a worker never runs on rules it could not read.
        self.rules: RuleSet = load_rules(path) if path is not None else RuleSet()
        self._stamp = _stamp(path) if path is not None else None
        self.version = 1

    @classmethod
    def of(cls, rules: RuleSet) -> RuleBook:
        """A book holding ``rules`` and no file (tests, backtests)."""
        book = cls(None)
        book.rules = rules
        return book

    def refresh(self) -> bool:
        """Reload the file if it changed since the last look; True when new rules are in force."""
        if self.path is None:
            return False
        stamp = _stamp(self.path)
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            rules = load_rules(self.path)
        except RuleFileError as exc:
            metrics.ALERT_RULE_RELOADS.labels("rejected").inc()
            log.error("The alert rules file changed but cannot be used; the previous rules stay in force:\n%s", exc)
            return False
        self.rules = rules
        self.version += 1
        metrics.ALERT_RULE_RELOADS.labels("loaded").inc()
        log.info("Alert rules reloaded from %s: %d rules.", self.path, len(rules.rules))
        return True


def warnings(rules: RuleSet, settings: Settings, environ: Mapping[str, str] = os.environ) -> list[str]:
    """What in a valid rules file will not work here, one sentence each: a topic the taxonomy lacks (its
    filter never matches), an environment variable a subscriber names that is not set (its deliveries fail)."""
    problems: list[str] = []
    try:
        taxonomy = load_taxonomy(settings.taxonomy or default_taxonomy_path())
        problems += unknown_topics(rules, set(taxonomy.topics))
    except TaxonomyError:
        pass  # the topics enricher reports a broken taxonomy itself
    for rule in rules.rules:
        for subscriber in rule.subscribers:
            channel = subscriber.channel
            for name in (getattr(channel, "secret_env", None), getattr(channel, "url_env", None)):
                if name and not environ.get(name):
                    problems.append(
                        f"rule {rule.name}: its {channel.kind} subscriber needs the environment variable {name}, "
                        "which is not set here; its deliveries will fail until it is."
                    )
    return problems
