"""Restrictions as Milvus filter expressions: publication bounds, time windows and Haystack filters.

Everything a search is restricted by becomes one boolean expression that Milvus evaluates *before* its
vector (or BM25) search, with every value written as an escaped literal (``literal``):

* publication bounds compare ``pub_day``, the day ordinal of a *proven* publication date, ``0`` for an
  undated passage or an inferred date (``chronorag.temporal.meta``): ``pub_day <= before`` lets ``0``
  through by itself, and ``after`` adds ``or pub_day == 0``;
* a time window is the exact calendar-tree test of ``spans.py`` on ``span_path``/``span_cover``; the
  rare passage with more nodes than an array holds is flagged ``span_overflow`` and checked in Python;
* a Haystack filter is translated when the translation is exact: ``==``/``in`` with string values on
  ``id`` (the primary key) or ``meta`` fields (``meta_str``, a JSON of the passage's string-valued meta),
  joined by ``AND``/``OR``. Python's ``==`` is what Haystack compares with, and for strings it is
  what Milvus compares too; numbers (``1 == 1.0 == True`` in Python), ``!=``/``NOT`` (a missing field
  matches them in Haystack, not in Milvus) and ordering (ISO dates compare as dates in Haystack) are not
  translated: such a filter narrows by its translatable conjuncts, Haystack's own matcher decides on
  the narrowed passages in Python, and the search runs on the ids it keeps (``id in {ids}``).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from chronorag.indexers.milvus.spans import window_terms
from chronorag.temporal.model import Interval

_COLUMNS = {"id": "id"}
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_META_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def literal(value: Any) -> str:
    """
    A value as a Milvus expression literal (strings quoted and escaped; lists of literals).

    :param value: a string, an int, a bool or a list of them.
    :returns: the literal's text.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
        return f'"{escaped}"'
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    raise TypeError(f"no Milvus literal for {type(value).__name__}")


def render(text: str, **params: Any) -> str:
    """:returns: ``text`` with each ``{name}`` replaced by the literal of ``params[name]``."""
    return _PLACEHOLDER.sub(lambda match: literal(params[match.group(1)]), text)


class Expression:
    """A Milvus boolean expression being built (AND of its parts)."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def add(self, text: str, **params: Any) -> None:
        """AND ``text``, whose ``{name}`` placeholders stand for the literals of ``params``."""
        self.parts.append(f"({render(text, **params)})")

    @property
    def text(self) -> str:
        """The expression (``""``: no restriction)."""
        return " and ".join(self.parts)


def add_publication_bounds(expression: Expression, before: date | None, after: date | None) -> None:
    """Restrict to passages published in ``[after, before]``; undated passages always pass."""
    if before is not None:
        expression.add("pub_day <= {before}", before=before.toordinal())
    if after is not None:
        expression.add("pub_day >= {after} or pub_day == 0", after=after.toordinal())


def add_time_window(expression: Expression, window: Interval, overflow: bool) -> None:
    """
    Restrict to passages mentioning a span that overlaps ``window`` (exact, see ``spans.py``).

    :param expression: the expression to extend.
    :param window: the window.
    :param overflow: some passages are flagged ``span_overflow`` (let them through for a Python check).
    """
    covers, ancestors = window_terms(window.start_day, window.end_day)
    text = "array_contains_any(span_path, {window_cover})"
    params: dict[str, Any] = {"window_cover": covers}
    if ancestors:
        text += " or array_contains_any(span_cover, {window_ancestors})"
        params["window_ancestors"] = ancestors
    if overflow:
        text += " or span_overflow == true"
    expression.add(text, **params)


def translate_filters(filters: dict[str, Any], expression: Expression) -> bool:
    """
    Add what Milvus can evaluate exactly of Haystack ``filters`` to ``expression``.

    :param filters: valid Haystack filters.
    :param expression: the expression to extend.
    :returns: whether the translation is exact (else it is a superset: Haystack's matcher must decide).
    """
    exact = _exact(filters, expression)
    if exact is not None:
        expression.add(exact)
        return True
    if filters.get("operator") == "AND":
        for condition in filters.get("conditions", []):
            part = _exact(condition, expression)
            if part is not None:
                expression.add(part)
    return False


def _exact(filters: dict[str, Any], expression: Expression) -> str | None:
    """The exact Milvus form of ``filters``, or ``None`` when there is none."""
    operator = filters.get("operator")
    if "field" not in filters:
        if operator not in ("AND", "OR") or not filters.get("conditions"):
            return None
        parts = [_exact(condition, expression) for condition in filters["conditions"]]
        if any(part is None for part in parts):
            return None
        return "(" + f" {operator.lower()} ".join(f"({part})" for part in parts) + ")"
    target = _target(filters["field"])
    value = filters.get("value")
    if target is None:
        return None
    if operator == "==" and isinstance(value, str):
        return f"{target} == {literal(value)}"
    if operator == "in" and isinstance(value, list) and all(isinstance(v, str) for v in value):
        if not value:
            return "false"
        if target in _COLUMNS.values():
            return f"{target} in {literal(list(value))}"
        # A JSON path is compared term by term: Milvus Lite takes ``in`` on columns only.
        return " or ".join(f"{target} == {literal(v)}" for v in dict.fromkeys(value))
    return None


def _target(field: str) -> str | None:
    """The Milvus operand holding a Haystack field's string values, or ``None``."""
    if field in _COLUMNS:
        return _COLUMNS[field]
    if field.startswith("meta.") and len(field) > 5 and set(field[5:]) <= _META_KEY_CHARS:
        return f'meta_str["{field[5:]}"]'
    return None
