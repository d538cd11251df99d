"""``ascolto demo``: the whole pipeline on the local stack, with a negative burst to look at.

The posts are backdated over the last 30 minutes, so the detector has minutes of event time to learn
what is usual; the burst in the middle fires the demo's alert rules (``deploy/local/demo-rules.yaml``,
renamed after the run so that each run's rules start with fresh state and their own event-time clock),
whose webhook is a receiver the demo runs itself (:mod:`ascolto.demo_receiver`): it prints the alert,
then its resolution.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from elastic_transport import ConnectionError as TransportConnectionError
from elasticsearch import ApiError
from rich.markup import escape

from ascolto.cli.connect_cmd import run_source
from ascolto.cli.output import console
from ascolto.cli.stack_cmd import up
from ascolto.demo_receiver import SECRET_ENV, DemoReceiver, demo_secret
from ascolto.launcher import BackgroundWorker
from ascolto.metrics_reading import metric_total
from ascolto.resources import deploy_path
from connectors.generator import DEFAULT_BRANDS, Burst, GeneratorSource
from core.errors import AscoltoError
from core.settings import Settings, get_settings
from elastic.client import es_client, unreachable
from streams.alerting.rules import load_rules

#: Event time the demo's posts are spread over, ending now: minutes for the demo rules to warm up.
SPAN = timedelta(minutes=30)
#: How long the demo waits for its alerts and their resolutions once the posts are searchable.
ALERT_WAIT_SECONDS = 180.0


def demo(
    posts: Annotated[int, typer.Option(min=10, help="Regular posts to generate.")] = 2000,
    rate: Annotated[float, typer.Option(min=1, help="Posts per second.")] = 200.0,
    burst: Annotated[int, typer.Option(min=0, help="Negative posts in the burst about one brand (0: none).")] = 300,
    seed: Annotated[int | None, typer.Option(help="Seed for the generator.")] = None,
    processes: Annotated[
        int | None,
        typer.Option(min=1, max=64, help="Worker processes in one group (default ASCOLTO_WORKER_PROCESSES, 1)."),
    ] = None,
    sources: Annotated[
        Path | None,
        typer.Option(
            "--source",
            help="A sources file (like deploy/local/sources.example.yaml): listen to real networks instead of the "
            "generator, until Ctrl-C or until every source is done.",
        ),
    ] = None,
) -> None:
    """Start Kafka + Elasticsearch, a worker and a generator; wait until the posts are searchable and the
    burst's alert (and its resolution) reach the demo's webhook receiver. With --source: real sources instead."""
    settings = get_settings()
    if sources is not None:
        _demo_sources(settings, sources, processes)
        return
    up(only=None)
    secret = demo_secret(settings.stack_dir)
    state = _State(settings.stack_dir / "demo" / "state.json")
    proc = BackgroundWorker(settings, processes or settings.worker_processes)
    # This run's rules: the demo's, named after the run, so that their state (baselines, realert, clock)
    # starts fresh; a worker started by an earlier demo reloads the file.
    rules_file = settings.stack_dir / "demo" / "rules.yaml"
    rule_names = _write_run_rules(
        deploy_path("local", "demo-rules.yaml"), rules_file, datetime.now(UTC).strftime("%H%M%S")
    )
    env = {**os.environ, SECRET_ENV: secret}
    if settings.alert_rules is None:
        env["ASCOLTO_ALERT_RULES"] = str(rules_file)
    pid = proc.pid()
    if (
        pid is not None
        and state.get("worker_pid") == pid
        and state.get("alert_rules") != env.get("ASCOLTO_ALERT_RULES")
    ):
        # The demo's own worker from an earlier run, on other rules (an older ascolto's, say): start it again.
        with console.status("restarting the demo's worker with this run's alert rules..."):
            proc.stop()
    reloads = _metric_total(proc, "ascolto_alert_rule_reloads", outcome="loaded")
    with console.status("starting the worker..."):
        started = proc.start(env=env)
    what = f"{proc.processes} worker processes" if proc.processes > 1 else "worker"
    console.print(f"[green]✓[/] {what} {'started' if started else 'already running'} (log: {proc.log_file})")
    if started:
        state.update(worker_pid=proc.pid(), alert_rules=str(settings.alert_rules or rules_file))
    demo_alerts = _demo_alerts_on(state, proc, rules_file)
    if demo_alerts and not started:
        demo_alerts = _wait_reload(proc, reloads, settings.reload_seconds)

    brand = DEFAULT_BRANDS[2]
    source = GeneratorSource(
        count=posts,
        rate=rate,
        seed=seed,
        burst=Burst(after=posts // 2, size=burst, brand=brand) if burst else None,
        backdate=SPAN,
    )
    receiver = _start_receiver(secret) if demo_alerts and burst else None
    late_before = _metric_total(proc, "ascolto_alert_late_posts")
    try:
        run_source(source, rate=None)
        expected = posts + burst
        prefix = f"generator:{source.run_id}-"
        with console.status(f"waiting until all {expected} posts are searchable in Elasticsearch..."):
            found = _wait_searchable(settings, prefix, expected, proc)
        console.print(f"[green]✓[/] {found} posts of this run are searchable in index {settings.es_index}")
        if receiver is not None:
            _show_alerts(receiver, rule_names, proc)
    finally:
        if receiver is not None:
            receiver.stop()
    late = _metric_total(proc, "ascolto_alert_late_posts") - late_before
    if late > 0:
        console.print(f"   ({late} posts reached the alert detector after their window had closed: not counted)")
    _summary(settings, {"prefix": {"id": prefix}}, brand, proc.status().processes)


class _State:
    """What the demo remembers between runs (``<stack dir>/demo/state.json``): the worker it started, and
    with which alert rules."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.data: dict[str, Any] = orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            self.data = {}

    def get(self, name: str) -> Any:
        return self.data.get(name)

    def update(self, **values: Any) -> None:
        self.data.update(values)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_bytes(orjson.dumps(self.data))


def _demo_alerts_on(state: _State, proc: BackgroundWorker, rules_file: Path) -> bool:
    """Whether the running worker has the demo's rules (the demo knows only of workers it started)."""
    pid = proc.pid()
    if pid is not None and state.get("worker_pid") == pid:
        rules = state.get("alert_rules")
        if rules == str(rules_file):
            console.print(f"[green]✓[/] alerts on: the demo rules ({rules_file})")
            return True
        console.print(f"   alerts: the worker's rules are {rules}; the demo waits for none (ascolto alerts list)")
        return False
    console.print(
        "   alerts: this worker was not started by the demo, which cannot tell its alert rules and waits for none; "
        "`ascolto alerts list` shows what fired"
    )
    return False


def _start_receiver(secret: str) -> DemoReceiver | None:
    try:
        receiver = DemoReceiver(secret).start()
    except AscoltoError as exc:
        console.print(f"[yellow]![/] {exc} The alerts still go to `ascolto alerts list`.")
        return None
    console.print(f"[green]✓[/] alert receiver listening on {receiver.url}")
    return receiver


def _show_alerts(receiver: DemoReceiver, rules: list[str], proc: BackgroundWorker) -> None:
    """Print the alerts of this run's ``rules`` and their resolutions as they arrive, until each rule fired and
    resolved or the deadline passes (a worker kept from an earlier run may still deliver older ones)."""
    deadline = time.monotonic() + ALERT_WAIT_SECONDS
    fired: dict[str, str] = {}  # alert id -> rule
    resolved: set[str] = set()
    with console.status("waiting for the burst's alerts and their resolutions at the webhook receiver..."):
        while not (set(rules) <= set(fired.values()) and set(fired) <= resolved):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or proc.exited():
                break
            try:
                alert = receiver.alerts.get(timeout=min(1.0, remaining))
            except queue.Empty:
                continue
            if alert.get("rule") not in rules:
                continue
            if alert.get("status") == "resolved":
                resolved.add(str(alert.get("id")))
                _print_resolution(alert)
            else:
                fired[str(alert.get("id"))] = str(alert.get("rule"))
                _print_alert(alert)
    if not fired:
        console.print(
            f"[yellow]![/] No alert reached the demo's receiver within {ALERT_WAIT_SECONDS:.0f} s; "
            f"see the worker log {proc.log_file} and `ascolto alerts list`."
        )
    elif not set(fired) <= resolved:
        console.print(
            f"[yellow]![/] An alert is not resolved yet after {ALERT_WAIT_SECONDS:.0f} s; "
            "`ascolto alerts list` shows it when it is."
        )


def _print_alert(alert: dict[str, Any]) -> None:
    console.print(
        f"[bold red]🔔 ALERT[/] {escape(str(alert.get('severity', '')))} [bold]{escape(str(alert.get('summary')))}[/]"
        f"  (rule {escape(str(alert.get('rule')))})",
        soft_wrap=True,
    )
    for sample in (alert.get("samples") or [])[:3]:
        text = " ".join(str(sample.get("text", "")).split())
        console.print(f"     @{escape(str(sample.get('author', '')))}: {escape(text[:110])}", soft_wrap=True)
    search = alert.get("search") or {}
    if search.get("cli"):
        console.print(f"     all of them: {escape(search['cli'])}", soft_wrap=True)


def _print_resolution(alert: dict[str, Any]) -> None:
    resolution = alert.get("resolution") or {}
    console.print(
        f"[bold green]✅ RESOLVED[/] {escape(str(alert.get('rule')))}: "
        f"{escape(str(resolution.get('summary') or alert.get('summary')))}",
        soft_wrap=True,
    )


def _metric_total(proc: BackgroundWorker, family_name: str, **labels: str) -> int:
    """A counter summed over the running worker's /metrics (0 when no worker answers)."""
    status = proc.status()
    port, processes = status.metrics_port, status.processes
    total = 0.0
    for i in range(processes if port and proc.pid() is not None else 0):
        with contextlib.suppress(OSError):  # a process not answering (yet) counts as nothing
            total += metric_total(port + i, family_name, timeout=2, **labels)
    return int(total)


def _write_run_rules(template: Path, target: Path, run: str) -> list[str]:
    """The demo rules with this run's suffix on every name, written to ``target``; returns the names."""
    text = re.sub(r"^(\s*- name: )([a-z0-9_.-]+)\s*$", rf"\g<1>\g<2>.{run}", template.read_text("utf-8"), flags=re.M)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(target)  # whole: a worker watching the file never reads half of it
    return [rule.name for rule in load_rules(target).rules]


def _wait_reload(proc: BackgroundWorker, before: int, reload_seconds: float) -> bool:
    """Wait until the running worker has loaded the rules file the demo just wrote."""
    deadline = time.monotonic() + max(30.0, 4 * reload_seconds)
    with console.status("waiting for the worker to load this run's alert rules..."):
        while time.monotonic() < deadline:
            if _metric_total(proc, "ascolto_alert_rule_reloads", outcome="loaded") > before:
                return True
            time.sleep(0.5)
    console.print(
        f"[yellow]![/] The worker did not load this run's alert rules; see its log {proc.log_file}. "
        "The demo goes on without waiting for alerts."
    )
    return False


def _count(settings: Settings, body: dict) -> int:
    client = es_client(settings)
    try:
        client.indices.refresh(index=settings.es_index, ignore_unavailable=True)
        return int(client.count(index=settings.es_index, query=body, ignore_unavailable=True)["count"])
    except ApiError as exc:
        if exc.meta.status == 503:
            return 0  # the worker's first index is still starting its shard
        raise
    except TransportConnectionError as exc:
        raise unreachable(settings, exc) from None
    finally:
        client.close()


def _wait_searchable(settings: Settings, prefix: str, expected: int, proc: BackgroundWorker) -> int:
    deadline = time.monotonic() + 300
    found = 0
    while time.monotonic() < deadline:
        found = _count(settings, {"prefix": {"id": prefix}})
        if found >= expected:
            return found
        if proc.exited():
            raise AscoltoError(f"The worker stopped; see its log {proc.log_file}.")
        time.sleep(1)
    raise AscoltoError(
        f"Only {found} of {expected} posts became searchable within 5 minutes; see the worker log {proc.log_file}."
    )


def _summary(settings: Settings, run: dict[str, Any], brand: str, processes: int) -> None:
    for label in ("negative", "neutral", "positive"):
        n = _count(settings, {"bool": {"filter": [run, {"term": {"sentiment.label": label}}]}})
        console.print(f"   {label:>8}: {n}")
    console.print(
        "\n[bold]Where to look[/]\n"
        f"  console:  http://127.0.0.1:{settings.web_port}/console/\n"
        f"  search:   ascolto search '{brand.split()[0]}' --sentiment negative --since 1h\n"
        "            ascolto search 'bolletta OR bill' --lang it --json\n"
        f"  API:      http://127.0.0.1:{settings.web_port}/api/stats?since=1h\n"
        f"            http://127.0.0.1:{settings.web_port}/api/search?q=disservizio&sentiment=negative\n"
        f"  metrics:  {_metrics_urls(settings.metrics_port, processes)}\n"
        "  alerts:   ascolto alerts list   (then: ascolto alerts show ID)\n"
        "  Kibana:   ascolto kibana import --url http://localhost:5601\n"
        f"  raw data: {settings.es_url_safe}/{settings.es_index}/_search?q=text.it:disservizio\n"
        "  stop:     ascolto stack down   (stops the worker, Kafka and Elasticsearch)",
        soft_wrap=True,
    )


def _metrics_urls(port: int, processes: int) -> str:
    if processes == 1:
        return f"http://127.0.0.1:{port}/metrics (worker)"
    # One /metrics per worker process, on consecutive ports (Prometheus scrapes each).
    return f"http://127.0.0.1:{port}/metrics ... :{port + processes - 1}/metrics (one per worker process)"


#: How often the demo with real sources prints what was published and what is searchable.
PROGRESS_SECONDS = 5.0


def _demo_sources(settings: Settings, path: Path, processes: int | None) -> None:
    """The demo on real networks: the sources of ``path`` (checked before anything starts), the stack and a
    worker; progress every few seconds; when the sources end (Ctrl-C, or all finite and done), what became
    searchable and where to look. Alerts come per the worker's rules (ASCOLTO_ALERT_RULES); none is awaited."""
    import asyncio
    import signal

    from connectors import metrics
    from connectors.live import run_many
    from connectors.producer import PostProducer
    from connectors.sources_config import build, load_sources

    plan = build(load_sources(path), settings, on_ready=lambda url: console.print(f"[green]✓[/] receiving on {url}"))
    up(only=None)
    proc = BackgroundWorker(settings, processes or settings.worker_processes)
    with console.status("starting the worker..."):
        started = proc.start(env=dict(os.environ))
    console.print(f"[green]✓[/] worker {'started' if started else 'already running'} (log: {proc.log_file})")
    console.print(
        "   alerts: per the worker's rules (ASCOLTO_ALERT_RULES), as real posts come; the demo waits for none "
        "(`ascolto alerts list` shows what fired)"
    )
    for name, line in plan.descriptions.items():
        console.print(f"   {name}: {line}", soft_wrap=True)
    since = datetime.now(UTC).isoformat()
    run = {"range": {"indexed_at": {"gte": since}}}

    def published() -> int:
        return int(
            sum(s.value for m in metrics.RECORDS_ACKED.collect() for s in m.samples if s.name.endswith("_total"))
        )

    start_published = published()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)

        async def progress() -> None:
            while True:
                await asyncio.sleep(PROGRESS_SECONDS)
                searchable = await asyncio.to_thread(_count, settings, run)
                console.print(f"   {published() - start_published} posts published, {searchable} searchable so far")

        with PostProducer(settings, stage="connector:demo") as producer:
            console.print("[green]✓[/] listening (Ctrl-C to stop)")
            ticker = asyncio.create_task(progress())
            try:
                report = await run_many(
                    plan.sources,
                    producer,
                    settings.data_dir / "connectors",
                    stop=stop,
                    servers=plan.servers,
                    on_refused=lambda name, sentence: console.print(f"[bold red]error:[/] {name}: {sentence}"),
                )
            finally:
                ticker.cancel()
        if report.refused:
            console.print(f"[yellow]![/] stopped: {', '.join(report.refused)} (see above); the others ran")

    asyncio.run(main())
    total = published() - start_published
    with console.status(f"waiting until the {total} posts published are searchable..."):
        deadline = time.monotonic() + 60
        found = _count(settings, run)
        # Replays after a reconnect publish some posts twice under one id: fewer documents than records is normal.
        while found < total and time.monotonic() < deadline and not proc.exited():
            time.sleep(1)
            found = _count(settings, run)
    console.print(f"[green]✓[/] {total} posts published, {found} searchable in index {settings.es_index}")
    _summary(settings, run, "disservizio", proc.status().processes)
