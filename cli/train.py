"""``chronorag train-expander``: placeholder until issue 6 lands."""

from __future__ import annotations

import typer

from chronorag.cli._common import fail


def register(app: typer.Typer) -> None:
    """Add the command to the app."""

    @app.command("train-expander", help="Train the event expander's cross-attention. (not available yet: issue 6)",
                 context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def _placeholder() -> None:
        raise fail("`chronorag train-expander` is not available yet (issue 6 is open)")
