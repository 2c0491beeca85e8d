"""The calendar-tree encoding of time spans (``indexers/milvus/spans.py``) against interval arithmetic."""

from __future__ import annotations

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from chronorag.indexers.milvus.spans import _days, cover_nodes, span_arrays, window_terms
from chronorag.temporal.model import MAX_DAY, MIN_DAY

_NEAR = st.integers(date(1850, 1, 1).toordinal(), date(2100, 12, 31).toordinal())
_DAY = st.one_of(_NEAR, _NEAR, st.integers(MIN_DAY, MAX_DAY), st.sampled_from([MIN_DAY, MAX_DAY]))
_RANGE = st.tuples(_DAY, _DAY).map(sorted).map(tuple)


@settings(max_examples=400, deadline=None)
@given(st.lists(_RANGE, max_size=5), _RANGE)
def test_overlap_through_the_arrays_is_exact(spans, window):
    covers, paths = span_arrays(spans)
    window_cover, window_ancestors = window_terms(*window)
    found = bool(set(paths) & set(window_cover)) or bool(set(covers) & set(window_ancestors))
    assert found == any(start <= window[1] and end >= window[0] for start, end in spans)


@settings(max_examples=200, deadline=None)
@given(_RANGE)
def test_a_cover_is_a_partition_of_the_days(days):
    nodes = cover_nodes(*days)
    bounds = sorted(_days(*node) for node in nodes)
    assert bounds[0][0] == days[0] and bounds[-1][1] == days[1]
    assert all(left[1] + 1 == right[0] for left, right in zip(bounds, bounds[1:], strict=False))


def test_common_spans_are_a_few_nodes():
    year = (date(1995, 1, 1).toordinal(), date(1995, 12, 31).toordinal())
    assert len(cover_nodes(*year)) == 1
    decade = (date(1990, 1, 1).toordinal(), date(1999, 12, 31).toordinal())
    assert len(cover_nodes(*decade)) == 1
    assert len(span_arrays([year])[1]) == 5  # the year, its decade, century, millennium and the root
    assert len(cover_nodes(MIN_DAY, MAX_DAY)) == 1
