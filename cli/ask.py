"""``chronorag ask``: placeholder until issue 4 lands."""

from __future__ import annotations

import typer

from chronorag.cli._common import fail


def register(app: typer.Typer) -> None:
    """Add the command to the app."""

    @app.command("ask", help="Ask a question through the pipeline. (not available yet: issue 4)",
                 context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def _placeholder() -> None:
        raise fail("`chronorag ask` is not available yet (issue 4 is open)")
