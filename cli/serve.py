"""``chronorag serve``: placeholder until issue 5 lands."""

from __future__ import annotations

import typer

from chronorag.cli._common import fail


def register(app: typer.Typer) -> None:
    """Add the command to the app."""

    @app.command("serve", help="Serve the REST API. (not available yet: issue 5)",
                 context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def _placeholder() -> None:
        raise fail("`chronorag serve` is not available yet (issue 5 is open)")
