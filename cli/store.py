"""``chronorag store``: placeholder until issue 7 lands."""

from __future__ import annotations

import typer

from chronorag.cli._common import fail


def register(app: typer.Typer) -> None:
    """Add the command to the app."""

    @app.command("store", help="Inspect or check a store. (not available yet: issue 7)",
                 context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def _placeholder() -> None:
        raise fail("`chronorag store` is not available yet (issue 7 is open)")
