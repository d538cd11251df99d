"""``ascolto connect SOURCE``: publish posts from a source to Kafka."""

from __future__ import annotations

import asyncio
import signal
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ascolto.cli.output import console, fail
from ascolto.metrics_endpoint import serve_connector_metrics
from connectors.base import PublishReport, Source, publish_all
from connectors.file import Columns, FileSource
from connectors.generator import DEFAULT_BRANDS, Burst, GeneratorSource
from connectors.live import CheckpointStore, LiveReport, LiveSource, ManyReport, run_live, run_many
from connectors.producer import PostProducer
from core.durations import parse_duration
from core.settings import get_settings

app = typer.Typer(help="Publish posts from a source to Kafka (posts.raw).", no_args_is_help=True)

Rate = Annotated[
    float | None, typer.Option("--rate", min=0.001, help="Posts per second at most (default: as fast as possible).")
]
MetricsPort = Annotated[
    int, typer.Option("--metrics-port", min=0, max=65535, help="Serve Prometheus /metrics on this port (0: off).")
]


def run_source(source: Source, rate: float | None, *, quiet: bool = False, metrics_port: int = 0) -> PublishReport:
    """Publish a source with a progress bar and a one-line summary (and /metrics when a port is given)."""
    settings = get_settings()
    if metrics_port:
        serve_connector_metrics(metrics_port, settings)
    with PostProducer(settings, stage=f"connector:{source.name}") as producer:
        columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
        with Progress(*columns, console=console, disable=quiet, transient=False) as progress:
            task = progress.add_task(f"publishing to {producer.topics.raw}", total=source.estimated_total())
            report = publish_all(source, producer, rate=rate, on_item=lambda: progress.advance(task))
    rate_done = report.published / report.seconds if report.seconds else 0.0
    console.print(
        f"[green]✓[/] {report.published} posts published to {producer.topics.raw}"
        + (f", {report.rejected} rejected to {producer.topics.dlq}" if report.rejected else "")
        + f" in {report.seconds:.1f}s ({rate_done:,.0f}/s)"
    )
    return report


def run_live_source(source: LiveSource, *, metrics_port: int = 0, checkpoint_name: str | None = None) -> LiveReport:
    """Run a long-running source until it ends or Ctrl-C / SIGTERM (then flush, checkpoint, summary).

    ``checkpoint_name`` (default: the source's name) keeps apart several runs of one source (two instances)."""
    settings = get_settings()
    if metrics_port:
        serve_connector_metrics(metrics_port, settings)
    store = CheckpointStore(settings.data_dir / "connectors", checkpoint_name or source.name)

    async def main() -> LiveReport:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        with PostProducer(settings, stage=f"connector:{source.name}") as producer:
            console.print(f"[green]✓[/] listening to {source.name}; checkpoint {store.path} (Ctrl-C to stop)")
            return await run_live(source, producer, store, stop=stop)

    report = asyncio.run(main())
    console.print(
        f"[green]✓[/] {source.name}: {report.published} posts published"
        + (f", {report.rejected} rejected to the dead-letter topic" if report.rejected else "")
        + (f", {report.reconnects} reconnects" if report.reconnects else "")
    )
    return report


@app.callback(invoke_without_command=True)
def connect(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Run every source of this YAML file in one process (see sources.example.yaml)."),
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="With --config: check the file, list what would run, and exit.")
    ] = False,
    metrics_port: MetricsPort = 0,
) -> None:
    """Publish posts from a source to Kafka (posts.raw): one command per source, or several with --config."""
    if ctx.invoked_subcommand is not None:
        if config is not None or check:
            raise typer.BadParameter("give either --config or a source command, not both", param_hint="--config")
        return
    if config is None:
        if check:
            raise typer.BadParameter("--check needs --config FILE", param_hint="--check")
        console.print(ctx.get_help())
        raise typer.Exit(0)
    run_sources_file(config, check=check, metrics_port=metrics_port)


def run_sources_file(path: Path, *, check: bool = False, metrics_port: int = 0) -> ManyReport | None:
    """Run (or with ``check`` only validate and list) the sources of a sources file until Ctrl-C / SIGTERM, or
    until every source ended when none is endless. Exits 1 after the others stopped if any source was refused."""
    from connectors.sources_config import build, load_sources

    settings = get_settings()
    plan = build(load_sources(path), settings, on_ready=lambda url: console.print(f"[green]✓[/] receiving on {url}"))
    for name, line in plan.descriptions.items():
        console.print(f"   {name}: {line}", soft_wrap=True)
    if check:
        console.print(f"[green]✓[/] {path}: {len(plan.descriptions)} sources, ready to run")
        return None
    if metrics_port:
        serve_connector_metrics(metrics_port, settings)
    checkpoints = settings.data_dir / "connectors"

    def refused(name: str, sentence: str) -> None:
        console.print(f"[bold red]error:[/] {name} stopped: {sentence}", soft_wrap=True)

    async def main() -> ManyReport:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        with PostProducer(settings, stage="connector:sources") as producer:
            console.print(
                f"[green]✓[/] listening to {len(plan.descriptions)} sources; checkpoints in {checkpoints} "
                "(Ctrl-C to stop)"
            )
            return await run_many(
                plan.sources, producer, checkpoints, stop=stop, servers=plan.servers, on_refused=refused
            )

    report = asyncio.run(main())
    for name, one in report.reports.items():
        console.print(
            f"[green]✓[/] {name}: {one.published} posts published"
            + (f", {one.rejected} rejected to the dead-letter topic" if one.rejected else "")
            + (f", {one.reconnects} reconnects" if one.reconnects else "")
        )
    if report.refused:
        fail(
            f"{len(report.refused)} of {len(plan.descriptions)} sources stopped: {', '.join(report.refused)}; "
            "see the sentences above, fix them and run again (the others resume from their checkpoints)."
        )
    return report


@app.command("file")
def file(
    path: Annotated[Path, typer.Argument(help="A .jsonl/.ndjson or .csv/.tsv file.")],
    fmt: Annotated[str | None, typer.Option("--format", help="jsonl, csv or tsv (default: from the suffix).")] = None,
    id_column: Annotated[str, typer.Option(help="Column with the post's id in its source.")] = "id",
    text_column: Annotated[str, typer.Option(help="Column with the text.")] = "text",
    created_at_column: Annotated[str, typer.Option(help="Column with the time (ISO 8601 or epoch).")] = "created_at",
    author_column: Annotated[str, typer.Option(help="Column with the author's handle.")] = "author",
    lang_column: Annotated[str, typer.Option(help="Column with a language hint.")] = "lang",
    source: Annotated[str, typer.Option(help="Source name recorded on each post (ids become SOURCE:ID).")] = "file",
    rate: Rate = None,
    metrics_port: MetricsPort = 0,
) -> None:
    """Replay a JSONL or CSV file; rows that cannot be posts go to the dead-letter topic."""
    if fmt not in (None, "jsonl", "csv", "tsv"):
        raise typer.BadParameter("must be jsonl, csv or tsv", param_hint="--format")
    columns = Columns(id_column, text_column, created_at_column, author_column, lang_column)
    run_source(FileSource(path, fmt=fmt, columns=columns, source=source), rate, metrics_port=metrics_port)


def _duration(text: str, option: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from None


@app.command("generator")
def generator(
    count: Annotated[int | None, typer.Option(min=1, help="Posts to generate (default: until Ctrl-C).")] = None,
    rate: Rate = 20.0,
    brands: Annotated[str | None, typer.Option(help="Comma-separated brands or public services to talk about.")] = None,
    italian_share: Annotated[float, typer.Option(min=0, max=1, help="Share of posts in Italian (rest English).")] = 0.7,
    negative_share: Annotated[float, typer.Option(min=0, max=1, help="Share of negative posts outside bursts.")] = 0.35,
    seed: Annotated[int | None, typer.Option(help="Seed for a repeatable run (same seed, same post ids).")] = None,
    burst_after: Annotated[
        int | None, typer.Option(min=0, help="Inject a burst of negative posts after this many posts.")
    ] = None,
    burst_size: Annotated[int, typer.Option(min=1, help="Posts in the burst.")] = 200,
    burst_brand: Annotated[str | None, typer.Option(help="Who the burst is about (default: the first brand).")] = None,
    backdate: Annotated[
        str | None,
        typer.Option(help="Spread the --count posts over this much of the past, ending now (like 30m, 2h, 1d)."),
    ] = None,
    metrics_port: MetricsPort = 0,
) -> None:
    """Synthetic Italian and English posts about brands and public services, with an optional negative burst."""
    brand_list = [b.strip() for b in brands.split(",") if b.strip()] if brands else list(DEFAULT_BRANDS)
    burst = Burst(burst_after, burst_size, burst_brand or brand_list[0]) if burst_after is not None else None
    if backdate is not None and count is None:
        raise typer.BadParameter("needs --count: the posts are spread evenly over the span", param_hint="--backdate")
    source = GeneratorSource(
        count=count,
        rate=rate,
        brands=brand_list,
        italian_share=italian_share,
        negative_share=negative_share,
        seed=seed,
        burst=burst,
        backdate=None if backdate is None else _duration(backdate, "--backdate"),
    )
    console.print(f"generator run {source.run_id} (repeat it with --seed {source.seed})")
    # The generator paces itself, so that bursts can skip the pacing.
    run_source(source, rate=None, metrics_port=metrics_port)


@app.command("bluesky")
def bluesky(
    keyword: Annotated[
        list[str] | None, typer.Option("--keyword", help="Only posts containing this word (any case); repeatable.")
    ] = None,
    handle: Annotated[
        list[str] | None,
        typer.Option("--handle", help="Only posts by this account (resolved to its DID at start); repeatable."),
    ] = None,
    did: Annotated[list[str] | None, typer.Option("--did", help="Only posts by this DID; repeatable.")] = None,
    url: Annotated[
        str, typer.Option(help="The Jetstream /subscribe endpoint.")
    ] = "wss://jetstream2.us-east.bsky.network/subscribe",
    resolver: Annotated[str, typer.Option(help="AppView resolving --handle.")] = "https://public.api.bsky.app",
    metrics_port: MetricsPort = 0,
) -> None:
    """New Bluesky posts from Jetstream, resumed from the last checkpoint (its cursor rewound 5 s)."""
    from connectors.bluesky import BlueskySource

    source = BlueskySource(url=url, keywords=keyword or [], handles=handle or [], dids=did or [], resolver=resolver)
    run_live_source(source, metrics_port=metrics_port)


@app.command("http")
def http(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port of the ingest endpoint.")] = 6080,
    bind: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0 to accept other machines).")] = "127.0.0.1",
    source: Annotated[str, typer.Option(help="Source of posts without ?source=NAME (ids: SOURCE:ID).")] = "http",
    id_column: Annotated[str | None, typer.Option(help="Map items: the key with the id (as connect file).")] = None,
    text_column: Annotated[str | None, typer.Option(help="Map items: the key with the text.")] = None,
    created_at_column: Annotated[str | None, typer.Option(help="Map items: the key with the time.")] = None,
    author_column: Annotated[str | None, typer.Option(help="Map items: the key with the author's handle.")] = None,
    lang_column: Annotated[str | None, typer.Option(help="Map items: the key with a language hint.")] = None,
    metrics_port: MetricsPort = 0,
) -> None:
    """Receive posts pushed to POST /ingest (bearer token or HMAC signature); each answered once Kafka has them.

    With any --*-column option, items that are not RawPosts are mapped through those columns (the others keep
    connect file's defaults: id, text, created_at, author, lang)."""
    from connectors.http_ingest import IngestEndpoint, serve

    given = {"id": id_column, "text": text_column, "created_at": created_at_column, "author": author_column}
    given["lang"] = lang_column
    columns = Columns(**{k: v for k, v in given.items() if v}) if any(given.values()) else None
    settings = get_settings()
    if metrics_port:
        serve_connector_metrics(metrics_port, settings)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        with PostProducer(settings, stage="connector:http") as producer:
            endpoint = IngestEndpoint(settings, producer, default_source=source, columns=columns)
            await serve(endpoint, host=bind, port=port, stop=stop, on_ready=ready)

    def ready(url: str) -> None:
        console.print(f"[green]✓[/] receiving posts on {url} (Ctrl-C to stop)")

    asyncio.run(main())
    console.print("[green]✓[/] ingest endpoint stopped; every post it answered 202 for is in Kafka")


@app.command("rss")
def rss(
    urls: Annotated[list[str], typer.Argument(help="RSS or Atom feed URLs (credentials, if any, in the URL).")],
    every: Annotated[str, typer.Option("--every", help="Poll each feed this often (like 300s, 5m, 1h).")] = "300s",
    once: Annotated[bool, typer.Option("--once", help="Poll each feed once and stop (for cron-style runs).")] = False,
    metrics_port: MetricsPort = 0,
) -> None:
    """Many RSS/Atom feeds, polled with conditional GETs; entries de-duplicated by guid or link across restarts."""
    from connectors.rss import RssSource

    interval = _duration(every, "--every").total_seconds()
    run_live_source(RssSource(urls, every=interval, once=once), metrics_port=metrics_port)


@app.command("mastodon")
def mastodon(
    instance: Annotated[str, typer.Option(help="The instance, like https://mastodon.social.")],
    hashtag: Annotated[str | None, typer.Option(help="Follow this hashtag (without #) instead of a timeline.")] = None,
    timeline: Annotated[
        str,
        typer.Option(
            help="public (the federated timeline), local (the instance's own; with --hashtag too) "
            "or mentions (the token's user is mentioned; needs read:notifications)."
        ),
    ] = "public",
    token_env: Annotated[
        str, typer.Option(help="Environment variable holding the access token (read scope).")
    ] = "ASCOLTO_MASTODON_TOKEN",
    metrics_port: MetricsPort = 0,
) -> None:
    """A Mastodon hashtag, timeline or your mentions, live (streaming API), after a restart backfilled (REST)."""
    import os

    from connectors.mastodon import TIMELINES, MastodonSource

    if timeline not in TIMELINES:
        raise typer.BadParameter(f"must be one of {', '.join(TIMELINES)}", param_hint="--timeline")
    if timeline == "mentions" and hashtag:
        raise typer.BadParameter("not with --timeline mentions; run two connectors", param_hint="--hashtag")
    try:
        source = MastodonSource(
            instance, hashtag=hashtag, timeline=timeline, token=os.environ.get(token_env) or None, token_env=token_env
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--instance") from None
    run_live_source(source, metrics_port=metrics_port, checkpoint_name=source.checkpoint_name)


@app.command("reddit")
def reddit(
    subreddits: Annotated[list[str], typer.Argument(help="Subreddits to follow (without r/); one query for all.")],
    kinds: Annotated[str, typer.Option("--kinds", help="posts, comments or both, comma-separated.")] = "posts,comments",
    every: Annotated[str, typer.Option("--every", help="Poll this often (like 30s, 2m).")] = "30s",
    base_url: Annotated[str, typer.Option(help="Reddit's OAuth API (another only for a proxy or tests).")] = (
        "https://oauth.reddit.com"
    ),
    auth_url: Annotated[str, typer.Option(help="Reddit's token endpoint (another only for a proxy or tests).")] = (
        "https://www.reddit.com/api/v1/access_token"
    ),
    metrics_port: MetricsPort = 0,
) -> None:
    """New posts and comments of subreddits through OAuth (ASCOLTO_REDDIT_CLIENT_ID/_SECRET), within Reddit's budget."""
    from ascolto.cli.output import fail
    from connectors.reddit import RedditSource

    settings = get_settings()
    secret = settings.reddit_client_secret.get_secret_value() if settings.reddit_client_secret else ""
    if not settings.reddit_client_id or not secret:
        fail(
            "Reddit needs an app's credentials: set ASCOLTO_REDDIT_CLIENT_ID and ASCOLTO_REDDIT_CLIENT_SECRET "
            "(create a 'script' app at https://www.reddit.com/prefs/apps) and ASCOLTO_REDDIT_USER_AGENT "
            "to 'platform:appname:version (by /u/yourname)'."
        )
    interval = _duration(every, "--every").total_seconds()
    try:
        source = RedditSource(
            subreddits,
            client_id=settings.reddit_client_id,
            client_secret=secret,
            user_agent=settings.reddit_user_agent,
            kinds=tuple(k.strip() for k in kinds.split(",") if k.strip()),
            every=interval,
            base_url=base_url,
            auth_url=auth_url,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    run_live_source(source, metrics_port=metrics_port, checkpoint_name=source.checkpoint_name)
