"""Alerts in words: plain text, HTML, Slack Block Kit and a Teams adaptive card, in English or Italian.

One message may carry one alert or a digest of several (firing and resolved). Everything that comes
from posts (text, author, terms) is hostile input: HTML escapes it, Slack gets its three control
characters escaped, and every sample is cut to :data:`SAMPLE_CHARS`.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MAX_SAMPLES = 5
SAMPLE_CHARS = 280

_WORDS: dict[str, dict[str, str]] = {
    "en": {
        "firing": "alert",
        "resolved": "resolved",
        "test": "TEST notification, nothing happened",
        "digest": "{n} alerts",
        "rule": "Rule",
        "key": "Key",
        "window": "Window",
        "posts": "Posts",
        "negative": "negative",
        "share": "negative share",
        "terms": "Top terms",
        "samples": "Sample posts",
        "search": "Search all of them",
        "back": "Back to usual",
        "critical": "critical",
        "warning": "warning",
        "info": "info",
    },
    "it": {
        "firing": "allerta",
        "resolved": "risolto",
        "test": "notifica di PROVA, non è successo nulla",
        "digest": "{n} allerte",
        "rule": "Regola",
        "key": "Chiave",
        "window": "Finestra",
        "posts": "Post",
        "negative": "negativi",
        "share": "quota negativa",
        "terms": "Termini principali",
        "samples": "Post di esempio",
        "search": "Cercali tutti",
        "back": "Tornato alla norma",
        "critical": "critico",
        "warning": "avviso",
        "info": "info",
    },
}


def words(language: str) -> dict[str, str]:
    """The fixed words of ``language`` (English for anything but Italian)."""
    return _WORDS.get(language, _WORDS["en"])


@dataclass(frozen=True)
class Message:
    """What one notification says: one alert, or a digest of several; ``test`` marks a test notification."""

    alerts: Sequence[Mapping[str, Any]]
    language: str = "en"
    test: bool = False

    @property
    def w(self) -> dict[str, str]:
        return words(self.language)

    def status_word(self, alert: Mapping[str, Any]) -> str:
        if alert.get("status") == "resolved":
            return self.w["resolved"]
        return self.w.get(str(alert.get("severity", "")), str(alert.get("severity", ""))) or self.w["firing"]

    def headline(self, alert: Mapping[str, Any]) -> str:
        summary = str(alert.get("summary") or f"{alert.get('rule')}: {alert.get('key')}")
        if alert.get("status") == "resolved" and (alert.get("resolution") or {}).get("summary"):
            summary = str(alert["resolution"]["summary"])
        return _one_line(f"{self.status_word(alert)}: {summary}")

    @property
    def subject(self) -> str:
        """An e-mail subject / card title: ``[ascolto] critical: negative posts about billing: 48 in 10 min ...``."""
        if len(self.alerts) == 1:
            text = self.headline(self.alerts[0])
        else:
            text = (
                self.w["digest"].format(n=len(self.alerts))
                + ": "
                + "; ".join(self.headline(a) for a in self.alerts[:3])
            )
        prefix = f"[ascolto] {self.w['test']} – " if self.test else "[ascolto] "
        return _cut(prefix + text, 240)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def samples(alert: Mapping[str, Any]) -> list[dict[str, str]]:
    """At most :data:`MAX_SAMPLES` sample posts, text on one line and cut to :data:`SAMPLE_CHARS`."""
    out = []
    for post in (alert.get("samples") or [])[:MAX_SAMPLES]:
        out.append(
            {
                "id": str(post.get("id", "")),
                "author": _cut(_one_line(str(post.get("author", ""))), 80),
                "text": _cut(_one_line(str(post.get("text", ""))), SAMPLE_CHARS),
            }
        )
    return out


def _facts(msg: Message, alert: Mapping[str, Any]) -> list[tuple[str, str]]:
    w = msg.w
    facts = [
        (w["rule"], str(alert.get("rule", ""))),
        (w["key"], f"{alert.get('key_kind', '')} {alert.get('key', '')}".strip()),
    ]
    facts.append((w["window"], f"{alert.get('window_start', '')} – {alert.get('window_end', '')}"))
    if "total" in alert:
        posts = f"{alert['total']}"
        if "negative" in alert:
            posts += f" ({alert['negative']} {w['negative']})"
        facts.append((w["posts"], posts))
    if alert.get("share_negative") is not None:
        facts.append((w["share"], f"{float(alert['share_negative']):.0%}"))
    terms = ", ".join(f"{t.get('term')} ({t.get('count')})" for t in (alert.get("top_terms") or [])[:10])
    if terms:
        facts.append((w["terms"], _cut(_one_line(terms), 500)))
    return facts


# --- plain text and HTML (e-mail) --------------------------------------------------------------
def plain_text(msg: Message) -> str:
    """The message as plain text."""
    parts = [msg.subject, ""]
    for alert in msg.alerts:
        parts.append(msg.headline(alert))
        parts += [f"  {name}: {value}" for name, value in _facts(msg, alert)]
        if shown := samples(alert):
            parts.append(f"  {msg.w['samples']}:")
            parts += [f"    - @{s['author']}: {s['text']} ({s['id']})" for s in shown]
        search = alert.get("search") or {}
        if search:
            parts.append(f"  {msg.w['search']}: {search.get('cli', '')}")
            parts.append(f"    {search.get('url', '')}")
        parts.append("")
    return "\n".join(parts)


def html_body(msg: Message) -> str:
    """The message as an HTML document; everything not fixed words is escaped."""
    e = html.escape
    out = [f"<html><body><h2>{e(msg.subject)}</h2>"]
    for alert in msg.alerts:
        out.append(f"<h3>{e(msg.headline(alert))}</h3><table>")
        out += [f"<tr><th align=left>{e(n)}</th><td>{e(v)}</td></tr>" for n, v in _facts(msg, alert)]
        out.append("</table>")
        if shown := samples(alert):
            out.append(f"<p><b>{e(msg.w['samples'])}</b></p><ul>")
            out += [f"<li><b>@{e(s['author'])}</b>: {e(s['text'])} <small>({e(s['id'])})</small></li>" for s in shown]
            out.append("</ul>")
        search = alert.get("search") or {}
        if search.get("url"):
            out.append(
                f'<p><a href="{e(str(search["url"]))}">{e(msg.w["search"])}</a><br>'
                f"<code>{e(str(search.get('cli', '')))}</code></p>"
            )
    out.append("</body></html>")
    return "\n".join(out)


# --- Slack ------------------------------------------------------------------------------------
def _slack_escape(text: str) -> str:
    # Slack's mrkdwn treats only these three as control characters.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(msg: Message) -> dict[str, Any]:
    """An incoming-webhook body: ``text`` (notifications, fallback) and Block Kit blocks."""
    blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": _cut(msg.subject, 150)}}]
    for alert in msg.alerts[:10]:  # Slack takes at most 50 blocks
        facts = "\n".join(f"*{n}*: {_slack_escape(v)}" for n, v in _facts(msg, alert))
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": _cut(f"*{_slack_escape(msg.headline(alert))}*\n{facts}", 3000)},
            }
        )
        if shown := samples(alert):
            lines = "\n".join(f"• @{_slack_escape(s['author'])}: {_slack_escape(s['text'])}" for s in shown)
            blocks.append(
                {"type": "section", "text": {"type": "mrkdwn", "text": _cut(f"*{msg.w['samples']}*\n{lines}", 3000)}}
            )
        search = alert.get("search") or {}
        if search.get("url"):
            link = f"<{search['url']}|{msg.w['search']}>  `{_slack_escape(str(search.get('cli', '')))}`"
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(link, 3000)}]})
    return {"text": _slack_escape(msg.subject), "blocks": blocks}


# --- Microsoft Teams (Workflows webhook) -------------------------------------------------------
def teams_payload(msg: Message) -> dict[str, Any]:
    """A Workflows/Power Automate webhook body carrying an Adaptive Card 1.4."""
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": msg.subject, "weight": "Bolder", "size": "Medium", "wrap": True}
    ]
    actions: list[dict[str, Any]] = []
    for alert in msg.alerts[:10]:
        body.append({"type": "TextBlock", "text": msg.headline(alert), "weight": "Bolder", "wrap": True})
        body.append({"type": "FactSet", "facts": [{"title": n, "value": v} for n, v in _facts(msg, alert)]})
        for s in samples(alert):
            body.append({"type": "TextBlock", "text": f"@{s['author']}: {s['text']}", "wrap": True, "isSubtle": True})
        search = alert.get("search") or {}
        if search.get("url") and len(actions) < 5:
            actions.append({"type": "Action.OpenUrl", "title": msg.w["search"], "url": search["url"]})
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    if actions:
        card["actions"] = actions
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
        ],
    }
