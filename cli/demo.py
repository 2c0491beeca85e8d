"""``chronorag demo``: placeholder until issue 2 lands."""

from __future__ import annotations

import typer

from chronorag.cli._common import fail


def register(app: typer.Typer) -> None:
    """Add the command to the app."""

    @app.command("demo", help="Index the embedded demo corpus and answer its questions. (not available yet: issue 2)",
                 context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def _placeholder() -> None:
        raise fail("`chronorag demo` is not available yet (issue 2 is open)")
