"""``ascolto search``: full-text search over enriched posts, as a table or JSON."""

from __future__ import annotations

import sys
from typing import Annotated

import orjson
import typer
from rich.table import Table

from ascolto.cli.output import stdout_console
from core.settings import get_settings
from elastic.search import PostFilters, SearchRequest
from elastic.search import search as run_search

_COLOURS = {"positive": "green", "negative": "red", "neutral": "white"}


def search(
    query: Annotated[
        str,
        typer.Argument(
            help="Query string, e.g. 'bolletta OR bill', '\"no service\"', 'bollett*', 'bolleta~1' "
            "(no regular expressions or leading wildcards; at most ASCOLTO_API_MAX_QUERY_TERMS terms)."
        ),
    ] = "",
    lang: Annotated[list[str] | None, typer.Option("--lang", help="Only these languages (repeatable).")] = None,
    sentiment: Annotated[
        list[str] | None, typer.Option("--sentiment", help="positive/neutral/negative (repeatable).")
    ] = None,
    topic: Annotated[list[str] | None, typer.Option("--topic", help="Only posts with this topic (repeatable).")] = None,
    source: Annotated[list[str] | None, typer.Option("--source", help="Only these sources (repeatable).")] = None,
    author: Annotated[
        list[str] | None, typer.Option("--author", help="Only these author handles (repeatable).")
    ] = None,
    since: Annotated[str | None, typer.Option(help="Posts created since: 15m, 24h, 7d or an ISO date.")] = None,
    until: Annotated[str | None, typer.Option(help="Posts created before: 1h, 2d or an ISO date.")] = None,
    sort: Annotated[str, typer.Option(help="newest, oldest, most_negative, most_positive or relevance.")] = "newest",
    page: Annotated[int, typer.Option(min=1, help="Page of results.")] = 1,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="Posts per page.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines on stdout, for programs.")] = False,
) -> None:
    """Search enriched posts (Italian and English stemming: 'bolletta' finds 'bollette')."""
    settings = get_settings()
    filters = PostFilters(lang or [], sentiment or [], topic or [], source or [], author or [], since, until)
    request = SearchRequest(query, filters, sort, page, limit, max_terms=settings.api_max_query_terms)
    try:
        request.body()
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    result = run_search(settings, request)
    if as_json:
        out = sys.stdout.buffer
        for post in result.posts:
            out.write(orjson.dumps(post) + b"\n")
        out.flush()
        return
    table = Table("created_at", "source", "lang", "sentiment", "author", "text", title=f"{result.total} posts match")
    for p in result.posts:
        label = p.get("sentiment", {}).get("label", "")
        score = p.get("sentiment", {}).get("compound", 0.0)
        colour = _COLOURS.get(label, "white")
        table.add_row(
            p.get("created_at", "")[:19].replace("T", " "),
            p.get("source", ""),
            p.get("lang", ""),
            f"[{colour}]{label} {score:+.2f}[/]",
            p.get("author", {}).get("handle", ""),
            p.get("text", "")[:140],
        )
    stdout_console.print(table)
