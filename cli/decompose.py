"""``chronorag decompose``: split questions into main content and time constraint."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

import typer

from chronorag.cli._common import console, err_console, fail, parse_as_of

# The keys of one line of ``--file`` output, in order.
FILE_KEYS = ("question", "content", "relation", "start", "end", "granularity", "ordinal", "reference_time")


def register(app: typer.Typer) -> None:
    """Add the command to the app."""

    @app.command("decompose", help="Decompose a question into its main content and time constraint.")
    def decompose_command(
        question: str | None = typer.Argument(None, help="The question (omit with --file)."),
        file: Path | None = typer.Option(
            None,
            "--file",
            "-f",
            help="Read one question per line ('-' for stdin); write one JSON object per line.",
        ),
        as_of: str | None = typer.Option(None, "--as-of", help="Reference time (YYYY-MM-DD); default today."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    ) -> None:
        reference = parse_as_of(as_of)
        if file is not None and question is not None:
            raise fail("give either a QUESTION or --file, not both")
        if file is not None:
            raise typer.Exit(_decompose_file(file, reference))
        if question is None:
            raise fail(
                'give a QUESTION (chronorag decompose "Who coached Chelsea before 2011?") or --file FILE'
            )
        constraint = _decompose_or_fail(question, reference)
        if as_json:
            sys.stdout.write(json.dumps(constraint, ensure_ascii=False) + "\n")
        else:
            _print_table(constraint)


def _decompose_or_fail(question: str, reference: date | None) -> dict[str, Any]:
    from chronorag.temporal import decompose

    try:
        return decompose(question, as_of=reference).to_dict()
    except ValueError as exc:  # EmptyQuestionError, QuestionTooLongError
        raise fail(str(exc)) from None


def _decompose_file(path: Path, reference: date | None) -> int:
    """Write one JSON line per question line; returns the exit code (1 when a line failed)."""
    from chronorag.temporal import decompose

    try:
        lines = (
            sys.stdin.read().splitlines()
            if str(path) == "-"
            else path.read_text(encoding="utf-8").splitlines()
        )
    except FileNotFoundError:
        raise fail(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"cannot read {path}: {exc}") from None
    failed = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue  # blank lines are separators, not questions
        try:
            row = decompose(line, as_of=reference).to_dict()
            record = {key: row[key] for key in FILE_KEYS}
        except ValueError as exc:
            failed += 1
            err_console.print(f"[bold red]error:[/] line {number}: {exc}")
            record = {key: None for key in FILE_KEYS} | {"question": line, "error": str(exc)}
        sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
    return 1 if failed else 0


def _print_table(row: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title="Decomposed question", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for label, key in (("question", "question"), ("content", "content"), ("relation", "relation"),
                       ("start", "start"), ("end", "end"), ("granularity", "granularity"),
                       ("ordinal", "ordinal"), ("nth", "nth"), ("time phrase", "time_text"),
                       ("reference time", "reference_time")):  # fmt: skip
        value = row.get(key)
        table.add_row(label, "-" if value is None else str(value))
    anchor = row.get("anchor")
    if anchor:
        table.add_row("event anchor", f"{anchor['cue']} {anchor['text']} ({anchor['how']})")
    console.print(table)
