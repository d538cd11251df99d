"""``ascolto stack up|down|status``: the local Kafka + Elasticsearch."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from ascolto.cli.output import console
from ascolto.launcher import BackgroundWorker
from ascolto.stack import LocalStack
from core.settings import get_settings
from web.addresses import ask_readiness, local_host

app = typer.Typer(
    help="Run the local embedded Kafka + Elasticsearch (from Maven Central, no Docker).", no_args_is_help=True
)

Only = Annotated[str | None, typer.Option("--only", help="Act on one server: kafka, elasticsearch or prometheus.")]


def _check_only(only: str | None) -> None:
    if only not in (None, "kafka", "elasticsearch", "prometheus"):
        raise typer.BadParameter("must be kafka, elasticsearch or prometheus", param_hint="--only")


@app.command()
def up(
    only: Only = None,
    with_prometheus: Annotated[
        bool, typer.Option("--with-prometheus", help="Also run Debian's Prometheus scraping the local worker.")
    ] = False,
) -> None:
    """Download (once), start and wait until Kafka and Elasticsearch answer. Safe to run twice."""
    _check_only(only)
    stack = LocalStack(get_settings(), with_prometheus=with_prometheus)
    with console.status("Starting the local stack (the first run downloads Kafka and Elasticsearch)..."):
        reports = stack.up(only)
    for report in reports:
        svc = stack.service(report.name)
        verb = f"started, ready in {report.seconds:.1f}s" if report.started else "already running"
        console.print(f"[green]✓[/] {svc.name} {svc.version} at {svc.endpoint}: {verb}")
        if svc is stack.kafka:
            access = stack.kafka.sasl_ssl_access()
            console.print(
                f"  SASL_SSL at {access.bootstrap}: {access.mechanism} user {access.username!r}, "
                f"CA {access.ca_file}, password in {stack.kafka.security.user_file}"
            )


@app.command()
def down(only: Only = None) -> None:
    """Stop the local servers (and a demo worker) cleanly; data stays for the next `up`."""
    _check_only(only)
    if only is None and BackgroundWorker(get_settings()).stop():
        console.print("[green]✓[/] demo worker stopped")
    for name, was_running in LocalStack(get_settings()).down(only):
        console.print(f"[green]✓[/] {name} {'stopped' if was_running else 'was not running'}")


def _worker_readiness(bind: str, web_port: int, processes: int) -> tuple[bool, list[str]]:
    """Every worker process's /readyz (process i on web port + i): all ready, and why not."""
    ready, reasons = True, []
    for i in range(processes):
        ok, why = ask_readiness(f"http://{local_host(bind)}:{web_port + i}/readyz")
        ready &= ok
        reasons += why
    return ready, reasons


@app.command()
def status() -> None:
    """Show whether each local server (and a worker `ascolto demo` started) runs and answers, with its log.

    The worker's readiness is its own /readyz: Kafka and Elasticsearch answer it and its agents run.

    Exits 3 when Kafka or Elasticsearch is not ready; the demo worker is optional.
    """
    settings = get_settings()
    table = Table("process", "version", "endpoint", "pid", "ready", "log")
    all_ready = True
    for st in LocalStack(settings).status():
        all_ready &= st.ready
        table.add_row(st.name, st.version, st.endpoint, str(st.pid or "-"), "yes" if st.ready else "no", str(st.log))
    worker = BackgroundWorker(settings).status()
    reasons: list[str] = []
    if worker.pid is not None:
        ports = f"API :{worker.web_port or 'off'}, metrics :{worker.metrics_port or 'off'}"
        ready = worker.ready
        if worker.web_port:  # its own verdict: Kafka, Elasticsearch and its agents (/readyz)
            ready, reasons = _worker_readiness(settings.web_bind, worker.web_port, worker.processes)
        table.add_row("worker", "", ports, str(worker.pid), "yes" if ready else "no", str(worker.log))
    else:
        table.add_row("worker", "", "not started (`ascolto demo` starts one)", "-", "-", "")
    console.print(table)
    for reason in reasons:
        console.print(f"[yellow]worker not ready:[/] {reason}")
    raise typer.Exit(0 if all_ready else 3)
