"""The ``chronorag`` command line: one Typer app; each command group lives in its own module."""

from __future__ import annotations

import importlib
import logging
import os

import typer

app = typer.Typer(
    name="chronorag",
    help="Temporal-aware retrieval-augmented question answering.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

# Each module defines register(app); keeping them apart lets each stage own its commands.
_COMMAND_MODULES = ("decompose", "index", "store", "ask", "pipeline", "serve", "eval", "train", "demo")


def _register_all() -> None:
    for name in _COMMAND_MODULES:
        module = importlib.import_module(f"chronorag.cli.{name}")
        module.register(app)


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log at INFO level.")) -> None:
    level = logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    # Some libraries (bm25s) set their own loggers to DEBUG on import: the handler filters by level too.
    for handler in logging.getLogger().handlers:
        handler.setLevel(level)


def main() -> None:
    """Entry point of the ``chronorag`` script."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
    _register_all()
    app()


if __name__ == "__main__":
    main()
