"""``ascolto kibana check|import``: the dashboards shipped in deploy/kibana/."""

from __future__ import annotations

from typing import Annotated

import typer

from ascolto.cli.output import console, fail
from ascolto.kibana import SAVED_OBJECTS, check_saved_objects, import_saved_objects
from core.settings import get_settings

app = typer.Typer(help="Kibana saved objects (data views, visualizations, dashboard).", no_args_is_help=True)


@app.command("check")
def check() -> None:
    """Check that every field the saved objects use exists in the index templates with a fitting type."""
    problems = check_saved_objects(get_settings())
    if problems:
        for problem in problems:
            console.print(f"[red]✗[/] {problem}")
        fail(f"{len(problems)} problem(s) in {SAVED_OBJECTS}; fix the saved objects or the templates.")
    console.print(f"[green]✓[/] {SAVED_OBJECTS.name}: every reference and field checks out")


@app.command("import")
def import_(
    url: Annotated[str, typer.Option("--url", help="Kibana's base URL, e.g. http://localhost:5601.")],
    space: Annotated[str | None, typer.Option(help="Kibana space id (default space if omitted).")] = None,
) -> None:
    """Load the saved objects through Kibana's API (overwriting earlier versions).

    Credentials come from ASCOLTO_KIBANA_API_KEY, or ASCOLTO_KIBANA_USERNAME and ASCOLTO_KIBANA_PASSWORD.
    """
    result = import_saved_objects(url, get_settings(), space=space)
    if not result.get("success", False):
        errors = "; ".join(f"{e.get('id')}: {e.get('error', {}).get('type')}" for e in result.get("errors", []))
        fail(f"Kibana imported {result.get('successCount', 0)} object(s) but refused others ({errors}).")
    console.print(f"[green]✓[/] {result.get('successCount', 0)} saved objects imported into {url}")
