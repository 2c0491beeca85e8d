"""``chronorag decompose``: placeholder until issue 3 lands."""

from __future__ import annotations

import typer

from chronorag.cli._common import fail


def register(app: typer.Typer) -> None:
    """Add the command to the app."""

    @app.command("decompose", help="Decompose a question into its main content and time constraint. (not available yet: issue 3)",
                 context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def _placeholder() -> None:
        raise fail("`chronorag decompose` is not available yet (issue 3 is open)")
