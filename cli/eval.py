"""``chronorag eval DATASET --out DIR``: every system side by side on one data set, with a report."""

from __future__ import annotations

from pathlib import Path

import typer

from chronorag.cli._common import console, fail


def _parse_ks(value: str) -> list[int]:
    try:
        ks = sorted({int(part) for part in value.split(",") if part.strip()})
    except ValueError as exc:
        raise fail(f"--k {value!r} must be comma-separated integers such as 1,5,10,20") from exc
    if not ks or ks[0] < 1:
        raise fail("--k needs positive cut-offs such as 1,5,10,20")
    return ks


def register(app: typer.Typer) -> None:
    """Add the command to the app."""

    @app.command(
        "eval",
        help="Evaluate retrieval (and answers) on timeqa, realtimeqa, temprageval, situatedqa or timebench.",
    )
    def evaluate(
        dataset: str = typer.Argument(..., help="timeqa, realtimeqa, temprageval, situatedqa or timebench."),
        out: Path = typer.Option(..., "--out", "-o", help="Output folder (report.json, report.md, plots)."),
        data_dir: Path = typer.Option(
            Path("../shared/data"), "--data-dir", help="The evaluation data folder."
        ),
        store: Path = typer.Option(None, "--store", help="Store folder to use (reused when it exists)."),
        pipeline: Path = typer.Option(
            None,
            "--pipeline",
            help="Pipeline YAML of the chronorag system, retrieval and answers (default: the fast preset).",
        ),
        ks: str = typer.Option("1,5,10,20", "--k", help="Cut-offs, comma-separated."),
        limit: int = typer.Option(
            None, "--limit", help="A seeded sample of this many questions (RealTimeQA: the first, by week)."
        ),
        systems: str = typer.Option(None, "--systems", help="Comma-separated systems (default: all six)."),
        ablations: bool = typer.Option(False, "--ablations", help="Add the ablations of chronorag."),
        no_generate: bool = typer.Option(False, "--no-generate", help="Retrieval only: skip the LLM."),
        seed: int = typer.Option(0, "--seed", help="Seed of sampling and bootstrap."),
        max_pages: int = typer.Option(
            None,
            "--max-pages",
            help="TimeQA: corpus of the questions' pages plus distractors, this many pages in all.",
        ),
        corpus: Path = typer.Option(None, "--corpus", help="TempRAGEval: passages (JSONL or psgs_w100 TSV)."),
        csv_path: Path = typer.Option(None, "--csv", help="TempRAGEval: the CSV (default: the draft)."),
        candidates: int = typer.Option(
            20, "--candidates", help="Passages each first stage hands a reranker."
        ),
        no_progress: bool = typer.Option(False, "--no-progress", help="Hide progress bars."),
        distractors: list[Path] = typer.Option(
            None,
            "--distractors",
            help="A corpus added to the data set's own, making it mixed (TimeQA pages, JSONL); repeatable.",
        ),
        split: str = typer.Option("dev", "--split", help="TimeQA: dev (reported) or train (for tuning)."),
        distractor_docs: int = typer.Option(
            None, "--distractor-docs", help="A seeded sample of this many distractor documents (pages)."
        ),
    ) -> None:
        from chronorag.evals.runner import DATASETS, EvalConfig, run_evaluation
        from chronorag.evals.systems import SYSTEMS, SystemSuite, UnknownSystemError
        from chronorag.models import configure_threads

        if dataset not in DATASETS:
            raise fail(f"unknown data set {dataset!r}; choose from {', '.join(DATASETS)}")
        chosen = [name.strip() for name in systems.split(",") if name.strip()] if systems else list(SYSTEMS)
        try:
            SystemSuite.check(chosen)
        except UnknownSystemError as exc:
            raise fail(str(exc)) from exc
        if corpus is not None and not corpus.exists():
            raise fail(f"--corpus {corpus} does not exist")
        for path in distractors or []:
            if not path.exists():
                raise fail(f"--distractors {path} does not exist")
        if distractor_docs is not None and (distractor_docs < 1 or not distractors):
            raise fail("--distractor-docs needs a positive count and at least one --distractors corpus")
        if not data_dir.is_dir() and not (dataset == "temprageval" and csv_path):
            raise fail(f"--data-dir {data_dir} is not a folder (the shared evaluation data)")
        configure_threads()
        config = EvalConfig(
            dataset=dataset,
            out_dir=out,
            data_dir=data_dir,
            store=store,
            ks=_parse_ks(ks),
            limit=limit,
            systems=chosen,
            ablations=ablations,
            generate=not no_generate,
            seed=seed,
            max_pages=max_pages,
            corpus=corpus,
            csv_path=csv_path,
            candidates=candidates,
            pipeline_yaml=pipeline,
            progress=not no_progress,
            distractors=list(distractors or []),
            distractor_docs=distractor_docs,
            split=split,
        )
        try:
            report = run_evaluation(config)
        except (FileNotFoundError, ValueError) as exc:
            raise fail(str(exc)) from exc
        console.print(
            f"[bold]{report['dataset']}[/]: {report['n_questions']} questions -> {out / 'report.md'}"
        )
        console.print((out / "report.md").read_text(encoding="utf-8").split("\n## ", 1)[0])
