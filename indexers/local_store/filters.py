"""Restrictions before the search: Haystack filters and the time/publication narrowing, as SQL over the rows.

A search's restrictions become the set of rowids it may return, computed before any vector is scored:
publication bounds and time windows from SQLite's indexes alone (``pub_day`` and the ``spans`` R-tree),
Haystack filters by narrowing with indexed columns and then Haystack's own matcher on the narrowed rows,
so filter semantics are exactly Haystack's.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from typing import Any

import numpy as np
from haystack import Document

from chronorag.indexers.local_store.rows import SPAN_BITS, SQL_CHUNK, RowStore
from chronorag.indexers.validation import check_filters as validate_filters  # checks in validation.py
from chronorag.indexers.validation import document_matches
from chronorag.temporal.model import Interval

_SQL_COLUMNS = {"id": "id", "meta.doc_id": "doc_id"}


def narrowing_sql(filters: dict[str, Any]) -> tuple[str, list[Any]]:
    """A SQL superset of what ``filters`` match, from ``==``/``in`` conditions on indexed columns.

    Haystack's own matcher still decides on the narrowed rows, so the semantics stay exact; this only
    spares parsing every row when a filter names documents (``meta.doc_id``) or passages (``id``).

    :param filters: valid Haystack filters.
    :returns: a SQL condition on ``passages`` and its parameters (``"1"`` when nothing narrows).
    """
    conditions = filters.get("conditions", []) if filters.get("operator") == "AND" else [filters]
    for condition in conditions:
        column = _SQL_COLUMNS.get(condition.get("field", ""))
        value = condition.get("value")
        if column is None:
            continue
        if condition.get("operator") == "==" and isinstance(value, str):
            return f"{column} = ?", [value]
        if (
            condition.get("operator") == "in"
            and isinstance(value, list)
            and all(isinstance(v, str) for v in value)
        ):
            if not value:
                return "0", []
            if len(value) <= SQL_CHUNK:
                return f"{column} IN ({','.join('?' * len(value))})", list(value)
    return "1", []


class CandidateFilter:
    """Turns a search's restrictions into the rowids it may return."""

    def __init__(self, rows: RowStore, vector_ids: Callable[[], np.ndarray]) -> None:
        """
        :param rows: the store's rows.
        :param vector_ids: the rowids the vector index holds, sorted (kept in memory by the index: cheaper
            than checking ``has_vector`` row by row).
        """
        self._rows = rows
        self._vector_ids = vector_ids
        self._pub_days: tuple[int, int | None, int | None] | None = None  # (generation, min, max)

    def candidate_rowids(
        self,
        filters: dict[str, Any] | None,
        time_window: Interval | None,
        published_on_or_before: date | None,
        published_on_or_after: date | None = None,
        vectors_only: bool = True,
    ) -> np.ndarray | None:
        """
        The rowids allowed by the restrictions (SQL for time, Haystack filters on meta).

        :param filters: Haystack filters.
        :param time_window: keep passages mentioning a span that overlaps it.
        :param published_on_or_before: drop passages published after this day (undated ones pass).
        :param published_on_or_after: drop passages published before this day (undated ones pass).
        :param vectors_only: keep passages with a vector only.
        :returns: the sorted rowids, or ``None`` when nothing restricts the search.
        :raises FilterError: on malformed filters.
        """
        timed = self._time_rowids(time_window, published_on_or_before, published_on_or_after, vectors_only)
        if not filters:
            return timed
        validate_filters(filters)
        if timed is None:
            where, params = narrowing_sql(filters)
            if vectors_only:
                # With a narrowing by id or doc_id, "+" keeps SQLite from choosing the has_vector index for
                # the query (reading every vector row: ~1 s at 100k passages) over that column's own index.
                where = f"{'+' if params else ''}has_vector = 1 AND {where}"
            sql = f"SELECT rowid, data FROM passages WHERE {where}"
            rows = self._rows.conn.execute(sql, params).fetchall()
        else:
            rows = self._rows.rows_by_rowid(timed, "data")
        keep = [r for r, data in rows if document_matches(filters, Document.from_dict(json.loads(data)))]
        return np.asarray(sorted(keep), dtype=np.int64)

    def _time_rowids(
        self, time_window: Interval | None, before: date | None, after: date | None, vectors_only: bool
    ) -> np.ndarray | None:
        """Rowids by publication day and mentioned spans, read from indexes alone; ``None``: unrestricted."""
        vector = "has_vector = 1 AND " if vectors_only else ""
        sets: list[np.ndarray] = []
        before, after = self._effective_publication_bounds(before, after)
        if before is not None or after is not None:
            bounds, params = [], []
            if before is not None:
                bounds.append("pub_day <= ?")
                params.append(before.toordinal())
            if after is not None:
                bounds.append("pub_day >= ?")
                params.append(after.toordinal())
            # Two index range scans instead of "pub_day IS NULL OR ...", which SQLite would answer by a table
            # scan; undated passages always pass a publication bound.
            sql = (
                f"SELECT rowid FROM passages WHERE {vector}{' AND '.join(bounds)} "
                f"UNION ALL SELECT rowid FROM passages WHERE {vector}pub_day IS NULL"
            )
            sets.append(self._rows.rowid_array(sql, params))
        if time_window is not None:
            sql = f"SELECT id >> {SPAN_BITS} FROM spans WHERE start_day <= ? AND end_day >= ?"
            found = np.unique(self._rows.rowid_array(sql, [time_window.end_day, time_window.start_day]))
            if vectors_only and not sets:
                # Checking has_vector row by row costs a page read each; the index's id list is in memory.
                found = found[np.isin(found, self._vector_ids(), assume_unique=True)]
            sets.append(found)
        if not sets:
            return None
        result = np.unique(sets[0])
        for other in sets[1:]:
            result = np.intersect1d(result, other)
        return result

    def _effective_publication_bounds(
        self, before: date | None, after: date | None
    ) -> tuple[date | None, date | None]:
        """Drop a publication bound that excludes nothing (the common "as of today" cut): materialising
        every rowid as a pre-filter would cost more than the search it restricts."""
        if before is None and after is None:
            return before, after
        generation = self._rows.generation
        if self._pub_days is None or self._pub_days[0] != generation:
            # One index lookup each, as separate subqueries: SQLite answers "SELECT MIN(x), MAX(x)" by a scan.
            low, high = self._rows.conn.execute(
                "SELECT (SELECT MIN(pub_day) FROM passages), (SELECT MAX(pub_day) FROM passages)"
            ).fetchone()
            self._pub_days = (generation, low, high)
        _, low, high = self._pub_days
        if before is not None and (high is None or before.toordinal() >= high):
            before = None
        if after is not None and (low is None or after.toordinal() <= low):
            after = None
        return before, after
