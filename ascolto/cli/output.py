"""Console output shared by the commands: rich on stderr for people, stdout kept for data."""

from __future__ import annotations

from typing import NoReturn

from rich.console import Console

console = Console(stderr=True, highlight=False)


def fail(message: str) -> NoReturn:
    """Print one clear error sentence and exit 1."""
    console.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    raise SystemExit(1)


#: Results a person asked for (search tables) go to stdout.
stdout_console = Console(highlight=False)
