"""Hypothesis strategies for Haystack filters: fields x operators x value types, nested in AND/OR/NOT.

Shared by the store's property tests (tests/test_validation.py) and the API's (tests/test_api_fuzz.py).
The fields are the ones the store knows (id, content, the meta keys ingestion sets), client meta keys whose
stored values differ in type from passage to passage (see ``MIXED_META``), sub-fields, unknown and
unfilterable fields; the values are every JSON type, ISO and non-ISO date strings, NaN and Infinity.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

# Client meta whose type varies between passages: what makes a well-formed filter fail on data.
MIXED_META: list[dict[str, Any]] = [
    {"k": 3, "tags": ["a", "b"], "when": "2015-06-30"},
    {"k": [1, 2], "tags": "a", "when": 2015},
    {"k": {"x": 1}, "tags": None, "when": "not a date"},
    {"k": "2001-01-01", "tags": ["c"], "when": None},
    {"k": True},
]

FIELDS = [
    "id",
    "content",
    "meta.title",
    "meta.doc_id",
    "meta.date",
    "meta.date_source",
    "meta.date_confidence",
    "meta.passage_index",
    "meta.para",
    "meta.chunk",
    "meta.time_spans",
    "meta.time_spans.start",
    "meta.title.first",
    "meta.k",
    "meta.k.x",
    "meta.tags",
    "meta.when",
    "meta.never_written",
    "k",
]
# Accepted by the store's Python API but not by the REST schema's field pattern.
STORE_ONLY_FIELDS = ["embedding", "score", "blob", "meta", "meta..x", "", "meta.k.", "meta.time_spans.0"]
OPERATORS = ["==", "!=", ">", ">=", "<", "<=", "in", "not in"]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["2015-06-30", "2015-06-30T12:00:00", "1999-13-45", "June 2015", "1", ""]),
)
values = st.one_of(
    scalars,
    st.lists(scalars, max_size=4),
    st.dictionaries(st.text(max_size=4), scalars, max_size=2),
)


def conditions(fields: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """A comparison condition over ``fields``.

    :param fields: the field names to draw from.
    :returns: the strategy.
    """
    return st.fixed_dictionaries(
        {"field": st.sampled_from(fields), "operator": st.sampled_from(OPERATORS), "value": values}
    )


def filters(fields: list[str], max_leaves: int = 6) -> st.SearchStrategy[dict[str, Any]]:
    """Comparison conditions and AND/OR/NOT trees of them.

    :param fields: the field names to draw from.
    :param max_leaves: the most conditions in one tree.
    :returns: the strategy.
    """
    return st.recursive(
        conditions(fields),
        lambda children: st.fixed_dictionaries(
            {
                "operator": st.sampled_from(["AND", "OR", "NOT"]),
                "conditions": st.lists(children, min_size=1, max_size=3),
            }
        ),
        max_leaves=max_leaves,
    )


def leaves(tree: dict[str, Any]) -> list[dict[str, Any]]:
    """The comparison conditions of a filter tree.

    :param tree: the filter.
    :returns: its leaves, left to right.
    """
    if "field" in tree:
        return [tree]
    return [leaf for child in tree.get("conditions", []) for leaf in leaves(child)]
