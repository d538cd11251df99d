"""``ascolto alerts list|show|check|test|backtest``: the alerts raised, the rules behind them, and tuning a rule
on the posts already indexed before it pages anyone."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import ConnectionTimeout
from elasticsearch import ApiError, Elasticsearch
from rich.markup import escape

from ascolto.cli.output import console, stdout_console
from core.errors import AscoltoError
from core.settings import Settings, get_settings
from elastic.alerts import PostSelection, WindowCounts, find_alerts, list_alerts, window_counts
from elastic.bounded import describe_api_error
from elastic.client import es_client, unreachable
from elastic.filters import parse_time, time_of
from streams.alerting.rulebook import warnings as rule_warnings
from streams.alerting.rules import NewTermRule, Rule, RuleFileError, RuleSet, load_rules

app = typer.Typer(
    help="Spike alerts: list and show the alerts raised, check a rules file, send a test notification, "
    "backtest a rule on the posts already indexed.",
    no_args_is_help=True,
)

SUMMARY_WIDTH = 80
AsJson = Annotated[bool, typer.Option("--json", help="JSON on stdout (one alert per line for list), for programs.")]
RulesFile = Annotated[
    Path | None, typer.Option("--rules", help="The rules file (default: ASCOLTO_ALERT_RULES).", show_default=False)
]


# --- Elasticsearch errors as one sentence --------------------------------------------------------
@contextmanager
def _elasticsearch(settings: Settings) -> Iterator[Elasticsearch]:
    client = es_client(settings)
    try:
        yield client
    except (TransportConnectionError, ConnectionTimeout) as exc:
        raise unreachable(settings, exc) from None
    except ApiError as exc:
        raise AscoltoError(f"{describe_api_error(exc)[1]}.") from None
    finally:
        client.close()


# --- rendering (pure: unit-tested on fixed alerts) ------------------------------------------------
def _when(value: object) -> str:
    """An RFC 3339 time as ``YYYY-MM-DD HH:MM`` (UTC), for tables."""
    text = str(value or "")
    return text[:16].replace("T", " ") if text else "-"


def _short(text: str, width: int = SUMMARY_WIDTH) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def _num(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "-"
    return f"{value:g}" if isinstance(value, int) or value == int(value) else f"{value:.2f}"


def _pct(value: object) -> str:
    return f"{value * 100:.0f}%" if isinstance(value, int | float) and not isinstance(value, bool) else "-"


def alert_row(alert: Mapping[str, Any]) -> tuple[str, ...]:
    """One line of ``alerts list``: raised at, status, severity, rule, key, summary, id."""
    return (
        _when(alert.get("created_at")),
        str(alert.get("status", "firing")),
        str(alert.get("severity", "")),
        str(alert.get("rule", "")),
        str(alert.get("key", "")),
        _short(str(alert.get("summary") or f"{alert.get('metric', '')} {_num(alert.get('observed'))}")),
        str(alert.get("id", "")),
    )


LIST_HEADER = ("raised (UTC)", "status", "severity", "rule", "key", "summary", "id")


def describe_alert(alert: Mapping[str, Any]) -> list[str]:
    """What ``alerts show`` prints: the summary, the numbers, the window, terms, samples, search, resolution."""
    status = str(alert.get("status", "firing"))
    lines = [f"alert {alert.get('id', '')}  [{status}, {alert.get('severity', '')}]"]
    lines.append(f"  {alert.get('summary') or alert.get('metric', '')}")
    fields: list[tuple[str, str]] = [
        ("rule", f"{alert.get('rule', '')} ({alert.get('kind', '')})" if alert.get("kind") else str(alert.get("rule"))),
        (
            "key",
            f"{alert.get('key', '')} ({alert.get('key_kind')})" if alert.get("key_kind") else str(alert.get("key")),
        ),
        ("window", f"{_when(alert.get('window_start'))} → {_when(alert.get('window_end'))} UTC"),
        ("raised", f"{_when(alert.get('created_at'))} UTC"),
    ]
    std = alert.get("baseline_std")
    usual = _num(alert.get("baseline")) + (f" ± {_num(std)}" if isinstance(std, int | float) else "")
    source = alert.get("baseline_source")
    fields.append(
        (
            "observed",
            f"{_num(alert.get('observed'))} {alert.get('metric', '')}, usually {usual}"
            + (f" ({source} baseline)" if source else ""),
        )
    )
    ratio = alert.get("ratio")
    if isinstance(ratio, int | float):
        fields.append(("ratio", f"{ratio:.1f}×"))
    if "total" in alert or "negative" in alert:
        share = alert.get("share_negative")
        usual_share = alert.get("share_baseline")
        fields.append(
            (
                "posts",
                f"{_num(alert.get('total'))} in the window, {_num(alert.get('negative'))} negative ({_pct(share)}"
                + (f", usually {_pct(usual_share)})" if isinstance(usual_share, int | float) else ")"),
            )
        )
    terms = alert.get("top_terms") or []
    if terms:
        fields.append(("top terms", ", ".join(f"{t.get('term')} ({t.get('count')})" for t in terms)))
    width = max(len(name) for name, _ in fields)
    lines += [f"  {name.ljust(width)}  {value}" for name, value in fields]
    samples = alert.get("samples") or []
    if samples:
        lines.append("  sample posts:")
        lines += [
            f"    {s.get('author', '?')}: {_short(str(s.get('text', '')), 160)}  ({s.get('id', '')})" for s in samples
        ]
    elif alert.get("sample_post_ids"):
        lines.append(f"  sample posts: {', '.join(alert['sample_post_ids'])}")
    search = alert.get("search") or {}
    if search:
        lines.append("  all the posts:")
        lines += [f"    {search[part]}" for part in ("cli", "url") if search.get(part)]
    resolution = alert.get("resolution")
    if status == "resolved" or resolution:
        lines.append(f"  resolved {_when(alert.get('resolved_at'))} UTC" if alert.get("resolved_at") else "  resolved")
        if isinstance(resolution, Mapping):
            lines.append(
                f"    {resolution.get('summary', '')} (window {_when(resolution.get('window_start'))} → "
                f"{_when(resolution.get('window_end'))}, observed {_num(resolution.get('observed'))})"
            )
    return lines


def describe_rule(rule: Rule) -> str:
    """One line of ``alerts check``: name, kind, key, window, subscriber kinds."""
    kinds = ", ".join(s.channel.kind for s in rule.subscribers) or "no subscribers"
    window = int(rule.window.total_seconds() // 60)
    return f"{rule.name}: {rule.kind}, key {rule.key}, window {window}m, subscribers: {kinds}"


# --- commands --------------------------------------------------------------------------------------
@app.command("list")
def list_(
    since: Annotated[str, typer.Option(help="Alerts raised since: 15m, 24h, 7d or an ISO date.")] = "7d",
    rule: Annotated[list[str] | None, typer.Option("--rule", help="Only this rule (repeatable).")] = None,
    status: Annotated[
        list[str] | None, typer.Option("--status", help="Only firing or resolved alerts (repeatable).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="Show the newest N at most.")] = 50,
    as_json: AsJson = False,
) -> None:
    """The alerts raised, newest first (tab-separated when piped); the id is what `ascolto alerts show` takes."""
    settings = get_settings()
    bad = sorted(set(status or ()) - {"firing", "resolved"})
    if bad:
        raise typer.BadParameter(f"status is firing or resolved, not {', '.join(bad)}", param_hint="--status")
    try:
        since_math = parse_time(since, "since")
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--since") from None
    with _elasticsearch(settings) as client:
        total, alerts = list_alerts(
            client, settings, since=since_math, rule=rule or (), status=status or (), limit=limit
        )
    if as_json:
        out = sys.stdout.buffer
        for alert in alerts:
            out.write(orjson.dumps(alert) + b"\n")
        out.flush()
        return
    if not alerts:
        filtered = " matching the filters" if rule or status else ""
        console.print(f"no alerts{filtered} since {escape(since)} in {settings.es_alerts_index}")
        return
    _print_table(LIST_HEADER, [alert_row(a) for a in alerts])
    shown = f"the newest {len(alerts)} of " if len(alerts) < total else ""
    console.print(f"{shown}{total} alert(s) since {escape(since)}; `ascolto alerts show ID` shows one in full")


def _print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    if stdout_console.is_terminal:
        from rich.table import Table

        table = Table(*header)
        for column in table.columns:
            column.no_wrap = column.header not in ("summary", "key")
        for row in rows:
            table.add_row(*(escape(cell) for cell in row))
        stdout_console.print(table)
        return
    # Piped: one tab-separated line per row, for grep, cut and spreadsheets.
    for line in (header, *rows):
        print("\t".join(" ".join(cell.replace("\t", " ").split()) for cell in line))


@app.command()
def show(
    alert_id: Annotated[
        str, typer.Argument(metavar="ID", help="The alert id (from `alerts list`), or its first digits.")
    ],
    as_json: AsJson = False,
) -> None:
    """One alert in full: the change in words, the numbers, the window, top terms, sample posts, the ready search,
    and its resolution if it has one."""
    settings = get_settings()
    if len(alert_id.strip()) < 6:
        raise typer.BadParameter("give the alert id, or at least its first 6 digits", param_hint="ID")
    with _elasticsearch(settings) as client:
        found = find_alerts(client, settings, alert_id)
    if not found:
        console.print(
            f"no alert with id {escape(alert_id)} in {settings.es_alerts_index}; `ascolto alerts list` lists them"
        )
        raise typer.Exit(1)
    if len(found) > 1:
        ids = ", ".join(str(a.get("id")) for a in found)
        console.print(f"{len(found)} alerts have ids starting with {escape(alert_id)} ({ids}); give more digits")
        raise typer.Exit(1)
    if as_json:
        sys.stdout.buffer.write(orjson.dumps(found[0], option=orjson.OPT_INDENT_2) + b"\n")
        sys.stdout.buffer.flush()
        return
    for line in describe_alert(found[0]):
        stdout_console.print(line, soft_wrap=True, markup=False, highlight=False)


def _rules_path(settings: Settings, given: Path | None) -> Path:
    path = given or settings.alert_rules
    if path is None:
        raise AscoltoError("No alert rules file: set ASCOLTO_ALERT_RULES or pass --rules FILE.")
    return path


def _load(settings: Settings, given: Path | None) -> RuleSet:
    return load_rules(_rules_path(settings, given))


def _rule(settings: Settings, given: Path | None, name: str) -> Rule:
    rules = _load(settings, given)
    rule = rules.get(name)
    if rule is None:
        names = ", ".join(r.name for r in rules.rules) or "none"
        raise AscoltoError(f"No rule named {name!r} in {_rules_path(settings, given)} (its rules: {names}).")
    return rule


@app.command()
def check(
    file: Annotated[
        Path | None, typer.Argument(help="The rules file (default: ASCOLTO_ALERT_RULES).", show_default=False)
    ] = None,
) -> None:
    """Validate a rules file: each problem with its file:line and field, or one line per rule."""
    settings = get_settings()
    path = _rules_path(settings, file)
    try:
        rules = load_rules(path)
    except RuleFileError as exc:
        for problem in exc.problems:
            console.print(escape(problem), soft_wrap=True, highlight=False)
        console.print(f"[bold red]{len(exc.problems)} problem(s)[/] in {escape(str(path))}; no rule was loaded")
        raise typer.Exit(1) from None
    stdout_console.print(f"[green]✓[/] {len(rules.rules)} rules OK in {escape(str(path))}")
    for rule in rules.rules:
        stdout_console.print(describe_rule(rule), markup=False, highlight=False, soft_wrap=True)
    for warning in rule_warnings(rules, settings):
        console.print(f"[yellow]![/] {escape(warning)}", soft_wrap=True, highlight=False)


@app.command()
def test(
    rule_name: Annotated[str, typer.Argument(metavar="RULE", help="The rule whose subscribers get the test.")],
    rules_file: RulesFile = None,
) -> None:
    """Send a clearly marked test notification to every subscriber of RULE, now (no outbox, no retries)."""
    from streams.alerting.delivery import send_test

    settings = get_settings()
    rule = _rule(settings, rules_file, rule_name)
    if not rule.subscribers:
        console.print(f"rule {escape(rule.name)} has no subscribers: nothing to send")
        return
    outcomes = asyncio.run(send_test(rule, settings))
    for outcome in outcomes:
        mark = "[green]✓[/]" if outcome.ok else "[red]✗[/]"
        error = f": {escape(str(outcome.error))}" if not outcome.ok and outcome.error else ""
        stdout_console.print(f"{mark} {escape(str(outcome.subscriber))}{error}", soft_wrap=True)
    failed = sum(not o.ok for o in outcomes)
    if failed:
        console.print(f"{failed} of {len(outcomes)} subscriber(s) did not take the test notification")
        raise typer.Exit(1)


def _history(rule: Rule) -> timedelta:
    """How far before --since a backtest reads, so the rule starts warm as a running worker would be."""
    if isinstance(rule, NewTermRule):
        return timedelta(days=rule.lookback_days)
    warmup = getattr(rule, "warmup", 0)
    return rule.window * (warmup + 1)


def selection_of(rule: Rule) -> PostSelection:
    """The rule's filters as the posts index query takes them."""
    f = rule.filters
    return PostSelection(f.topic, f.watch_term, f.source, f.lang, f.sentiment)


def _counts(settings: Settings, rule: Rule, since: datetime, until: datetime, max_keys: int) -> WindowCounts:
    with _elasticsearch(settings) as client:
        try:
            return window_counts(
                client,
                settings,
                selection=selection_of(rule),
                key=rule.key,
                window_seconds=int(rule.window.total_seconds()),
                since=since,
                until=until,
                max_keys=max_keys,
                newest_keys=isinstance(rule, NewTermRule),
            )
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--since") from None


@app.command()
def backtest(
    rule_name: Annotated[str, typer.Argument(metavar="RULE", help="The rule to replay.")],
    since: Annotated[str, typer.Option(help="Replay posts created since: 24h, 7d or an ISO date.")] = "7d",
    until: Annotated[str, typer.Option(help="... and before: 1h, 2d, an ISO date or now.")] = "now",
    max_keys: Annotated[
        int, typer.Option(min=1, max=1000, help="Replay the N keys with the most posts (new_term: seen last).")
    ] = 50,
    rules_file: RulesFile = None,
    as_json: AsJson = False,
) -> None:
    """Replay RULE over the posts already indexed and print when it would have fired and resolved.

    The windows before --since (the rule's warm-up, or lookback_days for new_term) are read too, so the rule
    starts as warm as a running worker would be; only what happens from --since on is printed.
    """
    from streams.alerting.tracker import backtest as replay

    settings = get_settings()
    rule = _rule(settings, rules_file, rule_name)
    now = datetime.now(UTC)
    try:
        start = time_of(since, now, "since")
        end = time_of(until, now, "until")
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    if end <= start:
        raise typer.BadParameter(f"--until ({until}) must come after --since ({since})")
    counts = _counts(settings, rule, start - _history(rule), end, max_keys)
    findings = [f for f in replay(rule, counts.series) if f.window_start >= start]
    if as_json:
        out = sys.stdout.buffer
        for f in findings:
            row = {"key": f.key, "action": f.action, "window_start": f.window_start.isoformat(),
                   "window_end": f.window_end.isoformat(), "summary": f.summary}  # fmt: skip
            out.write(orjson.dumps(row) + b"\n")
        out.flush()
        return
    if counts.capped:
        console.print(
            f"replaying the {len(counts.series)} keys with the most posts of {counts.keys_total} (--max-keys)"
        )
    for f in findings:
        verb = "fires   " if f.action == "fire" else "resolves"
        stdout_console.print(
            f"{_when(f.window_end.isoformat())}  {verb}  {f.key}: {f.summary}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    console.print(backtest_total(rule.name, findings, since))


def backtest_total(rule: str, findings: Sequence[Any], since: str) -> str:
    """The last line of a backtest: how many times, for how many keys."""
    fired = [f for f in findings if f.action == "fire"]
    if not fired:
        return f"{rule} would not have fired since {since}"
    keys = len({f.key for f in fired})
    resolved = sum(f.action == "resolve" for f in findings)
    times = "once" if len(fired) == 1 else f"{len(fired)} times"
    return (
        f"{rule} would have fired {times} for {keys} key{'s' if keys != 1 else ''} since {since} ({resolved} resolved)"
    )
