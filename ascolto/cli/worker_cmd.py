"""``ascolto worker``: the Faust worker running the enrich and index agents, with its HTTP API."""

from __future__ import annotations

from typing import Annotated

import typer

from ascolto.worker import run_worker
from core.settings import get_settings


def worker(
    log_level: Annotated[
        str | None, typer.Option(help="debug, info, warning or error (default ASCOLTO_LOG_LEVEL).")
    ] = None,
) -> None:
    """Run the stream worker in the foreground until Ctrl-C (SIGTERM stops it cleanly too)."""
    run_worker(get_settings(), log_level)
