"""Small helpers shared by the command modules."""

from __future__ import annotations

from datetime import date

import typer
from rich.console import Console

console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print a clear error on stderr and return the Exit to raise."""
    # Not wrapped here: a command in the message stays whole, to copy and paste (the terminal wraps it).
    err_console.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    return typer.Exit(code)


def parse_as_of(value: str | None) -> date | None:
    """Parse an ``--as-of`` option (ISO or any date dateparser reads) or fail clearly."""
    if not value:
        return None
    from chronorag.temporal.dating import parse_publication_date

    parsed = parse_publication_date(value)
    if parsed is None:
        raise fail(f"--as-of {value!r} is not a date (use YYYY-MM-DD)")
    return parsed
