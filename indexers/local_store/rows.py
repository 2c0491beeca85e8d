"""The store's rows in SQLite: schema, (de)serialising passages, and the write and delete transactions.

SQLite is the store's source of truth: passages as JSON, their float vectors as BLOBs, the publication day
and the time spans (an R-tree) for filtering, the ingested source documents, and the *generation*, a counter
every committed write increments in its own transaction. Everything here runs under the caller's thread lock
(``ChronoDocumentStore._lock``); writes run under the folder lock too.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
from haystack import Document
from haystack.document_stores.errors import DuplicateDocumentError
from haystack.document_stores.types import DuplicatePolicy

from chronorag.indexers.errors import (
    EmbeddingDimensionError,
    StoreCorruptError,
    StoreError,
    StoreMismatchError,
)
from chronorag.temporal.meta import SOURCE_INFERRED, is_inferred
from chronorag.temporal.model import MAX_DAY, MIN_DAY

SQLITE_FILE = "store.sqlite"
SCHEMA_VERSION = 2
DEFAULT_DIM = 384
SPAN_BITS = 10  # up to 1,024 spans per passage
SQL_CHUNK = 900  # stay under SQLite's default limit of bound parameters

_SCHEMA = """
CREATE TABLE IF NOT EXISTS info (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS passages (
    rowid INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    doc_id TEXT,
    pub_day INTEGER,
    has_vector INTEGER NOT NULL DEFAULT 0,
    data TEXT NOT NULL,
    vector BLOB
);
CREATE INDEX IF NOT EXISTS passages_pub_day ON passages(pub_day);
CREATE INDEX IF NOT EXISTS passages_vector_pub_day ON passages(has_vector, pub_day);
CREATE INDEX IF NOT EXISTS passages_doc_id ON passages(doc_id);
-- Interval overlap is a 1-D R-tree query. A span's id is (passage rowid << 10) + its position, so
-- a passage's spans are one id range (deletes need no scan) and the passage is id >> 10.
CREATE VIRTUAL TABLE IF NOT EXISTS spans USING rtree_i32(id, start_day, end_day);
CREATE TABLE IF NOT EXISTS sources (
    doc_id TEXT PRIMARY KEY,
    content_hash TEXT NOT NULL,
    passages INTEGER NOT NULL
);
"""

_PLAIN_PAYLOAD = frozenset({"id", "content", "blob", "meta", "sparse_embedding", "score", "embedding"})

# A passage as written: its JSON, publication day, vector bytes and time spans as day ranges.
Row = tuple[str, int | None, bytes | None, list[tuple[int, int]]]


def in_chunks(values: Sequence[Any]) -> Iterator[tuple[list[Any], str]]:
    """``(chunk, "?,?,...")`` pairs for ``IN (...)`` queries of at most ``SQL_CHUNK`` bound values."""
    for start in range(0, len(values), SQL_CHUNK):
        chunk = values[start : start + SQL_CHUNK]
        chunk = chunk.tolist() if isinstance(chunk, np.ndarray) else list(chunk)
        yield chunk, ",".join("?" * len(chunk))


def _json_default(value: Any) -> Any:
    # Dates in meta are kept as ISO strings, the form filters compare and the API returns.
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"meta value of type {type(value).__name__} is not JSON serialisable")


def day_of(value: Any) -> int | None:
    """A publication date (ISO string, date, datetime) as a day ordinal, else ``None``."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date().toordinal()
    if isinstance(value, date):
        return value.toordinal()
    try:
        return date.fromisoformat(str(value)[:10]).toordinal()
    except ValueError:
        return None


def _span_days(span: dict[str, Any]) -> tuple[int, int] | None:
    start = day_of(span.get("start")) if span.get("start") else MIN_DAY
    end = day_of(span.get("end")) if span.get("end") else MAX_DAY
    if start is None or end is None or start > end:
        return None
    return start, end


def _document_payload(document: Document) -> dict[str, Any]:
    """``Document.to_dict(flatten=False)`` without the embedding and score, and without its deep copy of the
    embedding list (which costs more than the rest of a write)."""
    data: dict[str, Any] = {}
    for item in fields(document):
        if item.name in ("embedding", "score"):
            continue
        value = getattr(document, item.name)
        if item.name in ("blob", "sparse_embedding") and value is not None:
            value = value.to_dict()
        data[item.name] = value
    data["score"] = None
    return data


def _encode_vector(embedding: Sequence[float]) -> bytes:
    """float32 bytes when that is exact (model outputs are), float64 otherwise, so documents round-trip."""
    as64 = np.asarray(embedding, dtype=np.float64)
    as32 = as64.astype(np.float32)
    if np.array_equal(as32.astype(np.float64), as64):
        return as32.tobytes()
    return as64.tobytes()


def decode_vector(blob: bytes, dim: int) -> np.ndarray:
    """A stored vector as the float32 or float64 array it was written as.

    :param blob: the ``vector`` column.
    :param dim: the store's dimension.
    :returns: the vector (a view of ``blob``).
    """
    dtype = np.float32 if len(blob) == dim * 4 else np.float64
    return np.frombuffer(blob, dtype=dtype)


def normalise(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length as float32 (a zero row stays zero, scoring 0, instead of becoming NaN)."""
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return matrix / norms


def copy_without_embedding(documents: list[Document]) -> list[Document]:
    """
    :param documents: documents.
    :returns: copies without their embeddings (what retrievers return).
    """
    return [replace(d, embedding=None) for d in documents]


@dataclass
class WriteOutcome:
    """What a committed write changed, for the vector index to follow.

    :param written: passages written.
    :param removed: rowids whose vectors left (overwritten or deleted passages).
    :param added_ids: rowids of the new vectors.
    :param added_vectors: the new vectors as stored (not normalised).
    :param behind: the in-memory view was behind the database before this write (another process
        committed meanwhile), so the index must be rebuilt rather than patched.
    """

    written: int = 0
    removed: list[int] = field(default_factory=list)
    added_ids: list[int] = field(default_factory=list)
    added_vectors: list[np.ndarray] = field(default_factory=list)
    behind: bool = False


class RowStore:
    """The SQLite database of one store folder and the generation this process has seen of it."""

    def __init__(self, folder: Path, path: str, read_only: bool, derived_files: Sequence[str] = ()) -> None:
        """
        Open (or create, unless ``read_only``) ``store.sqlite`` in ``folder``.

        :param folder: the store folder.
        :param path: the folder as the user gave it (for messages).
        :param read_only: never write.
        :param derived_files: files derived from the database (the vector index): one of them without the
            database means the database was lost, not that the store is new.
        :raises StoreError: when ``read_only`` and there is no database.
        :raises StoreCorruptError: when the database cannot be read, or a derived file is there without it.
        :raises StoreMismatchError: when the database has another schema version.
        """
        self.folder = folder
        self.path = path
        self.read_only = read_only
        self.generation = 0
        self.model_id = ""
        self.dim = 0
        self.conn: sqlite3.Connection | None = self._open(derived_files)

    # ------------------------------------------------------------------ opening
    def _open(self, derived_files: Sequence[str]) -> sqlite3.Connection:
        sqlite_path = self.folder / SQLITE_FILE
        if not sqlite_path.exists():
            if self.read_only:
                raise StoreError(f"no store at {self.path!r} (missing {SQLITE_FILE})")
            for name in derived_files:
                if (self.folder / name).exists():
                    raise StoreCorruptError(self.path, f"{name} exists but {SQLITE_FILE} is missing")
            self.folder.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(
                str(sqlite_path), check_same_thread=False, isolation_level=None, timeout=30
            )
            conn.execute("PRAGMA journal_mode=WAL")
            # FULL: a committed batch survives power loss too, not only a killed process.
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._check_schema_version(conn)
            if not self.read_only:
                conn.executescript(_SCHEMA)
            conn.execute("SELECT count(*) FROM passages").fetchone()
        except sqlite3.DatabaseError as exc:
            raise StoreCorruptError(
                self.path, f"{SQLITE_FILE} cannot be read ({exc})", repair="recover"
            ) from exc
        return conn

    def _check_schema_version(self, conn: sqlite3.Connection) -> None:
        has_info = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'info'"
        ).fetchone()
        if not has_info:
            return
        row = conn.execute("SELECT value FROM info WHERE key = 'schema_version'").fetchone()
        if row and int(row[0]) != SCHEMA_VERSION:
            raise StoreMismatchError(
                f"store {self.path!r} has schema version {row[0]}; this chronorag reads version "
                f"{SCHEMA_VERSION}: index the corpus again into a new store"
            )

    def info(self, key: str) -> str | None:
        """:returns: a value of the ``info`` table (model, dimension, generation...), or ``None``."""
        row = self.conn.execute("SELECT value FROM info WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_info(self, key: str, value: Any) -> None:
        """Set an ``info`` value (inside the caller's transaction)."""
        self.conn.execute("INSERT OR REPLACE INTO info(key, value) VALUES (?, ?)", (key, str(value)))

    def database_generation(self) -> int:
        """:returns: the generation committed in the database (by any process)."""
        return int(self.info("generation") or 0)

    def init_info(
        self, embedding_model: str | None, embedding_dim: int | None, index_type: str | None
    ) -> str:
        """
        Record a new store's settings, or check the caller's against the recorded ones.

        :param embedding_model: the model asked for (``None``: what is recorded; the default for a new store).
        :param embedding_dim: the dimension asked for (``None``: what is recorded; 384 for a new store).
        :param index_type: the index type asked for (``None``: what is recorded; ``flat`` for a new store).
            Another type than the recorded one is recorded (it takes effect at the next rebuild).
        :returns: the index type in effect.
        :raises StoreMismatchError: when the store holds vectors of another model or dimension.
        """
        recorded_model = self.info("embedding_model")
        recorded_dim = self.info("embedding_dim")
        if recorded_model is None:
            from chronorag.models import embedding_model_id

            model = embedding_model or embedding_model_id()
            dim = embedding_dim or DEFAULT_DIM
            self.conn.execute("BEGIN IMMEDIATE")
            for key, value in (
                ("schema_version", SCHEMA_VERSION),
                ("embedding_model", model),
                ("embedding_dim", dim),
                ("index_type", index_type or "flat"),
                ("generation", 0),
                ("created", datetime.now().isoformat(timespec="seconds")),
            ):
                # OR IGNORE: another process creating the same store at the same moment wins, intact.
                self.conn.execute("INSERT OR IGNORE INTO info(key, value) VALUES (?, ?)", (key, str(value)))
            self.conn.execute("COMMIT")
            recorded_model = self.info("embedding_model")
            recorded_dim = self.info("embedding_dim")
        recorded_type = self.info("index_type") or "flat"
        if index_type is not None and index_type != recorded_type and not self.read_only:
            self.conn.execute("BEGIN IMMEDIATE")
            self.set_info("index_type", index_type)
            self.conn.execute("COMMIT")
        if embedding_model is not None and embedding_model != recorded_model:
            raise StoreMismatchError(
                f"store {self.path!r} holds vectors of {recorded_model!r}, not {embedding_model!r}; "
                "index into a new store or re-index this one with that model"
            )
        if embedding_dim is not None and int(recorded_dim) != embedding_dim:
            raise StoreMismatchError(
                f"store {self.path!r} holds {recorded_dim}-d vectors, not {embedding_dim}-d ones"
            )
        self.model_id = recorded_model
        self.dim = int(recorded_dim)
        self.generation = self.database_generation()
        if not self.read_only and self.info("pub_day_policy") != "proven":
            self._unindex_inferred_dates()
        return index_type or recorded_type

    def _unindex_inferred_dates(self) -> None:
        """Stores written before the inferred-date policy indexed inferred dates as publication days."""
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.execute(
            "UPDATE passages SET pub_day = NULL WHERE pub_day IS NOT NULL "
            "AND json_extract(data, '$.meta.date_source') = ?",
            (SOURCE_INFERRED,),
        )
        self.set_info("pub_day_policy", "proven")
        self.conn.execute("COMMIT")

    def close(self) -> None:
        """Close the database (idempotent)."""
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    # ------------------------------------------------------------------ (de)serialising passages
    def document_to_row(self, document: Document) -> Row:
        """
        :param document: a passage.
        :returns: its row.
        :raises EmbeddingDimensionError: when its embedding has another dimension than the store's.
        """
        data = _document_payload(document)
        vector = None
        if document.embedding is not None:
            if len(document.embedding) != self.dim:
                raise EmbeddingDimensionError(
                    f"document {document.id!r} has a {len(document.embedding)}-d embedding; "
                    f"store {self.path!r} holds {self.dim}-d vectors of {self.model_id!r}"
                )
            vector = _encode_vector(document.embedding)
        meta = document.meta or {}
        spans = []
        for span in meta.get("time_spans") or []:
            days = _span_days(span) if isinstance(span, dict) else None
            if days:
                spans.append(days)
        # The publication-day index holds proof of publication only: an inferred date is an estimate
        # (chronorag.temporal.meta), so the as-of cut never drops a passage for it.
        published = None if is_inferred(meta) else day_of(meta.get("date"))
        return json.dumps(data, default=_json_default), published, vector, spans

    def row_to_document(self, data: str, vector: bytes | None, score: float | None = None) -> Document:
        """
        :param data: the ``data`` column (the passage's JSON).
        :param vector: the ``vector`` column, or ``None`` to leave the embedding out.
        :param score: the score to set.
        :returns: the passage.
        """
        payload = json.loads(data)
        embedding = decode_vector(vector, self.dim).tolist() if vector is not None else None
        plain = payload.get("blob") is None and payload.get("sparse_embedding") is None
        if plain and payload.keys() <= _PLAIN_PAYLOAD:
            # What from_dict would build, without its generic field sorting (a third of the cost of a row).
            return Document(
                id=payload["id"],
                content=payload.get("content"),
                meta=payload.get("meta") or {},
                embedding=embedding,
                score=score,
            )
        if embedding is not None:
            payload["embedding"] = embedding
        payload["score"] = score
        return Document.from_dict(payload)

    # ------------------------------------------------------------------ writes
    def write(
        self,
        documents: list[Document],
        rows: list[Row],
        policy: DuplicatePolicy,
        sources: dict[str, tuple[str, int]],
        replace_sources: list[str],
    ) -> WriteOutcome:
        """
        Write passages, their sources and a new generation in one transaction.

        :param documents: the passages.
        :param rows: their rows (:meth:`document_to_row`), in the same order.
        :param policy: ``FAIL``, ``SKIP`` or ``OVERWRITE`` for ids already stored or repeated in the batch.
        :param sources: ``{doc_id: (content_hash, passage_count)}`` to record.
        :param replace_sources: doc ids whose earlier passages are deleted first.
        :returns: what changed.
        :raises DuplicateDocumentError: with ``FAIL`` when an id exists; nothing is written then.
        """
        existing = self.existing_rowids([d.id for d in documents])
        chosen: dict[str, int] = {}
        for position, document in enumerate(documents):
            if document.id in existing or document.id in chosen:
                if policy == DuplicatePolicy.FAIL:
                    raise DuplicateDocumentError(f"ID '{document.id}' already exists.")
                if policy == DuplicatePolicy.SKIP:
                    continue
            chosen[document.id] = position  # OVERWRITE: the last copy wins
        outcome = WriteOutcome(written=len(chosen))
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            for doc_id in replace_sources:
                outcome.removed.extend(self.delete_where("doc_id = ?", [doc_id]))
            overwritten = [existing[i] for i in chosen if i in existing]
            outcome.removed.extend(self.delete_rowids(overwritten))
            for doc_id, position in chosen.items():
                self._insert(doc_id, documents[position], rows[position], outcome)
            for doc_id, (content_hash, count) in sources.items():
                conn.execute(
                    "INSERT OR REPLACE INTO sources(doc_id, content_hash, passages) VALUES (?, ?, ?)",
                    (doc_id, content_hash, count),
                )
            outcome.behind = self._next_generation()
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            self.generation = self.database_generation()
            raise
        return outcome

    def _insert(self, doc_id: str, document: Document, row: Row, outcome: WriteOutcome) -> None:
        data, pub_day, vector, spans = row
        source = (document.meta or {}).get("doc_id")
        cursor = self.conn.execute(
            "INSERT INTO passages(id, doc_id, pub_day, has_vector, data, vector) VALUES (?, ?, ?, ?, ?, ?)",
            (
                doc_id,
                str(source) if source is not None else None,
                pub_day,
                int(vector is not None),
                data,
                vector,
            ),
        )
        rowid = cursor.lastrowid
        if spans:
            self.conn.executemany(
                "INSERT INTO spans(id, start_day, end_day) VALUES (?, ?, ?)",
                [((rowid << SPAN_BITS) + k, s, e) for k, (s, e) in enumerate(spans[: 1 << SPAN_BITS])],
            )
        if vector is not None:
            outcome.added_ids.append(rowid)
            outcome.added_vectors.append(decode_vector(vector, self.dim))

    def commit_deletion(self, delete: Callable[[], list[int]]) -> WriteOutcome:
        """
        Run ``delete`` and number the change, in one transaction.

        :param delete: deletes rows (with :meth:`delete_rowids`, :meth:`delete_where` or SQL) and returns the
            rowids whose vectors left.
        :returns: what changed.
        """
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            outcome = WriteOutcome(removed=delete())
            outcome.behind = self._next_generation()
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            self.generation = self.database_generation()
            raise
        return outcome

    def _next_generation(self) -> bool:
        """Number the write in progress (inside its transaction) from the database's own counter.

        :returns: whether this process's view was behind the database (a commit it did not see), in which
            case the vector index is rebuilt from SQLite rather than patched with the write.
        """
        on_disk = self.database_generation()
        behind = on_disk != self.generation
        self.generation = on_disk + 1
        self.set_info("generation", self.generation)
        return behind

    def existing_rowids(self, ids: list[str]) -> dict[str, int]:
        """:returns: ``{passage id: rowid}`` of the ``ids`` stored."""
        found: dict[str, int] = {}
        unique = list(dict.fromkeys(ids))
        for chunk, marks in in_chunks(unique):
            for doc_id, rowid in self.conn.execute(
                f"SELECT id, rowid FROM passages WHERE id IN ({marks})", chunk
            ):
                found[doc_id] = rowid
        return found

    def delete_rowids(self, rowids: list[int]) -> list[int]:
        """Delete rows (inside the caller's transaction); returns the rowids that had vectors."""
        with_vectors: list[int] = []
        for chunk, marks in in_chunks(rowids):
            with_vectors.extend(
                r[0]
                for r in self.conn.execute(
                    f"SELECT rowid FROM passages WHERE rowid IN ({marks}) AND has_vector = 1", chunk
                )
            )
            self.conn.execute(f"DELETE FROM passages WHERE rowid IN ({marks})", chunk)
            self.conn.executemany(
                "DELETE FROM spans WHERE id BETWEEN ? AND ?",
                [(r << SPAN_BITS, ((r + 1) << SPAN_BITS) - 1) for r in chunk],
            )
        return with_vectors

    def delete_where(self, where: str, params: list[Any]) -> list[int]:
        """Delete the rows matching a SQL condition (in the caller's transaction), as ``delete_rowids``."""
        rowids = [r[0] for r in self.conn.execute(f"SELECT rowid FROM passages WHERE {where}", params)]
        return self.delete_rowids(rowids)

    def delete_source(self, doc_id: str) -> list[int]:
        """Delete a source document's passages and its record (inside the caller's transaction)."""
        self.conn.execute("DELETE FROM sources WHERE doc_id = ?", (doc_id,))
        return self.delete_where("doc_id = ?", [doc_id])

    def delete_everything(self) -> list[int]:
        """Delete every passage, span and source (inside the caller's transaction); returns the rowids
        that had vectors, so the index drops them before it is saved at the new generation."""
        rows = self.conn.execute("SELECT rowid FROM passages WHERE has_vector = 1")
        with_vectors = [r[0] for r in rows]
        self.conn.execute("DELETE FROM sources")
        self.conn.execute("DELETE FROM spans")
        self.conn.execute("DELETE FROM passages")
        return with_vectors

    # ------------------------------------------------------------------ reads
    def count(self, where: str = "1", params: Sequence[Any] = ()) -> int:
        """:returns: the number of passages matching a SQL condition (all by default)."""
        return self.conn.execute(f"SELECT count(*) FROM passages WHERE {where}", params).fetchone()[0]

    def documents_where(self, where: str, params: list[Any]) -> list[Document]:
        """:returns: the passages matching a SQL condition, with embeddings, in insertion order."""
        rows = self.conn.execute(
            f"SELECT data, vector FROM passages WHERE {where} ORDER BY rowid", params
        ).fetchall()
        return [self.row_to_document(data, vector) for data, vector in rows]

    def documents_by_id(self, ids: list[str], return_embedding: bool) -> list[Document]:
        """:returns: the passages of ``ids`` in the order asked (unknown ids left out)."""
        found: dict[str, Document] = {}
        column = "vector" if return_embedding else "NULL"
        for chunk, marks in in_chunks(ids):
            for pid, data, vector in self.conn.execute(
                f"SELECT id, data, {column} FROM passages WHERE id IN ({marks})", chunk
            ):
                found[pid] = self.row_to_document(data, vector)
        return [found[i] for i in ids if i in found]

    def page(self, after_rowid: int, size: int, return_embedding: bool) -> list[tuple[int, Document]]:
        """:returns: up to ``size`` ``(rowid, passage)`` pairs after ``after_rowid``, in rowid order."""
        column = "vector" if return_embedding else "NULL"
        rows = self.conn.execute(
            f"SELECT rowid, data, {column} FROM passages WHERE rowid > ? ORDER BY rowid LIMIT ?",
            (after_rowid, size),
        ).fetchall()
        return [(rowid, self.row_to_document(data, vector)) for rowid, data, vector in rows]

    def iter_texts(self, batch_size: int) -> Iterator[list[tuple[int, str]]]:
        """:returns: batches of ``(rowid, passage_text)`` of every passage, in rowid order."""
        from chronorag.indexers.text import passage_text

        last = 0
        while True:
            rows = self.conn.execute(
                "SELECT rowid, data FROM passages WHERE rowid > ? ORDER BY rowid LIMIT ?", (last, batch_size)
            ).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            yield [(rowid, passage_text(Document.from_dict(json.loads(data)))) for rowid, data in rows]

    def source_hashes(self) -> dict[str, str]:
        """:returns: ``{doc_id: content_hash}`` of every ingested source document."""
        return dict(self.conn.execute("SELECT doc_id, content_hash FROM sources"))

    def rowids_to_ids(self, rowids: list[int]) -> dict[int, str]:
        """:returns: ``{rowid: passage id}``."""
        found: dict[int, str] = {}
        for chunk, marks in in_chunks(rowids):
            found.update(self.conn.execute(f"SELECT rowid, id FROM passages WHERE rowid IN ({marks})", chunk))
        return found

    def fetch_scored(self, rowids: list[int], scores: list[float], return_embedding: bool) -> list[Document]:
        """:returns: the passages of ``rowids`` in that order, with their scores."""
        if not rowids:
            return []
        column = "vector" if return_embedding else "NULL"
        marks = ",".join("?" * len(rowids))
        rows = {
            r[0]: r[1:]
            for r in self.conn.execute(
                f"SELECT rowid, data, {column} FROM passages WHERE rowid IN ({marks})", rowids
            )
        }
        return [
            self.row_to_document(rows[r][0], rows[r][1], float(s))
            for r, s in zip(rowids, scores, strict=True)
            if r in rows
        ]

    def rowid_array(self, sql: str, params: list[Any]) -> np.ndarray:
        """:returns: the first column of a query's rows as an int64 array."""
        rows = self.conn.execute(sql, params).fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def rows_by_rowid(self, rowids: np.ndarray, columns: str) -> list[tuple]:
        """:returns: ``(rowid, *columns)`` of the rows of ``rowids``."""
        rows: list[tuple] = []
        for chunk, marks in in_chunks(rowids):
            rows.extend(
                self.conn.execute(f"SELECT rowid, {columns} FROM passages WHERE rowid IN ({marks})", chunk)
            )
        return rows

    # ------------------------------------------------------------------ vectors
    def count_vectors(self) -> int:
        """:returns: the number of passages with a vector."""
        return self.count("has_vector = 1")

    def vector_rowids(self) -> np.ndarray:
        """:returns: the rowids of the passages with a vector, ascending."""
        return self.rowid_array("SELECT rowid FROM passages WHERE has_vector = 1 ORDER BY rowid", [])

    def iter_vectors(self, batch: int = 20_000) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """:returns: ``(rowids, unit vectors)`` batches of every stored vector, in rowid order."""
        last = 0
        while True:
            rows = self.conn.execute(
                "SELECT rowid, vector FROM passages WHERE has_vector = 1 AND rowid > ? "
                "ORDER BY rowid LIMIT ?",
                (last, batch),
            ).fetchall()
            if not rows:
                return
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            matrix = np.stack([decode_vector(r[1], self.dim) for r in rows]).astype(np.float32)
            last = int(ids[-1])
            yield ids, normalise(matrix)

    def vectors_of(self, rowids: np.ndarray) -> np.ndarray:
        """:returns: the stored vectors of ``rowids``, normalised, in their order."""
        vectors = []
        for chunk, marks in in_chunks(rowids):
            sql = f"SELECT rowid, vector FROM passages WHERE rowid IN ({marks})"
            by_id = dict(self.conn.execute(sql, chunk))
            vectors.extend(decode_vector(by_id[r], self.dim) for r in chunk)
        return normalise(np.stack(vectors))
