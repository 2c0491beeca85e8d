"""``chronorag pipeline dump --store DIR [--preset fast|accurate] [-O KEY=VALUE] [--out FILE]``: Haystack
YAML."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from chronorag.cli._common import err_console, fail

pipeline_app = typer.Typer(help="Build and export the Haystack pipeline.", no_args_is_help=True)


@pipeline_app.command("dump", help="Write the pipeline as Haystack YAML (stdout, or --out FILE).")
def dump(
    store: str | None = typer.Option(
        None, "--store", "-s", help="The store folder, written as given (default: $CHRONORAG_STORE)."
    ),
    preset: str = typer.Option("fast", "--preset", "-p", help="fast, accurate or reading."),
    generator: str | None = typer.Option(
        None, "--generator", "-g", help="auto, local, openai or extractive (default: the preset's, auto)."
    ),
    top_k: int | None = typer.Option(None, "--top-k", help="Passages kept by the ranker."),
    options: list[str] = typer.Option(
        [],
        "--option",
        "-O",
        help="Any build option as KEY=VALUE (a YAML value), e.g. answer_mode=read or "
        "llm_model=qwen2.5-coder-1.5b; repeatable. `chronorag.pipeline.builder.OPTIONS` lists them.",
    ),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write to this file instead of stdout."),
) -> None:
    from chronorag.pipeline import build_pipeline, dumps
    from chronorag.pipeline.builder import parse_option_pairs

    try:
        extra = parse_option_pairs(options)
        pipeline = build_pipeline(store, preset=preset, generator=generator, top_k=top_k, **extra)
    except ValueError as exc:
        raise fail(str(exc)) from None
    text = dumps(pipeline)
    if out is None:
        sys.stdout.write(text)
        return
    out.write_text(text, encoding="utf-8")
    err_console.print(f"wrote {out}")


def register(app: typer.Typer) -> None:
    """Add the ``pipeline`` command group to the app."""
    app.add_typer(pipeline_app, name="pipeline")
