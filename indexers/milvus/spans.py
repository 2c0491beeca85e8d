"""Time spans as calendar-tree nodes, so "any span overlaps the window" is two Milvus array look-ups.

A passage mentions several spans, and Milvus has no operator for "some element ``i`` of two arrays has
``start[i] <= window_end and end[i] >= window_start``". The spans are therefore stored as nodes of a
calendar tree (root > millennium > century > decade > year > month > day), a *laminar* family: two nodes
are either nested or disjoint. A day range ``[s, e]`` is covered exactly by the disjoint nodes of
:func:`cover` (a year span is one node, a decade one node, "1 March 1990 - 5 June 1995" about 20).

Two covers intersect exactly when a node of one is an ancestor-or-self of a node of the other, so with

* ``span_cover`` = the cover nodes of every span of the passage, and
* ``span_path`` = those nodes and all their ancestors,

a passage has a span overlapping the window ``W`` **exactly** when::

    array_contains_any(span_path, cover(W)) or array_contains_any(span_cover, strict_ancestors(cover(W)))

(first: a window node contains a span node; second: a span node strictly contains a window node). No
precision is lost: the nodes go down to single days, the unit of ``Interval``. Both arrays take the
union over the passage's spans, which keeps the test exact because it only asks whether one span node
and one window node meet. ``tests/test_milvus_spans.py`` checks the equivalence against interval
arithmetic on random spans.
"""

from __future__ import annotations

from calendar import monthrange
from collections.abc import Iterable
from datetime import date

from chronorag.temporal.model import MAX_DAY, MIN_DAY

ROOT, MILLENNIUM, CENTURY, DECADE, YEAR, MONTH, DAY = range(7)
_LEVEL_SHIFT = 40  # node id = level << 40 | index (every index is below 2**40)
_FIRST_YEAR, _LAST_YEAR = date.min.year, date.max.year


def node_id(level: int, index: int) -> int:
    """:returns: the int64 id of the node ``index`` of ``level``."""
    return (level << _LEVEL_SHIFT) | index


def _year_range(level: int, index: int) -> tuple[int, int]:
    size = {MILLENNIUM: 1000, CENTURY: 100, DECADE: 10, YEAR: 1}[level]
    return max(index * size, _FIRST_YEAR), min(index * size + size - 1, _LAST_YEAR)


def _days(level: int, index: int) -> tuple[int, int]:
    """The first and last day ordinal of a node."""
    if level == ROOT:
        return MIN_DAY, MAX_DAY
    if level == DAY:
        return index, index
    if level == MONTH:
        year, month = divmod(index, 12)
        return date(year, month + 1, 1).toordinal(), date(
            year, month + 1, monthrange(year, month + 1)[1]
        ).toordinal()
    first_year, last_year = _year_range(level, index)
    return date(first_year, 1, 1).toordinal(), date(last_year, 12, 31).toordinal()


def _children(level: int, index: int) -> Iterable[tuple[int, int]]:
    if level == ROOT:
        return ((MILLENNIUM, m) for m in range(_FIRST_YEAR // 1000, _LAST_YEAR // 1000 + 1))
    if level in (MILLENNIUM, CENTURY, DECADE):
        first, last = _year_range(level, index)
        child = level + 1
        size = {CENTURY: 100, DECADE: 10, YEAR: 1}[child]
        return ((child, i) for i in range(first // size, last // size + 1))
    if level == YEAR:
        return ((MONTH, index * 12 + m) for m in range(12))
    first, last = _days(level, index)
    return ((DAY, d) for d in range(first, last + 1))


def _parent(level: int, index: int) -> tuple[int, int]:
    if level == DAY:
        day = date.fromordinal(index)
        return MONTH, day.year * 12 + day.month - 1
    if level == MONTH:
        return YEAR, index // 12
    if level == MILLENNIUM:
        return ROOT, 0
    return level - 1, index // 10


def cover_nodes(start_day: int, end_day: int) -> list[tuple[int, int]]:
    """
    The disjoint calendar nodes whose union is exactly the days ``start_day..end_day``.

    :param start_day: the first day ordinal (``MIN_DAY`` for an open start).
    :param end_day: the last day ordinal (``MAX_DAY`` for an open end).
    :returns: ``(level, index)`` pairs, coarsest first.
    """
    start_day, end_day = max(start_day, MIN_DAY), min(end_day, MAX_DAY)
    if start_day > end_day:
        return []
    found: list[tuple[int, int]] = []
    pending = [(ROOT, 0)]
    while pending:
        level, index = pending.pop()
        first, last = _days(level, index)
        if last < start_day or first > end_day:
            continue
        if start_day <= first and last <= end_day:
            found.append((level, index))
        else:
            pending.extend(_children(level, index))
    return sorted(found)


def cover(start_day: int, end_day: int) -> list[int]:
    """:returns: the node ids of :func:`cover_nodes`."""
    return [node_id(level, index) for level, index in cover_nodes(start_day, end_day)]


def strict_ancestors(nodes: Iterable[tuple[int, int]]) -> set[int]:
    """:returns: the ids of every strict ancestor of ``nodes``."""
    found: set[int] = set()
    for level, index in nodes:
        while level != ROOT:
            level, index = _parent(level, index)
            key = node_id(level, index)
            if key in found:
                break  # the rest of the path is there already
            found.add(key)
    return found


def span_arrays(spans: Iterable[tuple[int, int]]) -> tuple[list[int], list[int]]:
    """
    A passage's ``span_cover`` and ``span_path`` arrays.

    :param spans: its spans as ``(start_day, end_day)`` ordinals.
    :returns: ``(cover ids, cover-and-ancestor ids)``, each sorted and without repeats.
    """
    nodes: set[tuple[int, int]] = set()
    for start, end in spans:
        nodes.update(cover_nodes(start, end))
    covered = {node_id(level, index) for level, index in nodes}
    return sorted(covered), sorted(covered | strict_ancestors(nodes))


def window_terms(start_day: int, end_day: int) -> tuple[list[int], list[int]]:
    """
    What a window is looked up by (see the module's documentation).

    :param start_day: the window's first day ordinal.
    :param end_day: its last day ordinal.
    :returns: ``(cover ids, strict-ancestor ids)`` of the window.
    """
    nodes = cover_nodes(start_day, end_day)
    return [node_id(level, index) for level, index in nodes], sorted(strict_ancestors(nodes))
