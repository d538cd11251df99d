"""The ``ascolto`` command line: one sub-command per verb of the architecture."""

from __future__ import annotations

import typer

from ascolto.cli import (
    alerts_cmd,
    compile_cmd,
    connect_cmd,
    demo_cmd,
    dlq_cmd,
    enrich_cmd,
    eval_cmd,
    index_cmd,
    kibana_cmd,
    search_cmd,
    stack_cmd,
    train_cmd,
    worker_cmd,
)
from ascolto.cli.output import fail
from core.errors import AscoltoError

app = typer.Typer(
    name="ascolto",
    help="Real-time social listening: connectors → Kafka → Faust enrichment → Elasticsearch.",
    no_args_is_help=True,
    add_completion=False,
    # Locals can hold credentials: never print them in a traceback.
    pretty_exceptions_show_locals=False,
)
app.add_typer(stack_cmd.app, name="stack")
app.add_typer(connect_cmd.app, name="connect")
app.add_typer(index_cmd.app, name="index")
app.add_typer(kibana_cmd.app, name="kibana")
app.add_typer(dlq_cmd.app, name="dlq")
app.add_typer(alerts_cmd.app, name="alerts")
app.command("worker")(worker_cmd.worker)
app.command("enrich")(enrich_cmd.enrich)
app.command("search")(search_cmd.search)
app.command("eval")(eval_cmd.eval_)
app.command("train")(train_cmd.train)
app.command("demo")(demo_cmd.demo)
app.command("compile")(compile_cmd.compile_)


def main() -> None:
    """Console-script entry point: user-facing errors become one line and exit code 1."""
    try:
        app()
    except AscoltoError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        raise SystemExit(130) from None
