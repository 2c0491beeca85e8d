"""Haystack's extended DocumentStore operations for ``ChronoDocumentStore``, as a mixin.

The methods have the names, signatures and semantics of Haystack's ``InMemoryDocumentStore``
(``update_by_filter``, ``delete_by_filter``, ``count_documents_by_filter``,
``count_unique_metadata_by_filter``, ``get_metadata_fields_info``, ``get_metadata_field_min_max``,
``get_metadata_field_unique_values``; ``delete_all_documents`` is the store's own), so the store passes
``haystack.testing.document_store.DocumentStoreBaseExtendedTests`` and the metadata test classes.

Writes go through the store's own operations (``write_documents(policy=OVERWRITE)`` and
``delete_documents``): each is one SQLite transaction with its generation number, keeps the FAISS index in
step and runs under the store's folder lock. The read that selects the documents runs under the same locks,
so no other thread or process can change them between the selection and the write. Reads use SQL alone
where that is exact: ``json_each``/``json_extract`` over the stored JSON for metadata without filters, and
the store's indexed columns (``id``, ``meta.doc_id``) to narrow filtered scans.

Chronorag-specific consistency on ``update_by_filter``:

* a new ``date`` re-indexes the publication day (``write_documents`` derives it from ``meta["date"]``) and,
  when the passage's ``time_spans`` are the ones chronorag's dating derived from its text and old date,
  re-derives them against the new date (relative expressions such as "last year" move with it); spans set
  by someone else are left as they are. A chronorag-dated passage's ``date_source`` becomes ``"metadata"``
  (``None`` when the new date is not a date) and its inferred ``date_confidence`` is dropped, unless the
  update sets them;
* a new ``title`` changes the text that was embedded (``passage_text``), which the store cannot re-embed:
  such an update of passages with embeddings raises ``ValueError`` and changes nothing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from typing import Any

from haystack import Document
from haystack.document_stores.types import DuplicatePolicy
from haystack.errors import FilterError

from chronorag.indexers.local_store.filters import narrowing_sql, validate_filters
from chronorag.indexers.local_store.rows import day_of, decode_vector
from chronorag.indexers.text import passage_text
from chronorag.indexers.validation import document_matches

logger = logging.getLogger(__name__)

_SCAN_BATCH = 2000  # rows read per query when scanning
# SQLite json_type names -> the type names InMemoryDocumentStore.get_metadata_fields_info reports.
_FIELD_TYPES = {"true": "boolean", "false": "boolean", "integer": "int", "real": "float"}


class _NeedsPython(Exception):
    """A value SQLite's JSON functions cannot give back exactly (NaN, an integer beyond 64 bits...)."""


def _field_key(metadata_field: str) -> str:
    return metadata_field.removeprefix("meta.")


def _json_path(key: str) -> str | None:
    """``$.meta."key"`` for SQLite's JSON functions, or ``None`` for a key a path cannot quote."""
    if '"' in key or "\\" in key:
        return None
    return f'$.meta."{key}"'


def _hashable(value: Any) -> Any:
    """A value usable for deduplication, as ``InMemoryDocumentStore`` makes it (lists, tuples, dicts)."""
    if isinstance(value, list):
        return ("list", tuple(_hashable(item) for item in value))
    if isinstance(value, tuple):
        return ("tuple", tuple(_hashable(item) for item in value))
    if isinstance(value, dict):
        return ("dict", frozenset((_hashable(k), _hashable(v)) for k, v in value.items()))
    return value


def _unique_key(value: Any) -> tuple[str, Any]:
    # The type name keeps 1, 1.0, True and "1" apart (they are equal or hash alike in Python).
    return type(value).__name__, _hashable(value)


def _check_filters(filters: dict[str, Any] | None, required: bool) -> None:
    if not filters:
        if required:
            # As InMemoryDocumentStore: an empty filter is not "every document" for a write.
            raise FilterError("'operator' key missing in {}: a filter is required")
        return
    validate_filters(filters)


class ExtendedStoreMixin:
    """Haystack's extended DocumentStore operations over ``ChronoDocumentStore``'s own operations.

    Mixed into ``ChronoDocumentStore``; relies on its ``filter``/``write``/``delete`` operations, its SQLite
    connection for reads and its locks (``_lock`` in the process, ``_folder_lock`` across processes).
    """

    # Provided by ChronoDocumentStore.
    _conn: sqlite3.Connection
    _lock: Any
    _folder_lock: Any
    dim: int
    read_only: bool
    path: str

    # ------------------------------------------------------------------ writes
    def delete_by_filter(self, filters: dict[str, Any]) -> int:
        """
        Delete every passage that matches the filters (their vectors and time spans with them).

        :param filters: Haystack filters (required; ``{}`` raises, as in ``InMemoryDocumentStore``).
        :returns: the number of passages deleted.
        :raises FilterError: on malformed or empty filters.
        :raises StoreError: when the store was opened read-only.
        """
        _check_filters(filters, required=True)
        with self._writing():  # type: ignore[attr-defined]
            ids = [doc.id for doc in self._iter_matching(filters)]
            if ids:
                self.delete_documents(ids)  # type: ignore[attr-defined]
        return len(ids)

    def update_by_filter(self, filters: dict[str, Any], meta: dict[str, Any]) -> int:
        """
        Merge ``meta`` into the metadata of every passage that matches the filters, in one transaction.

        Content and embeddings are kept; the publication day and time spans are re-indexed from the new
        metadata (see the module's documentation for ``date`` and ``title``).

        :param filters: Haystack filters (required; ``{}`` raises, as in ``InMemoryDocumentStore``).
        :param meta: the metadata fields to set.
        :returns: the number of passages updated.
        :raises FilterError: on malformed or empty filters.
        :raises ValueError: when ``meta`` changes the embedded text (``title``) of passages with embeddings.
        :raises StoreError: when the store was opened read-only.
        """
        _check_filters(filters, required=True)
        if not isinstance(meta, dict):
            raise ValueError(f"meta must be a dict, not {type(meta).__name__}")
        with self._writing():  # type: ignore[attr-defined]
            matching = list(self._iter_matching(filters, with_vectors=True))
            if not matching:
                return 0
            updated = [self._with_meta(doc, meta) for doc in matching]
            self.write_documents(updated, policy=DuplicatePolicy.OVERWRITE)  # type: ignore[attr-defined]
        return len(updated)

    def _with_meta(self, document: Document, changes: dict[str, Any]) -> Document:
        old = document.meta or {}
        new = {**old, **changes}
        updated = replace(document, meta=new)  # the id stays: it is set
        if document.embedding is not None and passage_text(updated) != passage_text(document):
            raise ValueError(
                f"updating {sorted(changes)} changes the embedded text of passage {document.id!r} "
                f"(its title); the store cannot re-embed it: write the passage again with a new embedding"
            )
        if "date" in changes:
            old_day, new_day = day_of(old.get("date")), day_of(changes["date"])
            if old_day != new_day:
                self._redate(document.content or "", old, new, changes, old_day, new_day)
        return updated

    @staticmethod
    def _redate(
        content: str,
        old: dict[str, Any],
        new: dict[str, Any],
        changes: dict[str, Any],
        old_day: int | None,
        new_day: int | None,
    ) -> None:
        """Re-derive what chronorag's dating derived from the old date (``ingest.date_passages``)."""
        from chronorag.temporal.extractor import extract_mentions
        from chronorag.temporal.meta import record_spans

        if "time_spans" not in changes and isinstance(old.get("time_spans"), list):
            old_ref = date.fromordinal(old_day) if old_day is not None else None
            derived = [m.to_dict() for m in extract_mentions(content, reference=old_ref, mode="fast")]
            if derived == old["time_spans"]:
                new_ref = date.fromordinal(new_day) if new_day is not None else None
                # read again, as this version reads
                record_spans(new, extract_mentions(content, reference=new_ref, mode="fast"))
        if "date_source" in old and "date_source" not in changes:
            new["date_source"] = "metadata" if new_day is not None else None
            if "date_confidence" not in changes:
                new.pop("date_confidence", None)

    # ------------------------------------------------------------------ counts
    def count_documents_by_filter(self, filters: dict[str, Any]) -> int:
        """
        :param filters: Haystack filters; ``{}`` or ``None`` counts every passage.
        :returns: the number of passages that match.
        :raises FilterError: on malformed filters.
        """
        _check_filters(filters, required=False)
        if not filters:
            return self.count_documents()  # type: ignore[attr-defined]
        return sum(1 for _ in self._iter_matching(filters))

    def count_unique_metadata_by_filter(
        self, filters: dict[str, Any], metadata_fields: list[str]
    ) -> dict[str, int]:
        """
        The number of distinct values of each metadata field among the matching passages (``None`` values and
        passages without the field are not counted).

        :param filters: Haystack filters; ``{}`` or ``None`` for every passage.
        :param metadata_fields: field names, with or without the ``meta.`` prefix.
        :returns: ``{field name without "meta.": distinct values}``.
        :raises FilterError: on malformed filters.
        """
        _check_filters(filters, required=False)
        keys = [_field_key(f) for f in metadata_fields]
        if not filters:
            return {key: len({_hashable(v) for v in self._field_values(key)}) for key in keys}
        seen: dict[str, set[Any]] = {key: set() for key in keys}
        for doc in self._iter_matching(filters):
            for key in keys:
                value = doc.meta.get(key)
                if value is not None:
                    seen[key].add(_hashable(value))
        return {key: len(values) for key, values in seen.items()}

    # ------------------------------------------------------------------ metadata
    def get_metadata_fields_info(self) -> dict[str, dict[str, str]]:
        """
        The metadata fields of the stored passages and their types (``keyword``, ``int``, ``float``,
        ``boolean``), inferred from the values; a field with values of several types reports the type of
        the latest written non-``None`` value, as ``InMemoryDocumentStore`` does.

        :returns: ``{field: {"type": type}}``.
        """
        # One pass in SQLite; for each key the type of its latest non-null value (the bare column of a
        # query's single MAX() aggregate comes from the row holding the maximum).
        sql = (
            "SELECT j.key, j.type, MAX(p.rowid) FROM passages AS p, json_each(p.data, '$.meta') AS j "
            "WHERE j.type != 'null' GROUP BY j.key ORDER BY j.key"
        )
        try:
            with self._lock:
                rows = self._conn.execute(sql).fetchall()
        except sqlite3.OperationalError:  # meta JSON that SQLite cannot read (NaN, Infinity)
            return self._fields_info_from_documents()
        return {key: {"type": _FIELD_TYPES.get(kind, "keyword")} for key, kind, _ in rows}

    def _fields_info_from_documents(self) -> dict[str, dict[str, str]]:
        """``get_metadata_fields_info`` by reading every passage (in insertion order) in Python."""
        types: dict[str, str] = {}
        for doc in self._iter_matching(None):
            for key, value in doc.meta.items():
                if value is not None:
                    types[key] = _python_field_type(value)
        return {key: {"type": kind} for key, kind in types.items()}

    def get_metadata_field_min_max(self, metadata_field: str) -> dict[str, Any]:
        """
        The smallest and largest value of a metadata field over every passage (numbers and strings; values of
        other types are ignored).

        :param metadata_field: the field, with or without the ``meta.`` prefix.
        :returns: ``{"min": ..., "max": ...}``; both ``None`` when no passage has a value or the values cannot
            be compared (numbers mixed with strings).
        """
        key = _field_key(metadata_field)
        values = [v for v in self._field_values(key) if isinstance(v, (int, float, str))]
        if not values:
            return {"min": None, "max": None}
        try:
            return {"min": min(values), "max": max(values)}
        except TypeError:
            return {"min": None, "max": None}

    def get_metadata_field_unique_values(
        self,
        metadata_field: str,
        search_term: str | None = None,
        from_: int = 0,
        size: int = 10,
        filters: dict[str, Any] | None = None,
    ) -> tuple[list[Any], int]:
        """
        The distinct values of a metadata field, sorted by their text, one page of them.

        :param metadata_field: the field, with or without the ``meta.`` prefix.
        :param search_term: keep values whose text contains this (case-insensitive).
        :param from_: the offset of the page.
        :param size: the page size.
        :param filters: Haystack filters restricting the passages considered.
        :returns: ``(values of the page, number of distinct values)``; values keep their types
            (``1``, ``1.0``, ``True`` and ``"1"`` are four values).
        :raises FilterError: on malformed filters.
        """
        _check_filters(filters, required=False)
        key = _field_key(metadata_field)
        if filters:
            values: Iterator[Any] = (
                doc.meta[key] for doc in self._iter_matching(filters) if doc.meta.get(key) is not None
            )
        else:
            values = iter(self._field_values(key))
        unique: dict[tuple[str, Any], Any] = {}
        for value in values:
            unique.setdefault(_unique_key(value), value)
        if search_term:
            needle = search_term.lower()
            unique = {k: v for k, v in unique.items() if needle in str(v).lower()}
        ordered = sorted(unique, key=lambda k: (str(unique[k]), k[0]))
        return [unique[k] for k in ordered[from_ : from_ + size]], len(ordered)

    # ------------------------------------------------------------------ helpers
    def _iter_matching(
        self, filters: dict[str, Any] | None, with_vectors: bool = False
    ) -> Iterator[Document]:
        """Passages matching ``filters`` (all when empty), in insertion order, read in batches.

        Embeddings, when asked for, are float arrays over the stored bytes (``write_documents`` takes them
        as they are), not lists: an update of many passages does not hold a Python float per dimension.
        """
        where, params = narrowing_sql(filters) if filters else ("1", [])
        column = "vector" if with_vectors else "NULL"
        last = 0
        while True:
            with self._lock:
                rows = self._conn.execute(
                    f"SELECT rowid, data, {column} FROM passages WHERE rowid > ? AND ({where}) "
                    "ORDER BY rowid LIMIT ?",
                    [last, *params, _SCAN_BATCH],
                ).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            for _, data, vector in rows:
                payload = json.loads(data)
                payload.pop("embedding", None)
                document = Document.from_dict(payload)
                if filters and not document_matches(filters, document):
                    continue
                if vector is not None:
                    document = replace(document, embedding=decode_vector(vector, self.dim))
                yield document

    def _field_values(self, key: str) -> list[Any]:
        """Every non-``None`` value of ``meta[key]`` in all passages, by SQL when SQLite reads it exactly."""
        path = _json_path(key)
        if path is not None:
            with contextlib.suppress(sqlite3.OperationalError, _NeedsPython):
                return self._field_values_sql(path)
        return [doc.meta[key] for doc in self._iter_matching(None) if doc.meta.get(key) is not None]

    def _field_values_sql(self, path: str) -> list[Any]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT json_type(data, ?1), json_extract(data, ?1) FROM passages "
                "WHERE json_type(data, ?1) IS NOT NULL AND json_type(data, ?1) != 'null' ORDER BY rowid",
                [path],
            ).fetchall()
        values: list[Any] = []
        for kind, value in rows:
            if kind in ("true", "false"):
                values.append(kind == "true")
            elif kind == "integer":
                if not isinstance(value, int):  # beyond 64 bits: SQLite gives a float
                    raise _NeedsPython
                values.append(value)
            elif kind in ("real", "text"):
                values.append(value)
            else:  # array or object: json_extract gives its JSON text
                values.append(json.loads(value))
        return values


def _python_field_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    return "keyword"


__all__ = ["ExtendedStoreMixin"]
