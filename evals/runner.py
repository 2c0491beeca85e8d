"""``chronorag eval``: load a data set, build (or reuse) its store, run every system, score, report.

Retrieval runs once per question and system and is cached per question (``per_question/{system}.jsonl``),
so an interrupted run resumes where it stopped and a re-run with the same settings only re-reports.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from chronorag.evals.records import ResultCache, retrieval_metrics, score_ranking
from chronorag.evals.systems import ABLATIONS, DEFAULT_CANDIDATES, SYSTEMS, SystemSuite
from chronorag.evals.types import EvalDataset, EvalQuestion

logger = logging.getLogger(__name__)

RETRIEVAL_DATASETS = ("timeqa", "realtimeqa", "temprageval")
DECOMPOSITION_DATASETS = ("situatedqa", "timebench")
DATASETS = RETRIEVAL_DATASETS + DECOMPOSITION_DATASETS

__all__ = ["DATASETS", "EvalConfig", "run_evaluation", "select_questions"]


@dataclass
class EvalConfig:
    """Settings of one evaluation run.

    :param dataset: one of :data:`DATASETS`.
    :param out_dir: where reports, per-question results and plots go.
    :param data_dir: the shared data folder.
    :param store: the store folder (reused when it exists); ``None``: one under ``out_dir`` per corpus.
    :param ks: the cut-offs.
    :param limit: evaluate a seeded sample of this many questions.
    :param systems: systems to run (default: all six).
    :param ablations: add the ablations.
    :param generate: run the LLM for EM/F1/accuracy.
    :param seed: seed of sampling and bootstrap.
    :param max_pages: TimeQA: restrict the corpus to the questions' pages plus distractors, this many in all.
    :param corpus: TempRAGEval: a JSONL or psgs_w100 TSV corpus.
    :param csv_path: TempRAGEval: the CSV (default: the draft under ``data_dir``).
    :param candidates: passages each first stage hands to a reranker.
    :param bootstrap: bootstrap resamples for the confidence intervals.
    :param pipeline_yaml: a pipeline YAML: the ``chronorag`` system (retrieval and answers); ``None``: the
        ``fast`` preset, as ``chronorag ask``/``serve`` build it.
    :param progress: show a progress bar.
    :param distractors: corpora added to the data set's own (a mixed corpus: TimeQA pages, JSONL, ...).
    :param distractor_docs: a seeded sample of this many distractor documents (``None``: all of them).
    :param split: TimeQA: ``dev`` (reported) or ``train`` (for tuning).
    """

    dataset: str
    out_dir: Path
    data_dir: Path = Path("../shared/data")
    store: Path | None = None
    ks: list[int] = field(default_factory=lambda: [1, 5, 10, 20])
    limit: int | None = None
    systems: list[str] = field(default_factory=lambda: list(SYSTEMS))
    ablations: bool = False
    generate: bool = True
    seed: int = 0
    max_pages: int | None = None
    corpus: Path | None = None
    csv_path: Path | None = None
    candidates: int = DEFAULT_CANDIDATES
    bootstrap: int = 1000
    pipeline_yaml: Path | None = None
    progress: bool = True
    distractors: list[Path] = field(default_factory=list)
    distractor_docs: int | None = None
    split: str = "dev"

    @property
    def all_systems(self) -> list[str]:
        """The systems to run, ablations included when asked for."""
        return list(dict.fromkeys(self.systems + (list(ABLATIONS) if self.ablations else [])))


def load_dataset(config: EvalConfig) -> EvalDataset:
    """Load the configured data set.

    :param config: the run's settings.
    :returns: the data set.
    :raises ValueError: for an unknown data set name.
    """
    from chronorag.evals import loaders, temprageval

    name = config.dataset
    if name == "timeqa":
        return loaders.load_timeqa(config.data_dir, config.split)
    if name == "realtimeqa":
        return loaders.load_realtimeqa(config.data_dir, weeks=_first_weeks(config))
    if name == "situatedqa":
        return loaders.load_situatedqa(config.data_dir)
    if name == "timebench":
        return loaders.load_timebench(config.data_dir)
    if name == "temprageval":
        csv_path = config.csv_path or config.data_dir / "temprageval_draft" / "TempRAGEval_draft_134rows.csv"
        return temprageval.load_temprageval(csv_path, config.corpus)
    raise ValueError(f"unknown data set {name!r}; choose from {', '.join(DATASETS)}")


def _first_weeks(config: EvalConfig) -> set[str] | None:
    """RealTimeQA with ``--limit``: the first weeks holding that many questions (so only they are read)."""
    if config.limit is None:
        return None
    weeks: set[str] = set()
    total = 0
    for file in sorted((Path(config.data_dir) / "realtimeqa" / "qa").glob("*/*_qa.jsonl")):
        if total >= config.limit:
            break
        weeks.add(file.name.split("_")[0])
        total += sum(1 for line in file.read_text(encoding="utf-8").splitlines() if line.strip())
    return weeks or None


def select_questions(questions: list[EvalQuestion], limit: int | None, seed: int) -> list[EvalQuestion]:
    """A seeded sample of ``limit`` questions, in their original order (all of them without a limit).

    :param questions: every question.
    :param limit: how many to keep.
    :param seed: the sampling seed.
    :returns: the selected questions.
    """
    if limit is None or limit >= len(questions):
        return list(questions)
    chosen = set(_permutation(len(questions), seed)[:limit])
    return [question for index, question in enumerate(questions) if index in chosen]


def _permutation(count: int, seed: int) -> list[int]:
    order = list(range(count))
    random.Random(seed).shuffle(order)
    return order


def processing_order(questions: list[EvalQuestion], seed: int) -> list[EvalQuestion]:
    """The seeded order questions are processed in: any prefix is a seeded sample, so an interrupted full
    run's cached results serve a later ``--limit`` run with the same seed (``--limit N`` = first N).

    :param questions: the selected questions.
    :param seed: the seed.
    :returns: the questions, permuted.
    """
    return [questions[index] for index in _permutation(len(questions), seed)]


# --- corpus and store -----------------------------------------------------------------------------------


def corpus_groups(
    config: EvalConfig, dataset: EvalDataset, questions: list[EvalQuestion]
) -> list[tuple[list[str], str]]:
    """The data set's corpus, then the distractors, each as ``(files, format)`` to ingest in turn.

    :param config: the run's settings.
    :param dataset: the loaded data set.
    :param questions: the selected questions.
    :returns: the groups; the first is the data set's own (its files may be empty: an existing store).
    """
    from chronorag.evals.loaders import distractor_inputs

    groups = [corpus_inputs(config, dataset, questions)]
    if config.distractors:
        groups += distractor_inputs(
            config.distractors, config.distractor_docs, config.seed, config.out_dir / "corpus"
        )
    return groups


def corpus_inputs(
    config: EvalConfig, dataset: EvalDataset, questions: list[EvalQuestion]
) -> tuple[list[str], str]:
    """The files to ingest and their format, restricted to what a limited run needs.

    :param config: the run's settings.
    :param dataset: the loaded data set.
    :param questions: the selected questions.
    :returns: ``(files, format)``; TempRAGEval without ``--corpus`` uses ``--store`` as it is (no files),
        or, without a store either, the SMOKE corpus.
    """
    from chronorag.evals import loaders, temprageval

    work = config.out_dir / "corpus"
    if dataset.name == "timeqa":
        files = loaders.write_timeqa_subset(
            dataset, questions, work / "timeqa_pages.json", config.max_pages, config.seed
        )
        return files, "timeqa"
    if dataset.name == "realtimeqa":
        if config.limit is None:
            return list(dataset.corpus_files), "realtimeqa"
        weeks = {question.tags["week"] for question in questions}
        files = [f for f in dataset.corpus_files if Path(f).name.split("_")[0] in weeks]
        return files or list(dataset.corpus_files), "realtimeqa"
    if config.corpus is not None:
        return [str(config.corpus)], temprageval.corpus_format(config.corpus)
    if config.store is not None:
        return [], "store"  # the user's store already holds the TempRAGEval corpus: nothing to ingest
    smoke = work / "temprageval_smoke_corpus.jsonl"
    temprageval.write_smoke_corpus(dataset.questions, dataset.stats["csv"], smoke)
    dataset.stats["smoke_corpus"] = True
    return [str(smoke)], "jsonl"


def build_store(config: EvalConfig, groups: list[tuple[list[str], str]]) -> tuple[Path, dict[str, Any]]:
    """Open the store (reused when it exists) and ingest the corpus groups in turn; unchanged documents
    are skipped, so passage embeddings are computed once. Passages are embedded as ``chronorag index``
    embeds them (its ``auto`` backend: OpenVINO int8 where the CPU has it), so the evaluation measures
    the stores users build.

    :param config: the run's settings.
    :param groups: ``(files, format)`` pairs from :func:`corpus_groups`.
    :returns: the store folder and the ingestion report (one per group when there are several).
    """
    from chronorag.indexers.ingest import ingest, open_store_for
    from chronorag.indexers.onnx_embedder import ingestion_embedder

    files = [file for group_files, _ in groups for file in group_files]
    store_path = config.store or config.out_dir / "stores" / f"{config.dataset}-{_fingerprint(files)}"
    store_path.parent.mkdir(parents=True, exist_ok=True)
    if not files:
        if not (store_path / "store.sqlite").exists():
            raise FileNotFoundError(f"--store {store_path} holds no store; index the corpus or pass --corpus")
        return store_path, {"documents_seen": 0, "note": "existing store used as it is"}
    embed, model_id, dim, description = ingestion_embedder()
    logger.info("embedding the corpus with %s", description)
    store = open_store_for(str(store_path), model_id, dim)
    reports = [
        ingest(group_files, store, embed, fmt=fmt, progress=config.progress).to_dict()
        for group_files, fmt in groups
        if group_files
    ]
    store.close()
    report = reports[0] if len(reports) == 1 else {"groups": reports}
    from chronorag.indexers.events import EventIndex

    # The pipeline's expander reads the store's event index; loading builds it when it is missing or
    # older than the store: once, here, not inside the first question's timing.
    len(EventIndex(str(store_path)))
    return store_path, report


def _fingerprint(files: list[str]) -> str:
    # A cached store is re-indexed in place where the documents' content hashes changed (a new reading of
    # time among them: SourceDocument.content_hash).
    digest = hashlib.sha1()
    for file in sorted(files):
        stat = Path(file).stat()
        digest.update(f"{Path(file).resolve()}:{stat.st_size}:{int(stat.st_mtime)}".encode())
    return digest.hexdigest()[:10]


# --- the run ---------------------------------------------------------------------------------------


def run_evaluation(config: EvalConfig) -> dict[str, Any]:
    """Run the evaluation and write ``report.json``, ``report.md``, per-question JSONL and plots.

    :param config: the run's settings.
    :returns: the report (as written to ``report.json``).
    """
    from chronorag.evals.report import write_reports

    SystemSuite.check(config.all_systems)
    config.out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    dataset = load_dataset(config)
    if dataset.name == "realtimeqa" and config.limit is not None:
        # Whole consecutive weeks: a limited corpus (those weeks' articles) still pools several weeks,
        # so leak@k keeps its meaning; a random sample would touch every week and need the full corpus.
        questions = dataset.questions[: config.limit]
    else:
        questions = select_questions(dataset.questions, config.limit, config.seed)
    if dataset.name in DECOMPOSITION_DATASETS:
        from chronorag.evals.decomposition import run_decomposition

        results = run_decomposition(config, dataset, questions)
    else:
        results = _run_retrieval(config, dataset, questions)
    results["seconds"] = round(time.perf_counter() - started, 1)
    return write_reports(config, dataset, questions, results)


def _run_retrieval(config: EvalConfig, dataset: EvalDataset, questions: list[EvalQuestion]) -> dict[str, Any]:
    groups = corpus_groups(config, dataset, questions)
    files = [file for group_files, _ in groups for file in group_files]
    store_path, ingest_report = build_store(config, groups)
    suite = SystemSuite(
        str(store_path),
        candidates=config.candidates,
        pipeline_yaml=str(config.pipeline_yaml) if config.pipeline_yaml else None,
    )
    caches = _open_caches(config, store_path)
    _retrieve_all(config, dataset, questions, suite, caches)
    per_system = {
        name: {question.qid: caches[name].records[question.qid] for question in questions}
        for name in config.all_systems
    }
    for records in per_system.values():
        # Scored again from the cached ranks: a re-run may ask for other cut-offs (up to the cached k).
        for question in questions:
            records[question.qid]["metrics"] = retrieval_metrics(
                dataset.name, question, records[question.qid], config.ks
            )
    generation = None
    if config.generate:
        from chronorag.evals.generation import run_generation

        generation = run_generation(config, dataset, questions, per_system.get("chronorag"), suite)
    return {
        "kind": "retrieval",
        "store": str(store_path),
        "corpus_files": files,
        "ingest": ingest_report,
        "records": per_system,
        "generation": generation,
    }


def _open_caches(config: EvalConfig, store_path: Path) -> dict[str, ResultCache]:
    folder = config.out_dir / "per_question"
    settings = {
        "dataset": config.dataset,
        "split": config.split,
        "pipeline": str(config.pipeline_yaml or ""),
        "store": str(store_path),
        "k": max(config.ks),
        "candidates": config.candidates,
        "corpus": str(config.corpus or ""),
    }
    settings_file = folder / "settings.json"
    previous = json.loads(settings_file.read_text()) if settings_file.exists() else None
    if previous != settings:
        # Other settings, other rankings: cached records (every system's, the replies too) would mix runs.
        for stale in folder.glob("*.jsonl"):
            stale.unlink()
        folder.mkdir(parents=True, exist_ok=True)
        settings_file.write_text(json.dumps(settings, indent=2))
    return {name: ResultCache(folder, name) for name in config.all_systems}


def _retrieve_all(
    config: EvalConfig,
    dataset: EvalDataset,
    questions: list[EvalQuestion],
    suite: SystemSuite,
    caches: dict[str, ResultCache],
) -> None:
    from tqdm import tqdm

    k = max(config.ks)
    ordered = processing_order(questions, config.seed)
    todo = [q for q in ordered if any(q.qid not in caches[name].records for name in config.all_systems)]
    bar = tqdm(
        total=len(questions),
        initial=len(questions) - len(todo),
        unit="q",
        desc=f"eval {dataset.name}",
        disable=not config.progress,
        file=sys.stderr,
        dynamic_ncols=True,
    )
    with bar:
        for question in todo:
            query = suite.prepare(question)
            for name in config.all_systems:
                if question.qid in caches[name].records:
                    continue
                began = time.perf_counter()
                documents = suite.retrieve(name, query, k)
                record = score_ranking(question, documents)
                record.update(
                    {
                        "qid": question.qid,
                        "system": name,
                        "question": question.question,
                        "answers": question.answers,
                        "tags": question.tags,
                        "constraint": suite.constraint_dict(query, name),
                        "metrics": retrieval_metrics(dataset.name, question, record, config.ks),
                        "ms": round(1000 * (time.perf_counter() - began), 1),
                    }
                )
                caches[name].add(record)
            bar.update(1)


def config_dict(config: EvalConfig) -> dict[str, Any]:
    """The settings as JSON-ready data (for the report).

    :param config: the run's settings.
    :returns: a dict with paths as strings.
    """

    def plain(value: Any) -> Any:
        if isinstance(value, Path):
            return str(value)
        return [plain(item) for item in value] if isinstance(value, list) else value

    return {key: plain(value) for key, value in asdict(config).items()}
