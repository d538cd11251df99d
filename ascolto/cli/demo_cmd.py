"""``ascolto demo``: the whole pipeline on the local stack, with a negative burst to look at."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from elastic_transport import ConnectionError as TransportConnectionError
from elasticsearch import ApiError

from ascolto.cli.connect_cmd import run_source
from ascolto.cli.output import console
from ascolto.cli.stack_cmd import up
from ascolto.launcher import BackgroundWorker
from connectors.generator import DEFAULT_BRANDS, Burst, GeneratorSource
from core.errors import AscoltoError
from core.settings import Settings, get_settings
from elastic.client import es_client, unreachable


def demo(
    posts: Annotated[int, typer.Option(min=10, help="Regular posts to generate.")] = 2000,
    rate: Annotated[float, typer.Option(min=1, help="Posts per second.")] = 200.0,
    burst: Annotated[int, typer.Option(min=0, help="Negative posts in the burst about one brand (0: none).")] = 300,
    seed: Annotated[int | None, typer.Option(help="Seed for the generator.")] = None,
    processes: Annotated[
        int | None,
        typer.Option(min=1, max=64, help="Worker processes in one group (default ASCOLTO_WORKER_PROCESSES, 1)."),
    ] = None,
) -> None:
    """Start Kafka + Elasticsearch, a worker and a generator; wait until the posts are searchable."""
    settings = get_settings()
    up(only=None)
    proc = BackgroundWorker(settings, processes or settings.worker_processes)
    with console.status("starting the worker..."):
        started = proc.start()
    what = f"{proc.processes} worker processes" if proc.processes > 1 else "worker"
    console.print(f"[green]✓[/] {what} {'started' if started else 'already running'} (log: {proc.log_file})")

    brand = DEFAULT_BRANDS[2]
    source = GeneratorSource(
        count=posts, rate=rate, seed=seed, burst=Burst(after=posts // 2, size=burst, brand=brand) if burst else None
    )
    run_source(source, rate=None)
    expected = posts + burst
    prefix = f"generator:{source.run_id}-"
    with console.status(f"waiting until all {expected} posts are searchable in Elasticsearch..."):
        found = _wait_searchable(settings, prefix, expected, proc)
    console.print(f"[green]✓[/] {found} posts of this run are searchable in index {settings.es_index}")
    _summary(settings, prefix, brand, proc.status().processes)


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


def _summary(settings: Settings, prefix: str, brand: str, processes: int) -> None:
    run = {"prefix": {"id": prefix}}
    for label in ("negative", "neutral", "positive"):
        n = _count(settings, {"bool": {"filter": [run, {"term": {"sentiment.label": label}}]}})
        console.print(f"   {label:>8}: {n}")
    console.print(
        "\n[bold]Where to look[/]\n"
        f"  search:   ascolto search '{brand.split()[0]}' --sentiment negative --since 1h\n"
        "            ascolto search 'bolletta OR bill' --lang it --json\n"
        f"  API:      http://127.0.0.1:{settings.web_port}/api/stats?since=1h\n"
        f"            http://127.0.0.1:{settings.web_port}/api/search?q=disservizio&sentiment=negative\n"
        f"  metrics:  {_metrics_urls(settings.metrics_port, processes)}\n"
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
