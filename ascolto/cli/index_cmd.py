"""``ascolto index status|rollover|retention``: the posts indices, for operators."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from elastic_transport import ConnectionError as TransportConnectionError
from rich.table import Table

from ascolto.cli.output import console, stdout_console
from core.settings import get_settings

app = typer.Typer(help="The posts indices: templates, write alias, rollover and retention.", no_args_is_help=True)


def _run(work: Any) -> Any:
    """Run one lifecycle operation with a fresh async client; ES down becomes one sentence."""
    from elastic.client import async_es_client, unreachable
    from elastic.lifecycle import PostsIndex

    settings = get_settings()

    async def main() -> Any:
        client = async_es_client(settings)
        try:
            posts = PostsIndex(client, settings)
            await posts.bootstrap()
            return await work(posts, client)
        finally:
            await client.close()

    try:
        return asyncio.run(main())
    except TransportConnectionError as exc:
        raise unreachable(settings, exc) from None


@app.command()
def status() -> None:
    """Templates installed, backing indices with their document counts, which one takes writes."""

    async def work(posts: Any, client: Any) -> None:
        counts = {
            row["index"]: row["docs.count"] for row in await client.cat.indices(index=f"{posts.alias}-*", format="json")
        }
        table = Table("index", "created", "posts", "write", title=f"alias {posts.alias}")
        for b in posts.backing:
            created = datetime.fromtimestamp(b.created_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
            table.add_row(b.name, created, str(counts.get(b.name, "?")), "yes" if b.is_write else "")
        stdout_console.print(table)
        console.print(
            f"analyzers: {posts.fingerprint['analyzers']}, template version {posts.fingerprint['template_version']}"
        )

    _run(work)


@app.command()
def rollover(force: Annotated[bool, typer.Option(help="Roll over now, whatever the conditions.")] = False) -> None:
    """Roll the write index over if ASCOLTO_ES_ROLLOVER_* conditions are met (or now with --force)."""

    async def work(posts: Any, client: Any) -> str | None:
        return await posts.rollover(force=force)

    new = _run(work)
    console.print(f"[green]✓[/] rolled over to {new}" if new else "no rollover needed")


@app.command()
def retention() -> None:
    """Delete backing indices whose posts are all older than ASCOLTO_ES_RETENTION_DAYS."""

    async def work(posts: Any, client: Any) -> list[str]:
        return await posts.apply_retention()

    deleted = _run(work)
    console.print(f"[green]✓[/] deleted {', '.join(deleted)}" if deleted else "nothing older than the retention")
