"""Looking after a store folder: consistency check, statistics, and repair by rebuilding the vector index.

What ``chronorag store check|info|rebuild`` run. The check and the statistics read the parts of an open
store (under its thread lock); :func:`rebuild_store` works on a folder whose index may not even open.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from chronorag.indexers.errors import StoreCorruptError, StoreError, repair_command
from chronorag.indexers.local_store.lock import writers_present
from chronorag.indexers.local_store.rows import SQLITE_FILE, RowStore
from chronorag.indexers.local_store.vectors import (
    FAISS_FILE,
    VectorIndex,
    faiss_module,
    inspect_vector_file,
)

if TYPE_CHECKING:
    from chronorag.indexers.store import ChronoDocumentStore

_CHECK_SAMPLE = 200  # vectors compared between the index and the database


@dataclass
class StoreCheck:
    """What ``chronorag store check`` found.

    :param problems: damage (each names the file and what is wrong); empty when the store is sound.
    :param notes: states that are not damage (an index save still pending), for information.
    :param repair: the ``chronorag store`` command that repairs the damage: ``rebuild`` (the vector index)
        or ``recover`` (store.sqlite); ``None`` when there is none.
    """

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    repair: str | None = None


def database_problems(conn: sqlite3.Connection) -> list[str]:
    """
    :param conn: a connection to ``store.sqlite``.
    :returns: what SQLite's ``integrity_check`` finds (empty when the database is sound).
    """
    try:
        found = [row[0] for row in conn.execute("PRAGMA integrity_check(20)")]
    except sqlite3.DatabaseError as exc:
        return [f"{SQLITE_FILE} cannot be read ({exc})"]
    if found == ["ok"]:
        return []
    return [f"{SQLITE_FILE} fails SQLite's integrity check: {line}" for line in found]


def check_parts(rows: RowStore, vectors: VectorIndex, writer_open: bool | None = None) -> StoreCheck:
    """
    Verify the database, the vector file and that rows and vectors agree (every row with a vector is in
    the index once, and nothing else is). The caller holds the store's lock and has flushed its own
    pending saves.

    :param rows: the store's rows.
    :param vectors: its vector index.
    :param writer_open: whether a process has the store open for writing (``None``: ask the folder), which
        says who saves a vector file left behind the database.
    :returns: the problems (damage) and notes (a save still pending) found.
    """
    found = StoreCheck(problems=database_problems(rows.conn))
    if found.problems:
        found.repair = "recover"
        return found
    _check_vector_file(rows, writer_open, found)
    rows.conn.execute("BEGIN")  # one snapshot: catch up with other processes' commits, then compare
    try:
        vectors.sync()
        found.problems.extend(_index_problems(rows, vectors))
    finally:
        rows.conn.execute("COMMIT")
    if found.problems:
        found.repair = "rebuild"
    return found


def check_consistency(rows: RowStore, vectors: VectorIndex) -> list[str]:
    """
    :param rows: the store's rows.
    :param vectors: its vector index.
    :returns: the damage :func:`check_parts` finds (a save still pending is not damage).
    """
    return check_parts(rows, vectors).problems


def _index_problems(rows: RowStore, vectors: VectorIndex) -> list[str]:
    problems: list[str] = []
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


def _check_vector_file(rows: RowStore, writer_open: bool | None, found: StoreCheck) -> None:
    """The vector file against the database. Its trailer is read *before* the database's generation: a
    writer commits first and saves after, so read in this order the file is never ahead of the database
    unless it is damaged."""
    faiss_path = rows.folder / FAISS_FILE
    if not faiss_path.exists():
        if rows.count():
            found.problems.append(f"{FAISS_FILE} is missing")
        return
    state = inspect_vector_file(faiss_path)
    database = rows.database_generation()
    if state.problem:
        found.problems.append(state.problem)
    elif state.generation > database:
        found.problems.append(
            f"{FAISS_FILE} is from generation {state.generation}, newer than {SQLITE_FILE} ({database})"
        )
    elif state.generation < database:
        found.notes.append(_behind_note(rows, state.generation, database, writer_open))


def _behind_note(rows: RowStore, on_disk: int, database: int, writer_open: bool | None) -> str:
    """A vector file behind the database is no damage: SQLite holds every committed vector, and every open
    rebuilds the index from them. Either its writer saves it later (large indexes save on a timer), or the
    writer stopped before saving."""
    if writer_open is None:
        writer_open = writers_present(rows.folder)
    if writer_open:
        return (
            f"index save pending: generation {on_disk} on disk, {database} in SQLite; it is saved by the "
            "writer or rebuilt from SQLite on the next open"
        )
    return (
        f"index file behind: generation {on_disk} on disk, {database} in SQLite, and no process has the "
        "store open for writing (its writer stopped before saving); the next open rebuilds it from SQLite, "
        f"`{repair_command(rows.path, 'rebuild')}` saves it now"
    )


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


def _open_database(folder: Path, path: str) -> sqlite3.Connection:
    if not (folder / SQLITE_FILE).exists():
        raise StoreError(f"no store at {path!r} (missing {SQLITE_FILE})")
    return sqlite3.connect(str(folder / SQLITE_FILE), timeout=30)


def inspect_store(path: str) -> StoreCheck:
    """
    Check the store in the folder ``path`` without writing to it (``chronorag store check``): SQLite's
    integrity check, the vector file's checksum and generation, and rows against vectors.

    :param path: the store folder.
    :returns: the damage found with the command that repairs it, and notes (a save still pending).
    :raises StoreError: when there is no store there.
    """
    from chronorag.indexers.store import ChronoDocumentStore

    folder = Path(path)
    _open_database(folder, path).close()
    writer_open = writers_present(folder)
    try:
        store = ChronoDocumentStore(path, read_only=True)
    except StoreCorruptError as exc:
        found = StoreCheck(problems=[exc.problem], repair=exc.repair)
        if exc.repair != "recover":  # the index failed before the database was checked: check it too
            conn = _open_database(folder, path)
            damaged = database_problems(conn)
            conn.close()
            if damaged:
                found = StoreCheck(problems=damaged + found.problems, repair="recover")
        return found
    except sqlite3.DatabaseError as exc:
        return StoreCheck(problems=[f"{SQLITE_FILE} cannot be read ({exc})"], repair="recover")
    try:
        return store.check_parts(writer_open)
    except sqlite3.DatabaseError as exc:
        return StoreCheck(problems=[f"{SQLITE_FILE} cannot be read ({exc})"], repair="recover")
    finally:
        store.close()


def rebuild_store(path: str, index_type: str | None = None) -> ChronoDocumentStore:
    """
    Repair a store whose vector index is damaged, stale or of another type: set the FAISS file aside,
    rebuild the index from the vectors kept in SQLite, and drop the derived lexical index.

    :param path: the store folder.
    :param index_type: the index type to build (default: the one the store records).
    :returns: the reopened, rebuilt store.
    :raises StoreCorruptError: when store.sqlite itself is damaged (nothing is touched then; its ``repair``
        is ``recover``: ``chronorag store recover`` salvages it).
    """
    from chronorag.indexers.bm25 import BM25_FOLDER
    from chronorag.indexers.store import ChronoDocumentStore

    folder = Path(path)
    conn = _open_database(folder, path)
    try:
        # The rebuild reads every vector from SQLite: a damaged database cannot give them.
        damaged = [row[0] for row in conn.execute("PRAGMA quick_check(5)")]
    except sqlite3.DatabaseError as exc:
        damaged = [str(exc)]
    finally:
        conn.close()
    if damaged != ["ok"]:
        raise StoreCorruptError(path, f"{SQLITE_FILE} is damaged ({'; '.join(damaged)})", repair="recover")
    faiss_path = folder / FAISS_FILE
    if faiss_path.exists():
        os.replace(faiss_path, folder / (FAISS_FILE + ".old"))
    shutil.rmtree(folder / BM25_FOLDER, ignore_errors=True)
    store = ChronoDocumentStore(path, index_type=index_type)
    store.rebuild()
    (folder / (FAISS_FILE + ".old")).unlink(missing_ok=True)
    return store
