"""Aggregate per-question results into ``report.json`` and ``report.md`` (every metric with its 95% CI)."""

from __future__ import annotations

import json
import platform
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chronorag.evals.metrics import mean_with_ci
from chronorag.evals.types import EvalDataset, EvalQuestion

__all__ = ["aggregate", "metric_order", "render_markdown", "write_reports"]

SLICE_TAGS = ("date_kind", "source", "relation")  # breakdowns reported when the data set has them


def metric_order(names: Iterable[str]) -> list[str]:
    """Metric names in report order: AR@k, ER@k, R@k, leak@k by k, then the rest alphabetically.

    :param names: metric names.
    :returns: the ordered names.
    """
    families = ["AR", "ER", "R", "leak"]

    def key(name: str) -> tuple[int, int, str]:
        family, _, k = name.partition("@")
        if family in families and k.isdigit():
            return (families.index(family), int(k), name)
        return (len(families), 0, name)

    return sorted(set(names), key=key)


def aggregate(per_question: list[dict[str, float]], bootstrap: int, seed: int) -> dict[str, Any]:
    """Mean and bootstrap CI of each metric over the questions where it applies.

    :param per_question: one ``{metric: value}`` dict per question.
    :param bootstrap: resamples.
    :param seed: the seed.
    :returns: ``{metric: {"value", "ci95", "n"}}``.
    """
    values: dict[str, list[float]] = {}
    for metrics in per_question:
        for name, value in metrics.items():
            values.setdefault(name, []).append(float(value))
    return {name: mean_with_ci(values[name], bootstrap, seed) for name in metric_order(values)}


def _question_metrics(results: dict[str, Any], system: str, qid: str) -> dict[str, float]:
    metrics = dict(results["records"][system][qid]["metrics"])
    generation = results.get("generation") or {}
    if generation.get("system") == system:
        metrics.update(generation["metrics"].get(qid, {}))
    return metrics


def _retrieval_systems(config: Any, questions: list[EvalQuestion], results: dict[str, Any]) -> dict[str, Any]:
    systems: dict[str, Any] = {}
    for system in results["records"]:
        rows = [_question_metrics(results, system, q.qid) for q in questions]
        systems[system] = {"metrics": aggregate(rows, config.bootstrap, config.seed), "slices": {}}
        for tag in SLICE_TAGS:
            groups: dict[str, list[dict[str, float]]] = {}
            for question, row in zip(questions, rows, strict=True):
                if tag in question.tags:
                    groups.setdefault(question.tags[tag] or "none", []).append(row)
            if len(groups) > 1 or (tag == "date_kind" and groups):
                systems[system]["slices"][tag] = {
                    value: {
                        "n_questions": len(group),
                        "metrics": aggregate(group, config.bootstrap, config.seed),
                    }
                    for value, group in sorted(groups.items())
                }
    return systems


def write_reports(
    config: Any, dataset: EvalDataset, questions: list[EvalQuestion], results: dict[str, Any]
) -> dict:
    """Write ``report.json``, ``report.md`` and the plots into ``config.out_dir``.

    :param config: the run's :class:`~chronorag.evals.runner.EvalConfig`.
    :param dataset: the data set.
    :param questions: the evaluated questions.
    :param results: the runner's results (retrieval records or decomposition results).
    :returns: the report.
    """
    from chronorag.evals.plots import write_plots
    from chronorag.evals.runner import config_dict

    if results["kind"] == "retrieval":
        systems = _retrieval_systems(config, questions, results)
    else:
        systems = results["systems"]
    report = {
        "dataset": dataset.name,
        "n_questions": len(questions),
        "systems": systems,
        "notes": _notes(dataset, questions, results),
        "loader_stats": dataset.stats,
        "ingest": results.get("ingest"),
        "store": results.get("store"),
        "config": config_dict(config),
        "seconds": results.get("seconds"),
        "created": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": _machine(),
    }
    out = Path(config.out_dir)
    (out / "report.json").write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    report["plots"] = write_plots(report, out)
    (out / "report.json").write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    (out / "report.md").write_text(render_markdown(report), encoding="utf-8")
    return report


def _machine() -> str:
    system = f"{platform.system()} {platform.machine()}"
    return f"{system}, {_cpu_count()} CPU cores, Python {platform.python_version()}"


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _notes(dataset: EvalDataset, questions: list[EvalQuestion], results: dict[str, Any]) -> list[str]:
    notes = []
    unanswerable = sum(not q.answerable for q in questions)
    if dataset.name == "timeqa" and unanswerable:
        notes.append(f"{unanswerable} unanswerable questions (every answer empty) are excluded from AR/ER.")
    if dataset.name == "realtimeqa":
        with_gold = sum(bool(q.gold_doc_ids) for q in questions)
        notes.append(f"R@k covers the {with_gold} of {len(questions)} questions with a gold article found.")
        notes.append("leak@k: share of the top-k passages published after the question's date.")
    if dataset.stats.get("smoke_corpus"):
        notes.append(
            "SMOKE CORPUS: passages are the CSV's own gold evidence sentences (each row's evidence is "
            "the other rows' distractors). These numbers test the pipeline; they are not TempRAGEval results."
        )
    generation = results.get("generation")
    if generation:
        notes.append(f"EM/F1/accuracy: {generation['description']}")
        if "latency_ms" in generation:
            latency = generation["latency_ms"]
            notes.append(
                f"ask latency per question: p50 {latency['p50'] / 1000:.2f} s, "
                f"p90 {latency['p90'] / 1000:.2f} s; "
                f"cited passages equal the retrieval ranking for {100 * generation['ranking_agreement']:.1f}%"
                " of questions."
            )
    elif results["kind"] == "retrieval":
        notes.append("Generation skipped (--no-generate or no generator): retrieval metrics only.")
    return notes


def _fmt(metric: dict[str, Any]) -> str:
    if metric.get("value") is None:
        return "–"
    low, high = metric["ci95"]
    return f"{100 * metric['value']:.1f} [{100 * low:.1f}, {100 * high:.1f}]"


def _table(systems: dict[str, Any], metrics: list[str]) -> list[str]:
    lines = ["| system | " + " | ".join(metrics) + " |", "|---|" + "---|" * len(metrics)]
    for name, system in systems.items():
        cells = [_fmt(system["metrics"].get(metric, {})) for metric in metrics]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def render_markdown(report: dict[str, Any]) -> str:
    """The report as Markdown: the main table (percent, with 95% CI), slices, notes and settings.

    :param report: the report dict.
    :returns: Markdown text.
    """
    systems = report["systems"]
    metrics = metric_order({m for s in systems.values() for m in s["metrics"]})
    lines = [
        f"# chronorag eval: {report['dataset']}",
        "",
        f"{report['n_questions']} questions; values in percent with 95% bootstrap CI "
        f"(seed {report['config']['seed']}); {report['created']}; {report['machine']}.",
        "",
    ]
    lines += _table(systems, metrics)
    lines.append("")
    for note in report["notes"]:
        lines.append(f"- {note}")
    slice_names = sorted({tag for s in systems.values() for tag in s.get("slices", {})})
    for tag in slice_names:
        lines += ["", f"## By {tag}", ""]
        values = sorted({v for s in systems.values() for v in s.get("slices", {}).get(tag, {})})
        for value in values:
            sub = {
                name: s["slices"][tag][value]
                for name, s in systems.items()
                if value in s.get("slices", {}).get(tag, {})
            }
            n = next(iter(sub.values()))["n_questions"]
            lines += [f"### {tag} = {value} ({n} questions)", ""]
            lines += _table(sub, metrics)
            lines.append("")
    if report.get("plots"):
        lines += ["", "## Plots", ""] + [f"![{Path(p).stem}]({Path(p).name})" for p in report["plots"]]
    lines += ["", "## Settings", "", "```json", json.dumps(report["config"], indent=2), "```", ""]
    return "\n".join(lines)
