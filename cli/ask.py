"""``chronorag ask "QUESTION"``: answer through the pipeline, showing decomposition, evidence and timings."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer

from chronorag.cli._common import console, fail, parse_as_of


def register(app: typer.Typer) -> None:
    """Add the command to the app."""

    @app.command("ask", help="Ask a question through the temporal RAG pipeline.")
    def ask_command(
        question: str = typer.Argument(..., help="The question."),
        store: str | None = typer.Option(
            None, "--store", "-s", help="The store folder (default: $CHRONORAG_STORE; overrides the YAML's)."
        ),
        pipeline_file: str | None = typer.Option(
            None, "--pipeline", help="A pipeline YAML from `chronorag pipeline dump` (default: build one)."
        ),
        as_of: str | None = typer.Option(
            None, "--as-of", help="Ask as of this date (YYYY-MM-DD); default today."
        ),
        preset: str = typer.Option(
            "fast", "--preset", "-p", help="fast, accurate or reading (when building)."
        ),
        top_k: int | None = typer.Option(
            None, "--top-k", help="Passages the ranker keeps and the answer cites."
        ),
        generator: str | None = typer.Option(
            None, "--generator", "-g", help="local, openai or extractive (when building; default: auto)."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the REST /v1/ask JSON object."),
        choices: list[str] | None = typer.Option(
            None, "--choice", "-c", help="An option of a multiple-choice question (repeat, 2 to 8)."
        ),
    ) -> None:
        reference = parse_as_of(as_of)
        if choices is not None and not 2 <= len(choices) <= 8:
            raise fail("give 2 to 8 --choice options")
        pipeline = _pipeline(pipeline_file, store, preset, generator)
        result = _ask(pipeline, question, reference, top_k, choices or None)
        if as_json:
            sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
        else:
            _print(result)


def _pipeline(pipeline_file: str | None, store: str | None, preset: str, generator: str | None) -> Any:
    from chronorag.pipeline import build_pipeline, load

    if pipeline_file is not None:
        if generator is not None or preset != "fast":
            raise fail("--preset and --generator apply when building; with --pipeline, edit the YAML")
        try:
            return load(pipeline_file, store_path=store)
        except FileNotFoundError as exc:
            raise fail(str(exc)) from None
    try:
        return build_pipeline(store, preset=preset, generator=generator)
    except ValueError as exc:
        raise fail(str(exc)) from None


def _ask(
    pipeline: Any, question: str, reference: Any, top_k: int | None, choices: list[str] | None = None
) -> dict[str, Any]:
    from haystack.core.errors import PipelineRuntimeError

    from chronorag.pipeline import ask

    try:
        return ask(pipeline, question, as_of=reference, top_k=top_k, choices=choices)
    except PipelineRuntimeError as exc:
        cause = exc.__cause__ or exc
        raise fail(f"{type(cause).__name__}: {cause}", code=1) from None
    except ValueError as exc:
        raise fail(str(exc)) from None


def _print(result: dict[str, Any]) -> None:
    from rich.panel import Panel
    from rich.table import Table

    constraint = result.get("constraint") or {}
    interval = f"{constraint.get('start') or '-inf'} .. {constraint.get('end') or '+inf'}"
    anchor = constraint.get("anchor")
    anchored = f"\nanchor: {anchor['cue']} {anchor['text']}: {anchor['how']}" if anchor else ""
    console.print(
        Panel(
            f"content: {constraint.get('content')}\n"
            f"relation: {constraint.get('relation')}   interval: {interval}"
            f"   granularity: {constraint.get('granularity')}   ordinal: {constraint.get('ordinal')}\n"
            f"reference time: {constraint.get('reference_time')}{anchored}",
            title="decomposition",
        )
    )
    table = Table(title="evidence", show_lines=False)
    for column in ("#", "title", "date / matched span", "score", "semantic", "temporal", "snippet"):
        table.add_column(column, overflow="fold")
    for rank, citation in enumerate(result.get("citations") or [], start=1):
        table.add_row(
            str(rank),
            citation["title"],
            citation["date"] or (citation.get("matched_span") or {}).get("text") or "",
            _number(citation["score"]),
            _number(citation["semantic_score"]),
            _number(citation["temporal_score"]),
            citation["snippet"],
        )
    console.print(table)
    title = "answer"
    if result.get("abstained"):
        title = "answer: abstained"
    elif result.get("reply_replaced"):
        title = f"answer (the LLM's reply was replaced: {result.get('replacement_reason')})"
    elif (result.get("reader") or {}).get("reader_answer") and not result["reader"]["accepted"]:
        reader = result["reader"]
        title = f"answer (the LLM read {reader['reader_answer']!r}, overruled: {reader['reason']})"
    console.print(Panel(result.get("answer") or "", title=title))
    timings = result.get("timings_ms") or {}
    console.print("timings (ms): " + ", ".join(f"{stage} {value:.0f}" for stage, value in timings.items()))


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"
