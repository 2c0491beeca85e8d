"""Looking after a store folder: consistency check, statistics, and repair by rebuilding the vector index.

What ``chronorag store check|info|rebuild`` run. The check and the statistics read the parts of an open
store (under its thread lock); :func:`rebuild_store` works on a folder whose index may not even open.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from chronorag.indexers.errors import StoreCorruptError, StoreError
from chronorag.indexers.local_store.rows import SQLITE_FILE, RowStore
from chronorag.indexers.local_store.vectors import FAISS_FILE, VectorIndex, faiss_module

if TYPE_CHECKING:
    from chronorag.indexers.store import ChronoDocumentStore

_CHECK_SAMPLE = 200  # vectors compared between the index and the database


def check_consistency(rows: RowStore, vectors: VectorIndex) -> list[str]:
    """
    Verify that rows and vectors agree: every row with a vector is in the index once, and nothing else is
    (the caller holds the store's lock and has flushed pending saves).

    :param rows: the store's rows.
    :param vectors: its vector index.
    :returns: the problems found (empty when consistent).
    """
    problems: list[str] = []
    integrity = rows.conn.execute("PRAGMA integrity_check").fetchone()[0]
    if integrity != "ok":
        problems.append(f"SQLite integrity check: {integrity}")
    problems.extend(_file_problems(rows, vectors))
    if vectors.stale:
        vectors.rebuild(save=False)
    expected = rows.vector_rowids()
    faiss = faiss_module()
    indexed = np.sort(faiss.vector_to_array(vectors.index.id_map).astype(np.int64))
    if len(np.unique(indexed)) != len(indexed):
        problems.append("the vector index holds duplicate ids")
    missing = np.setdiff1d(expected, indexed)
    extra = np.setdiff1d(indexed, expected)
    if len(missing):
        problems.append(f"{len(missing)} rows have no vector in the index (e.g. rowid {int(missing[0])})")
    if len(extra):
        problems.append(f"{len(extra)} index vectors have no row (e.g. id {int(extra[0])})")
    if not len(missing) and not len(extra) and len(expected):
        sample = expected[:: max(1, len(expected) // _CHECK_SAMPLE)][:_CHECK_SAMPLE]
        stored = rows.vectors_of(sample)
        if isinstance(faiss.downcast_index(vectors.index.index), faiss.IndexFlat):
            indexed_vectors = vectors.index.reconstruct_batch(sample)
            if not np.allclose(stored, indexed_vectors, atol=1e-5):
                problems.append("index vectors differ from the vectors in the database")
    return problems


def _file_problems(rows: RowStore, vectors: VectorIndex) -> list[str]:
    faiss_path = rows.folder / FAISS_FILE
    if not faiss_path.exists():
        return [f"{FAISS_FILE} is missing"] if rows.count() else []
    try:
        generation, _, _ = vectors.read_file(faiss_path)
    except StoreCorruptError as exc:
        return [exc.problem]
    if generation != rows.generation:
        return [
            f"{FAISS_FILE} is at generation {generation}, the database at {rows.generation} "
            "(an interrupted write: opening the store writable recovers it)"
        ]
    return []


def row_statistics(rows: RowStore) -> dict[str, Any]:
    """
    :param rows: the store's rows (the caller holds the store's lock).
    :returns: documents, passages, vectors, dated passages, time spans and the date range.
    """
    conn = rows.conn
    documents = conn.execute("SELECT count(DISTINCT coalesce(doc_id, id)) FROM passages").fetchone()[0]
    low, high, dated = conn.execute(
        "SELECT min(pub_day), max(pub_day), count(pub_day) FROM passages"
    ).fetchone()
    return {
        "documents": documents,
        "passages": rows.count(),
        "vectors": rows.count_vectors(),
        "dated_passages": dated,
        "time_spans": conn.execute("SELECT count(*) FROM spans").fetchone()[0],
        "date_min": date.fromordinal(low).isoformat() if low else None,
        "date_max": date.fromordinal(high).isoformat() if high else None,
    }


def folder_size(folder: Path) -> int:
    """:returns: the bytes of every file under ``folder``."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def rebuild_store(path: str, index_type: str | None = None) -> ChronoDocumentStore:
    """
    Repair a store whose vector index is damaged, stale or of another type: set the FAISS file aside,
    rebuild the index from the vectors kept in SQLite, and drop the derived lexical index.

    :param path: the store folder.
    :param index_type: the index type to build (default: the one the store records).
    :returns: the reopened, rebuilt store.
    :raises StoreCorruptError: when the SQLite database itself cannot be read (restore it from a backup).
    """
    from chronorag.indexers.bm25 import BM25_FOLDER
    from chronorag.indexers.store import ChronoDocumentStore

    folder = Path(path)
    if not (folder / SQLITE_FILE).exists():
        raise StoreError(f"no store at {path!r} (missing {SQLITE_FILE})")
    faiss_path = folder / FAISS_FILE
    if faiss_path.exists():
        os.replace(faiss_path, folder / (FAISS_FILE + ".old"))
    shutil.rmtree(folder / BM25_FOLDER, ignore_errors=True)
    try:
        store = ChronoDocumentStore(path, index_type=index_type)
    except sqlite3.DatabaseError as exc:
        raise StoreCorruptError(
            path, f"{SQLITE_FILE} cannot be read ({exc}); restore it from a backup"
        ) from exc
    store.rebuild()
    (folder / (FAISS_FILE + ".old")).unlink(missing_ok=True)
    return store
