"""``ascolto worker``: the Faust worker running the enrich and index agents, with its HTTP API."""

from __future__ import annotations

from typing import Annotated

import typer

from ascolto.supervisor import run_workers
from ascolto.worker import run_worker
from core.settings import get_settings


def worker(
    log_level: Annotated[
        str | None, typer.Option(help="debug, info, warning or error (default ASCOLTO_LOG_LEVEL).")
    ] = None,
    processes: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=64,
            help="Worker processes in one consumer group; process i uses ports WEB_PORT+i and METRICS_PORT+i "
            "(default ASCOLTO_WORKER_PROCESSES, 1).",
        ),
    ] = None,
) -> None:
    """Run the stream worker in the foreground until Ctrl-C (SIGTERM stops it cleanly too)."""
    settings = get_settings()
    count = processes or settings.worker_processes
    if count > 1:
        run_workers(settings, count, log_level)  # a supervisor of `count` children, each one worker
        return
    run_worker(settings, log_level)
