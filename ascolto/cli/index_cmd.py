"""``ascolto index status|rollover|retention``: the posts indices, for operators."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, TypeVar

import typer
from elastic_transport import ConnectionError as TransportConnectionError
from elasticsearch import AsyncElasticsearch
from rich.markup import escape
from rich.table import Table

from ascolto.cli.output import console, stdout_console
from core.settings import get_settings
from elastic.client import async_es_client, unreachable
from elastic.index_status import read_status
from elastic.lifecycle import PostsIndex

T = TypeVar("T")

app = typer.Typer(help="The posts indices: templates, write alias, rollover and retention.", no_args_is_help=True)


def _with_client(work: Callable[[AsyncElasticsearch], Awaitable[T]]) -> T:
    """Run ``work`` with a fresh async client; Elasticsearch down becomes one sentence."""
    settings = get_settings()

    async def main() -> T:
        client = async_es_client(settings)
        try:
            return await work(client)
        finally:
            await client.close()

    try:
        return asyncio.run(main())
    except TransportConnectionError as exc:
        raise unreachable(settings, exc) from None


def _run(work: Callable[[PostsIndex], Awaitable[T]]) -> T:
    """Run one lifecycle operation (templates and alias bootstrapped first, as a worker does)."""

    async def with_posts(client: AsyncElasticsearch) -> T:
        posts = PostsIndex(client, get_settings())
        await posts.bootstrap()
        return await work(posts)

    return _with_client(with_posts)


@app.command()
def status() -> None:
    """Backing indices with their post counts, analyzers, whether templates are current and a rollover is due.

    Changes nothing: `ascolto index rollover` is the command that acts.
    """
    settings = get_settings()
    st = _with_client(lambda client: read_status(client, settings))
    if not st.backing:
        console.print(f"no posts index yet: alias {st.alias} does not exist (a worker creates it at start)")
    else:
        table = Table("index", "created", "posts", "write", title=f"alias {st.alias}")
        for row in st.backing:
            created = datetime.fromtimestamp(row.index.created_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
            posts = "?" if row.docs is None else str(row.docs)
            table.add_row(row.index.name, created, posts, "yes" if row.index.is_write else "")
        stdout_console.print(table)
    analyzers = ", ".join(f"{lang}: {name}" for lang, name in st.analyzers.items())
    console.print(f"analyzers: {analyzers}")
    if st.installed is None:
        console.print("templates: not installed (a worker or `ascolto index rollover` installs them)")
    elif st.templates_current:
        console.print(f"templates: current (version {st.expected['template_version']})")
    else:
        console.print(
            f"templates: outdated (installed {st.installed.get('template_version')}, this ascolto "
            f"{st.expected['template_version']}); the next worker start installs them and rolls over"
        )
    if settings.es_ilm:
        console.print("rollover: managed by Elasticsearch ILM")
    elif st.backing:
        met = [name for name, ok in (st.rollover_conditions or {}).items() if ok]
        if st.rollover_due:
            reason = ", ".join(met) if met else "the write index was made with other templates"
            console.print(f"rollover: due ({escape(reason)}); run `ascolto index rollover`")
        else:
            console.print("rollover: not due")


@app.command()
def rollover(force: Annotated[bool, typer.Option(help="Roll over now, whatever the conditions.")] = False) -> None:
    """Roll the write index over if ASCOLTO_ES_ROLLOVER_* conditions are met (or now with --force)."""

    async def work(posts: PostsIndex) -> str | None:
        return await posts.rollover(force=force)

    new = _run(work)
    console.print(f"[green]✓[/] rolled over to {new}" if new else "no rollover needed")


@app.command()
def retention() -> None:
    """Delete backing indices whose posts are all older than ASCOLTO_ES_RETENTION_DAYS."""

    async def work(posts: PostsIndex) -> list[str]:
        return await posts.apply_retention()

    deleted = _run(work)
    console.print(f"[green]✓[/] deleted {', '.join(deleted)}" if deleted else "nothing older than the retention")
