"""How retrievers apply a TemporalConstraint: a hard cut at the reference time, a soft time window."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from haystack import Document

from chronorag.temporal.model import TemporalConstraint


def reference_cutoff(constraint: TemporalConstraint | None, respect_reference_time: bool) -> date | None:
    """
    :param constraint: the question's constraint, if any.
    :param respect_reference_time: whether passages published after the reference time are dropped.
    :returns: the last publication day allowed, or ``None``.
    """
    if constraint is None or not respect_reference_time:
        return None
    return constraint.reference_time


def merge_candidates(semantic: list[Document], timed: list[Document]) -> list[Document]:
    """
    The unfiltered candidates plus the time-fitting ones not already among them, best score first.

    Passages found by the time-window search carry ``meta["in_time_window"] = True`` so rankers can see
    why they were retrieved.

    :param semantic: results of the unrestricted search.
    :param timed: results of the search restricted to the constraint's interval.
    :returns: the merged list, each passage once.
    """
    timed_ids = {d.id for d in timed}
    merged: dict[str, Document] = {}
    for doc in semantic + timed:
        if doc.id in merged:
            continue
        meta = dict(doc.meta)
        if doc.id in timed_ids:
            meta["in_time_window"] = True
        merged[doc.id] = replace(doc, meta=meta)
    return sorted(
        merged.values(), key=lambda d: d.score if d.score is not None else float("-inf"), reverse=True
    )
