"""``chronorag eval``: placeholder until issue 8 lands."""

from __future__ import annotations

import typer

from chronorag.cli._common import fail


def register(app: typer.Typer) -> None:
    """Add the command to the app."""

    @app.command("eval", help="Run the TempRAGEval-style evaluation. (not available yet: issue 8)",
                 context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def _placeholder() -> None:
        raise fail("`chronorag eval` is not available yet (issue 8 is open)")
