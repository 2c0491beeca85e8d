"""``chronorag demo``: index the embedded TimeQA slice into a temporary store and answer its questions."""

from __future__ import annotations

import json
import tempfile
from importlib.resources import files
from pathlib import Path
from typing import Any

import typer
from rich.panel import Panel
from rich.table import Table

from chronorag.cli._common import console, fail
from chronorag.pipeline.evidence import normalize_answer


def demo_dir() -> Path:
    """The folder of the demo corpus shipped inside the package."""
    return Path(str(files("chronorag") / "data" / "demo"))


def holds_gold(answer: str, golds: list[str]) -> bool:
    """
    Whether the answer contains one of the gold answers, both normalised by the one answer normaliser
    ("University of Arizona , Tucson" is in "the University of Arizona, Tucson").

    :param answer: the answer given.
    :param golds: the gold answers.
    :returns: whether one is contained.
    """
    given = normalize_answer(answer)
    return any(gold and gold in given for gold in map(normalize_answer, golds))


def load_demo_questions() -> list[dict[str, Any]]:
    """The demo questions with their gold answers (from TimeQA, BSD-3-Clause)."""
    with open(demo_dir() / "questions.jsonl", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def build_demo_store(store_dir: str, progress: bool = True) -> int:
    """Index the demo pages into ``store_dir``.

    :param store_dir: the store folder (created).
    :param progress: show the ingestion progress bar.
    :returns: the number of passages in the store.
    """
    from chronorag.indexers.ingest import ingest, open_store_for, sentence_transformer_embedder

    embed, model_id, dimension = sentence_transformer_embedder()
    store = open_store_for(store_dir, model_id, dimension)
    report = ingest(
        [str(demo_dir() / "timeqa_demo_pages.json")], store, embed, fmt="timeqa", progress=progress
    )
    count = store.count_documents()
    store.close()
    if report.rejected:
        console.print(f"[yellow]{len(report.rejected)} demo records rejected[/]")
    return count


def _print_result(number: int, item: dict[str, Any], result: dict[str, Any]) -> bool:
    constraint = result["constraint"]
    console.rule(f"[bold]Question {number}[/]")
    console.print(f"[bold]{item['question']}[/]")
    console.print(
        f"content: [cyan]{constraint['content']}[/]  relation: [magenta]{constraint['relation']}[/]  "
        f"interval: {constraint['start']} .. {constraint['end']} ({constraint['granularity']})  "
        f"ordinal: {constraint['ordinal']}  reference: {constraint['reference_time']}"
    )
    table = Table(show_lines=False, expand=True)
    for column in ("#", "title", "date / matched span", "score (sem, temp)", "snippet"):
        table.add_column(column, overflow="fold")
    for rank, citation in enumerate(result["citations"][:3], start=1):
        scores = (
            f"{_fmt(citation.get('score'))} ({_fmt(citation.get('semantic_score'))}, "
            f"{_fmt(citation.get('temporal_score'))})"
        )
        table.add_row(
            str(rank),
            citation.get("title") or "",
            _when(citation),
            scores,
            (citation.get("snippet") or "")[:110],
        )
    console.print(table)
    answer = result["answer"]
    hit = holds_gold(answer, item["answers"])
    console.print(
        Panel(
            f"{answer}\n\n[dim]gold: {' | '.join(item['answers'])} -> "
            f"{'[green]contains gold[/]' if hit else '[red]misses gold[/]'}[/]",
            title="answer",
        )
    )
    return hit


def _when(citation: dict[str, Any]) -> str:
    """Publication date when known, else the time span the ranker matched."""
    if citation.get("date"):
        return str(citation["date"])
    span = citation.get("matched_span") or {}
    return str(span.get("text") or "")


def _fmt(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, int | float) else ""


def run_demo(store_dir: str | None = None, generator: str = "local", preset: str = "fast") -> dict[str, Any]:
    """Index the demo corpus, answer every demo question and print the results.

    :param store_dir: where to build the store; a temporary folder when ``None``.
    :param generator: ``local`` (the embedded LLM), ``openai`` or ``extractive``.
    :param preset: the pipeline preset.
    :returns: ``{"questions", "answers_with_gold"}``.
    """
    from chronorag.pipeline import ask, build_pipeline

    with tempfile.TemporaryDirectory(prefix="chronorag-demo-") as tmp:
        store_dir = store_dir or str(Path(tmp) / "store")
        console.print(f"[bold]Indexing the demo corpus[/] (20 TimeQA pages) into {store_dir}")
        passages = build_demo_store(store_dir)
        console.print(
            f"{passages} passages indexed; building the '{preset}' pipeline with the {generator} generator"
        )
        pipeline = build_pipeline(store_dir, preset=preset, generator=generator)
        pipeline.warm_up()
        questions = load_demo_questions()
        hits = sum(
            _print_result(n, item, ask(pipeline, item["question"]))
            for n, item in enumerate(questions, start=1)
        )
    console.rule()
    console.print(f"[bold]{hits} of {len(questions)} answers contain the gold answer[/]")
    return {"questions": len(questions), "answers_with_gold": hits}


def register(app: typer.Typer) -> None:
    """Add ``demo`` to the app."""

    @app.command("demo", help="Index the embedded demo corpus (20 TimeQA pages) and answer its questions.")
    def demo(
        store: str = typer.Option(
            None, "--store", help="Build the store here instead of a temporary folder."
        ),
        generator: str = typer.Option("local", "--generator", help="local | openai | extractive"),
        preset: str = typer.Option("fast", "--preset", help="fast | accurate | reading"),
    ) -> None:
        from chronorag.models import ModelNotInstalledError, configure_threads

        configure_threads()
        try:
            run_demo(store, generator=generator, preset=preset)
        except ModelNotInstalledError as exc:
            raise fail(str(exc)) from exc
