"""PNG plots of a report: AR@k curves per system, and a metric by relation type (matplotlib, Agg)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["write_plots"]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and CI
    import matplotlib.pyplot as plt

    return plt


def write_plots(report: dict[str, Any], out_dir: Path) -> list[str]:
    """Write the plots the report's metrics allow.

    :param report: the report (``systems`` with ``metrics`` and ``slices``).
    :param out_dir: the output folder.
    :returns: the written PNG paths.
    """
    written = []
    curve = _plot_recall_curves(report, Path(out_dir) / "ar_at_k.png")
    if curve:
        written.append(curve)
    by_slice = _plot_by_slice(report, Path(out_dir) / "by_relation.png")
    if by_slice:
        written.append(by_slice)
    return written


def _recall_points(metrics: dict[str, Any], family: str) -> list[tuple[int, float]]:
    points = []
    for name, metric in metrics.items():
        prefix, _, k = name.partition("@")
        if prefix == family and k.isdigit() and metric.get("value") is not None:
            points.append((int(k), metric["value"]))
    return sorted(points)


def _plot_recall_curves(report: dict[str, Any], path: Path) -> str | None:
    systems = report["systems"]
    if not any(_recall_points(s["metrics"], "AR") for s in systems.values()):
        return None
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(7.5, 4))
    for name, system in systems.items():
        points = _recall_points(system["metrics"], "AR")
        if points:
            ks, values = zip(*points, strict=True)
            axis.plot(ks, [100 * v for v in values], marker="o", label=name)
    axis.set_xscale("log")
    cutoffs = sorted({k for s in systems.values() for k, _ in _recall_points(s["metrics"], "AR")})
    axis.set_xticks(cutoffs, [str(k) for k in cutoffs])
    axis.minorticks_off()
    axis.set_xlabel("k")
    axis.set_ylabel("AR@k (%)")
    axis.set_title(f"{report['dataset']}: answer recall at k ({report['n_questions']} questions)")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return str(path)


def _slice_metric(report: dict[str, Any], tag: str) -> str | None:
    # The smallest-k AR above 1 (AR@5 by default) reads best across slices; fall back to any metric.
    names = {
        m
        for s in report["systems"].values()
        for v in s.get("slices", {}).get(tag, {}).values()
        for m in v["metrics"]
    }
    ar = sorted((int(n.split("@")[1]), n) for n in names if n.startswith("AR@") and n.split("@")[1].isdigit())
    preferred = [n for k, n in ar if k > 1] or [n for _, n in ar]
    return preferred[0] if preferred else (sorted(names)[0] if names else None)


def _plot_by_slice(report: dict[str, Any], path: Path) -> str | None:
    systems = report["systems"]
    tags = [
        t
        for t in ("relation", "date_kind", "source")
        if any(t in s.get("slices", {}) for s in systems.values())
    ]
    if not tags:
        return None
    tag = tags[0]
    metric = _slice_metric(report, tag)
    if metric is None:
        return None
    values = sorted({v for s in systems.values() for v in s.get("slices", {}).get(tag, {})})
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(max(6, 1.2 * len(values) * max(1, len(systems)) / 3), 4))
    width = 0.8 / max(1, len(systems))
    for offset, (name, system) in enumerate(systems.items()):
        heights = []
        for value in values:
            entry = system.get("slices", {}).get(tag, {}).get(value, {}).get("metrics", {}).get(metric, {})
            heights.append(100 * (entry.get("value") or 0.0))
        axis.bar([i + offset * width for i in range(len(values))], heights, width=width, label=name)
    axis.set_xticks([i + 0.4 - width / 2 for i in range(len(values))])
    axis.set_xticklabels(values, rotation=30, ha="right")
    axis.set_ylabel(f"{metric} (%)")
    axis.set_title(f"{report['dataset']}: {metric} by {tag}")
    axis.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return str(path)
