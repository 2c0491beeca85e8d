"""``ChronoDocumentStore``: passages, dates and time spans in SQLite; vectors in FAISS.

Layout of a store folder::

    store.sqlite   documents (JSON), float vectors (BLOB), publication day, time spans, generation
    vectors.faiss  the FAISS index of the same vectors, with a header naming its generation and checksum
    bm25/          the lexical index (see ``bm25.py``), rebuilt lazily after writes
    events.*       the event index (see ``events.py``)

SQLite is the source of truth and the FAISS file is a derived, durable cache:

1. a write commits the rows, their vectors and a new *generation* number in one SQLite
   transaction (WAL, ``synchronous=FULL``), then updates the in-memory FAISS index;
2. the FAISS file is saved atomically (temp file, fsync, rename, fsync of the folder) with the
   generation and a CRC32 of the index bytes in its header, and only then is that generation
   and checksum recorded in SQLite.

So after a crash at any point the file's generation is either the committed one (use it) or an
older one (rebuild the index from the SQLite vectors, which hold every committed write). A file
whose header says the current generation but whose bytes do not match the checksum, or a file
from a *later* generation than SQLite knows, cannot come from a crash: opening such a store raises
:class:`StoreCorruptError` naming ``chronorag store rebuild DIR``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import sqlite3
import struct
import threading
import time
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import fields, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
from haystack import Document, default_from_dict, default_to_dict
from haystack.document_stores.errors import DuplicateDocumentError
from haystack.document_stores.types import DuplicatePolicy
from haystack.errors import FilterError
from haystack.utils.filters import document_matches_filter

from chronorag.indexers.errors import (
    EmbeddingDimensionError,
    StoreCorruptError,
    StoreError,
    StoreMismatchError,
)
from chronorag.indexers.store_extended import ExtendedStoreMixin
from chronorag.temporal.meta import SOURCE_INFERRED, is_inferred
from chronorag.temporal.model import MAX_DAY, MIN_DAY, Interval

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

SQLITE_FILE = "store.sqlite"
FAISS_FILE = "vectors.faiss"
LOCK_FILE = "store.lock"
SCHEMA_VERSION = 2
INDEX_TYPES = ("flat", "flat16", "ivf", "hnsw")
DEFAULT_DIM = 384

_FAISS_MAGIC = b"CHRONOFAISS2"
# The FAISS bytes come first (so FAISS reads the file directly, with no copy in Python) and this
# trailer last: magic, generation, ntotal, crc32 and length of the FAISS bytes.
_FAISS_TRAILER = struct.Struct("<12sqqIq")
_FAISS_MAGIC_V1 = b"CHRONOFAISS1"  # the same fields as a header before the FAISS bytes (still read)
_CRC_CHUNK = 64 << 20
_SPAN_BITS = 10  # up to 1,024 spans per passage
_SQL_CHUNK = 900  # stay under SQLite's default limit of bound parameters


def _in_chunks(values: Sequence[Any]) -> Iterator[tuple[list[Any], str]]:
    """``(chunk, "?,?,...")`` pairs for ``IN (...)`` queries of at most ``_SQL_CHUNK`` bound values."""
    for start in range(0, len(values), _SQL_CHUNK):
        chunk = values[start : start + _SQL_CHUNK]
        chunk = chunk.tolist() if isinstance(chunk, np.ndarray) else list(chunk)
        yield chunk, ",".join("?" * len(chunk))


class FolderLock:
    """An exclusive ``flock`` on a lock file (the store's: ``store.lock``), shared by every process using it.

    SQLite serialises commits by itself; this lock also covers what follows a commit (the FAISS file and
    the derived lexical index), so two processes serving one store (``chronorag serve`` with several
    workers) never interleave their writes or number two commits with the same generation. Re-entrant in
    the thread that holds it; a no-op where ``fcntl`` is missing (one process per store there).
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._mutex = threading.RLock()
        self._depth = 0
        self._fd: int | None = None

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        with self._mutex:
            if self._depth == 0 and fcntl is not None:
                fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                except BaseException:
                    os.close(fd)
                    raise
                self._fd = fd
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self._fd is not None:
                    fd, self._fd = self._fd, None
                    fcntl.flock(fd, fcntl.LOCK_UN)
                    os.close(fd)


_SMALL_INDEX_BYTES = 8 << 20  # indexes up to this size are saved after every write
_IVF_MIN_VECTORS = 10_000  # below this an IVF index is not worth training: keep exact search
# The most an inner product of unit vectors can move when the stored side is rounded to fp16 (relative error
# <= 2^-11 per component, so ||x16 - x|| <= 2^-11 plus subnormals), with fp32 summation error on both sides.
_FP16_SCORE_ERROR = 6e-4
_SPLIT_MIN_VECTORS = 32_768  # below this a flat scan is too short to gain from splitting across threads

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


def _faiss() -> Any:
    import faiss

    return faiss


def _json_default(value: Any) -> Any:
    # Dates in meta are kept as ISO strings, the form filters compare and the API returns.
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"meta value of type {type(value).__name__} is not JSON serialisable")


def _day_of(value: Any) -> int | None:
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
    start = _day_of(span.get("start")) if span.get("start") else MIN_DAY
    end = _day_of(span.get("end")) if span.get("end") else MAX_DAY
    if start is None or end is None or start > end:
        return None
    return start, end


def _crc_of(handle: Any, length: int) -> int:
    """CRC32 of a file's first ``length`` bytes, read in chunks (indexes can be gigabytes)."""
    handle.seek(0)
    crc = 0
    remaining = length
    while remaining > 0:
        chunk = handle.read(min(_CRC_CHUNK, remaining))
        if not chunk:
            break
        crc = zlib.crc32(chunk, crc)
        remaining -= len(chunk)
    return crc if remaining == 0 else -1


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


def _decode_vector(blob: bytes, dim: int) -> np.ndarray:
    dtype = np.float32 if len(blob) == dim * 4 else np.float64
    return np.frombuffer(blob, dtype=dtype)


def _normalise(matrix: np.ndarray) -> np.ndarray:
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0  # a zero vector stays zero (scores 0) instead of becoming NaN
    return matrix / norms


_SQL_COLUMNS = {"id": "id", "meta.doc_id": "doc_id"}
_PLAIN_PAYLOAD = frozenset({"id", "content", "blob", "meta", "sparse_embedding", "score", "embedding"})


def _narrowing_sql(filters: dict[str, Any]) -> tuple[str, list[Any]]:
    """A SQL superset of what ``filters`` match, from ``==``/``in`` conditions on indexed columns.

    Haystack's own matcher still decides on the narrowed rows, so the semantics stay exact; this only
    spares parsing every row when a filter names documents (``meta.doc_id``) or passages (``id``).
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
            if len(value) <= _SQL_CHUNK:
                return f"{column} IN ({','.join('?' * len(value))})", list(value)
    return "1", []


def validate_filters(filters: dict[str, Any]) -> None:
    """Check the structure of Haystack filters up front, so malformed ones fail even on an empty store.

    :param filters: Haystack filters.
    :raises FilterError: when a condition lacks a key or a logical operator lacks its conditions.
    """
    if not isinstance(filters, dict):
        raise FilterError(f"filters must be a dict, not {type(filters).__name__}")
    if "field" in filters:
        for key in ("operator", "value"):
            if key not in filters:
                raise FilterError(f"'{key}' key missing in {filters}")
        return
    if "operator" not in filters:
        raise FilterError(f"'operator' key missing in {filters}")
    if "conditions" not in filters:
        raise FilterError(f"'conditions' key missing in {filters}")
    if filters["operator"] not in ("AND", "OR", "NOT"):
        raise FilterError(f"unknown logical operator {filters['operator']!r}")
    for condition in filters["conditions"]:
        validate_filters(condition)


class ChronoDocumentStore(ExtendedStoreMixin):
    """A Haystack DocumentStore over SQLite (documents, dates, spans) and FAISS (vectors).

    Usage::

        store = ChronoDocumentStore("my_store")
        store.write_documents(documents_with_embeddings)
        store.search(query_embedding, top_k=5, time_window=Interval.years(1995, 1997))
    """

    def __init__(
        self,
        path: str,
        embedding_model: str | None = None,
        embedding_dim: int | None = None,
        index_type: str | None = None,
        use_gpu: str | bool = "auto",
        save_every_s: float = 10.0,
        ivf_nprobe: int = 16,
        hnsw_ef_search: int = 64,
        read_only: bool = False,
        search_threads: int | None = None,
    ) -> None:
        """
        Open the store in ``path``, creating it when the folder holds none.

        :param path: the store folder (kept as given in ``to_dict``).
        :param embedding_model: the model the vectors come from; ``None`` accepts the store's recorded model
            (a new store records ``chronorag.models.embedding_model_id()``); another recorded model raises.
        :param embedding_dim: the vector dimension; ``None`` accepts the recorded one (384 for a new store).
        :param index_type: ``"flat"`` (exact), ``"flat16"`` (fp16 scan, exact re-scoring; ~3x faster),
            ``"ivf"`` or ``"hnsw"`` for large stores (re-scored exactly too); ``None`` keeps the
            store's recorded type (``"flat"`` for a new store). A new type takes effect at the next rebuild.
        :param use_gpu: ``"auto"`` (GPU when FAISS sees one), ``True`` or ``False``.
        :param save_every_s: after a write, save the FAISS file when the last save is older than this;
            ``0`` saves after every write. ``flush()``/``close()`` always save.
        :param ivf_nprobe: IVF lists probed per query.
        :param hnsw_ef_search: HNSW search depth.
        :param read_only: never write (the FAISS file is not saved either).
        :param search_threads: threads one unfiltered exact search of a large flat index (>= 32k vectors) is
            split across, each scanning a contiguous share of the vectors (the same exact scores; a single
            query does not parallelise inside FAISS). ``None`` reads ``CHRONORAG_SEARCH_THREADS`` (default 1:
            a server answering several queries at once already keeps its cores busy).

        ``CHRONORAG_FAISS_THREADS`` in the environment sets FAISS's OpenMP threads (process-wide).
        :raises StoreMismatchError: when the store holds vectors of another model or dimension.
        :raises StoreCorruptError: when the files cannot be read or disagree beyond crash recovery.
        """
        if index_type is not None and index_type not in INDEX_TYPES:
            raise ValueError(f"index_type must be one of {INDEX_TYPES}, not {index_type!r}")
        self.path = str(path)
        self.embedding_model = embedding_model
        self.embedding_dim = embedding_dim
        self._index_type_param = index_type
        self.index_type = index_type or "flat"
        self.use_gpu = use_gpu
        self.save_every_s = save_every_s
        self.ivf_nprobe = ivf_nprobe
        self.hnsw_ef_search = hnsw_ef_search
        self.read_only = read_only
        self.search_threads = search_threads
        self._threads = max(1, int(search_threads or os.environ.get("CHRONORAG_SEARCH_THREADS") or 1))
        self._pool: Any = None
        self._index_positions: np.ndarray | None = None  # FAISS position -> id
        self._positions_by_id: tuple[np.ndarray, np.ndarray] | None = None  # sorted ids, their positions

        self._folder = Path(self.path)
        self._lock = threading.RLock()
        # Taken after ``_lock`` (never before it): writes, index saves and lexical-index rebuilds.
        self._folder_lock = FolderLock(self._folder / LOCK_FILE)
        self._pub_days: tuple[int, int | None, int | None] | None = None  # (generation, min, max)
        self._num_gpus: int | None = None
        self._index: Any = None
        self._gpu_index: Any = None
        self._index_stale = False
        self._vector_ids_cache: np.ndarray | None = None
        self._generation = 0
        self._last_save = time.monotonic()
        self._dirty = False
        threads = os.environ.get("CHRONORAG_FAISS_THREADS")
        if threads:
            # OpenMP threads spin while waiting: on a busy shared CPU one thread per search is faster.
            _faiss().omp_set_num_threads(int(threads))
        self._conn = self._open_sqlite()
        self._init_info()
        self._load_index()

    # ------------------------------------------------------------------ opening
    def _open_sqlite(self) -> sqlite3.Connection:
        sqlite_path = self._folder / SQLITE_FILE
        if not sqlite_path.exists():
            if self.read_only:
                raise StoreError(f"no store at {self.path!r} (missing {SQLITE_FILE})")
            if (self._folder / FAISS_FILE).exists():
                raise StoreCorruptError(self.path, f"{FAISS_FILE} exists but {SQLITE_FILE} is missing")
            self._folder.mkdir(parents=True, exist_ok=True)
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
            raise StoreCorruptError(self.path, f"{SQLITE_FILE} cannot be read ({exc})") from exc
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

    def _info(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM info WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _set_info(self, key: str, value: Any) -> None:
        self._conn.execute("INSERT OR REPLACE INTO info(key, value) VALUES (?, ?)", (key, str(value)))

    def _init_info(self) -> None:
        recorded_model = self._info("embedding_model")
        recorded_dim = self._info("embedding_dim")
        if recorded_model is None:
            from chronorag.models import embedding_model_id

            model = self.embedding_model or embedding_model_id()
            dim = self.embedding_dim or DEFAULT_DIM
            self._conn.execute("BEGIN IMMEDIATE")
            for key, value in (
                ("schema_version", SCHEMA_VERSION),
                ("embedding_model", model),
                ("embedding_dim", dim),
                ("index_type", self.index_type),
                ("generation", 0),
                ("created", datetime.now().isoformat(timespec="seconds")),
            ):
                # OR IGNORE: another process creating the same store at the same moment wins, intact.
                self._conn.execute("INSERT OR IGNORE INTO info(key, value) VALUES (?, ?)", (key, str(value)))
            self._conn.execute("COMMIT")
            recorded_model = self._info("embedding_model")
            recorded_dim = self._info("embedding_dim")
        recorded_type = self._info("index_type") or "flat"
        if self._index_type_param is None:
            self.index_type = recorded_type
        elif self._index_type_param != recorded_type and not self.read_only:
            self._conn.execute("BEGIN IMMEDIATE")
            self._set_info("index_type", self._index_type_param)
            self._conn.execute("COMMIT")
        if self.embedding_model is not None and self.embedding_model != recorded_model:
            raise StoreMismatchError(
                f"store {self.path!r} holds vectors of {recorded_model!r}, not {self.embedding_model!r}; "
                "index into a new store or re-index this one with that model"
            )
        if self.embedding_dim is not None and int(recorded_dim) != self.embedding_dim:
            raise StoreMismatchError(
                f"store {self.path!r} holds {recorded_dim}-d vectors, not {self.embedding_dim}-d ones"
            )
        self.model_id = recorded_model
        self.dim = int(recorded_dim)
        self._generation = int(self._info("generation") or 0)
        if not self.read_only and self._info("pub_day_policy") != "proven":
            self._unindex_inferred_dates()

    def _unindex_inferred_dates(self) -> None:
        """Stores written before the inferred-date policy indexed inferred dates as publication days."""
        self._conn.execute("BEGIN IMMEDIATE")
        self._conn.execute(
            "UPDATE passages SET pub_day = NULL WHERE pub_day IS NOT NULL "
            "AND json_extract(data, '$.meta.date_source') = ?",
            (SOURCE_INFERRED,),
        )
        self._set_info("pub_day_policy", "proven")
        self._conn.execute("COMMIT")

    def _load_index(self) -> None:
        if not self.read_only:
            # Under the folder lock: no other process commits or saves while the file and rows are compared.
            with self._folder_lock.held():
                self._load_index_once(last_try=True)
            return
        for attempt in range(3):
            # Without the lock a writer may save a later generation between our look at the database and our
            # read of the file: look again rather than call that corruption.
            if self._load_index_once(last_try=attempt == 2):
                return

    def _load_index_once(self, last_try: bool) -> bool:
        """Load or rebuild the index; ``False``: the file is newer than the database (not ``last_try``)."""
        faiss_path = self._folder / FAISS_FILE
        self._conn.execute("BEGIN")  # one snapshot for the generation and the row count
        try:
            self._generation = int(self._info("generation") or 0)
            count_vectors = "SELECT count(*) FROM passages WHERE has_vector = 1"
            vector_rows = self._conn.execute(count_vectors).fetchone()[0]
        finally:
            self._conn.execute("COMMIT")
        if not faiss_path.exists():
            if vector_rows:
                logger.warning(
                    "%s: %s is missing; rebuilding it from the SQLite vectors", self.path, FAISS_FILE
                )
            self._rebuild_index_locked(save=not self.read_only)
            return True
        generation, ntotal, index = self._read_faiss_file(faiss_path)
        if generation > self._generation and not last_try:
            return False
        if generation > self._generation:
            raise StoreCorruptError(
                self.path,
                f"{FAISS_FILE} is from generation {generation}, newer than the database ({self._generation})",
            )
        if generation < self._generation:
            # A crash after a commit and before the index was saved: SQLite holds every committed vector.
            logger.warning(
                "%s: vector index is at generation %d, the database at %d (interrupted write); rebuilding",
                self.path,
                generation,
                self._generation,
            )
            self._rebuild_index_locked(save=not self.read_only)
            return True
        if ntotal != vector_rows:
            raise StoreCorruptError(
                self.path, f"{FAISS_FILE} holds {ntotal} vectors but the database {vector_rows}"
            )
        if index.d != self.dim:
            raise StoreCorruptError(
                self.path, f"{FAISS_FILE} holds {index.d}-d vectors, the store records {self.dim}"
            )
        self._index = self._configure(index)
        return True

    def _read_faiss_file(self, faiss_path: Path) -> tuple[int, int, Any]:
        faiss = _faiss()
        size = faiss_path.stat().st_size
        if size < _FAISS_TRAILER.size:
            raise StoreCorruptError(self.path, f"{FAISS_FILE} is truncated ({size} bytes)")
        with open(faiss_path, "rb") as handle:
            if handle.read(len(_FAISS_MAGIC_V1)) == _FAISS_MAGIC_V1:
                return self._read_faiss_file_v1(faiss_path)
            handle.seek(size - _FAISS_TRAILER.size)
            magic, generation, ntotal, crc, length = _FAISS_TRAILER.unpack(handle.read(_FAISS_TRAILER.size))
            if magic != _FAISS_MAGIC:
                raise StoreCorruptError(self.path, f"{FAISS_FILE} is not a chronorag vector index")
            if generation != self._generation:
                return generation, ntotal, None
            if length != size - _FAISS_TRAILER.size or _crc_of(handle, length) != crc:
                raise StoreCorruptError(self.path, f"{FAISS_FILE} fails its checksum (damaged file)")
        try:
            index = faiss.read_index(str(faiss_path))
        except RuntimeError as exc:
            raise StoreCorruptError(self.path, f"{FAISS_FILE} cannot be read by FAISS ({exc})") from exc
        return generation, ntotal, index

    def _read_faiss_file_v1(self, faiss_path: Path) -> tuple[int, int, Any]:
        raw = faiss_path.read_bytes()
        magic, generation, ntotal, crc, length = _FAISS_TRAILER.unpack_from(raw)
        payload = memoryview(raw)[_FAISS_TRAILER.size :]
        if generation != self._generation:
            return generation, ntotal, None
        if len(payload) != length or zlib.crc32(payload) != crc:
            raise StoreCorruptError(self.path, f"{FAISS_FILE} fails its checksum (damaged file)")
        try:
            index = _faiss().deserialize_index(np.frombuffer(payload, dtype=np.uint8))
        except RuntimeError as exc:
            raise StoreCorruptError(self.path, f"{FAISS_FILE} cannot be read by FAISS ({exc})") from exc
        return generation, ntotal, index

    # ------------------------------------------------------------------ FAISS index
    def _configure(self, index: Any) -> Any:
        faiss = _faiss()
        inner = faiss.downcast_index(index.index) if hasattr(index, "index") else index
        if hasattr(inner, "nprobe"):
            inner.nprobe = self.ivf_nprobe
        if hasattr(inner, "hnsw"):
            inner.hnsw.efSearch = self.hnsw_ef_search
        self._forget_index_caches()
        return index

    def _forget_index_caches(self) -> None:
        """Drop what was derived from the index (GPU copy, id lists, position maps): it changed."""
        self._gpu_index = None
        self._vector_ids_cache = None
        self._index_positions = None
        self._positions_by_id = None

    def _new_index(self, vectors: np.ndarray) -> Any:
        """An empty index of the configured type, trained on ``vectors`` when it needs training."""
        faiss = _faiss()
        n = len(vectors)
        if self.index_type == "hnsw":
            inner = faiss.IndexHNSWFlat(self.dim, 32, faiss.METRIC_INNER_PRODUCT)
        elif self.index_type == "flat16":
            # Half the memory traffic of fp32 (a flat scan is bandwidth-bound); results are re-scored exactly.
            inner = faiss.IndexScalarQuantizer(
                self.dim, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
            )
        elif self.index_type == "ivf" and n >= _IVF_MIN_VECTORS:
            nlist = int(min(65536, max(16, 4 * math.sqrt(n))))
            quantizer = faiss.IndexFlatIP(self.dim)
            inner = faiss.IndexIVFFlat(quantizer, self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
            sample = (
                vectors if n <= 50 * nlist else vectors[np.random.default_rng(0).choice(n, 50 * nlist, False)]
            )
            inner.train(sample)
        else:
            inner = faiss.IndexFlatIP(self.dim)
        return self._configure(faiss.IndexIDMap2(inner))

    def _iter_vectors(self, batch: int = 20_000) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        last = 0
        while True:
            rows = self._conn.execute(
                "SELECT rowid, vector FROM passages WHERE has_vector = 1 AND rowid > ? "
                "ORDER BY rowid LIMIT ?",
                (last, batch),
            ).fetchall()
            if not rows:
                return
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            matrix = np.stack([_decode_vector(r[1], self.dim) for r in rows]).astype(np.float32)
            last = int(ids[-1])
            yield ids, _normalise(matrix)

    def _rebuild_index_locked(self, save: bool) -> None:
        chunks = list(self._iter_vectors())
        ids = np.concatenate([c[0] for c in chunks]) if chunks else np.zeros(0, dtype=np.int64)
        vectors = np.concatenate([c[1] for c in chunks]) if chunks else np.zeros((0, self.dim), np.float32)
        index = self._new_index(vectors)
        if len(ids):
            index.add_with_ids(vectors, ids)
        self._index = index
        self._index_stale = False
        self._dirty = True
        if save:
            self._save_index()

    def _save_index(self) -> None:
        """Write the FAISS file atomically, then record its generation and checksum in SQLite.

        Under the folder lock; an index behind the database (another process committed since this one
        last looked) is not saved: that file is the other process's to write, and a file left behind by
        a crash is rebuilt from SQLite on the next open anyway.
        """
        with self._folder_lock.held():
            if int(self._info("generation") or 0) != self._generation:
                self._dirty = False
                return
            self._save_index_locked()

    def _save_index_locked(self) -> None:
        faiss = _faiss()
        target = self._folder / FAISS_FILE
        tmp = target.with_name(FAISS_FILE + ".tmp")
        faiss.write_index(self._index, str(tmp))
        with open(tmp, "r+b") as handle:
            length = os.fstat(handle.fileno()).st_size
            crc = _crc_of(handle, length)
            handle.seek(length)
            handle.write(_FAISS_TRAILER.pack(_FAISS_MAGIC, self._generation, self._index.ntotal, crc, length))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
        dir_fd = os.open(self._folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        self._conn.execute("BEGIN IMMEDIATE")
        self._set_info("faiss_generation", self._generation)
        self._set_info("faiss_crc", crc)
        self._conn.execute("COMMIT")
        self._dirty = False
        self._last_save = time.monotonic()

    def _search_index(self) -> Any:
        """The index to search without a selector: a GPU copy when one is available and wanted."""
        if self._index_stale:
            self._rebuild_index_locked(save=False)
        if not self._gpu_enabled():
            return self._index
        if self._gpu_index is None:
            faiss = _faiss()
            try:
                self._gpu_index = faiss.index_cpu_to_all_gpus(self._index)
            except RuntimeError:
                logger.warning("%s: this index type cannot move to the GPU; searching on the CPU", self.path)
                self.use_gpu = False
                return self._index
        return self._gpu_index

    def _gpu_enabled(self) -> bool:
        if self.use_gpu is False or self.use_gpu == "false":
            return False
        if self._num_gpus is None:  # asked once: the driver call costs more than a small search
            faiss = _faiss()
            self._num_gpus = faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0
        return self._num_gpus > 0

    @property
    def device(self) -> str:
        """``"gpu"`` when searches run on a GPU, else ``"cpu"``."""
        return "gpu" if self._gpu_enabled() else "cpu"

    @property
    def generation(self) -> int:
        """The number of committed writes; changes whenever the contents change."""
        return self._generation

    def _sync_with_disk(self) -> None:
        """Follow writes committed by another process (or connection) since this one last looked."""
        on_disk = int(self._info("generation") or 0)
        if on_disk != self._generation:
            self._generation = on_disk
            self._rebuild_index_locked(save=False)

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """
        Serialise the store's init parameters (the path as the user gave it).

        :returns: the dictionary.
        """
        return default_to_dict(
            self,
            path=self.path,
            embedding_model=self.embedding_model,
            embedding_dim=self.embedding_dim,
            index_type=self._index_type_param,
            use_gpu=self.use_gpu,
            save_every_s=self.save_every_s,
            ivf_nprobe=self.ivf_nprobe,
            hnsw_ef_search=self.hnsw_ef_search,
            read_only=self.read_only,
            **({"search_threads": self.search_threads} if self.search_threads is not None else {}),
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChronoDocumentStore:
        """
        Reopen a store from :meth:`to_dict`'s output.

        :param data: the dictionary.
        :returns: the store.
        """
        return default_from_dict(cls, data)

    # ------------------------------------------------------------------ DocumentStore protocol
    def count_documents(self) -> int:
        """
        :returns: the number of passages in the store.
        """
        with self._lock:
            return self._conn.execute("SELECT count(*) FROM passages").fetchone()[0]

    def filter_documents(self, filters: dict[str, Any] | None = None) -> list[Document]:
        """
        The passages matching Haystack ``filters`` (all of them when ``None``), in insertion order.

        :param filters: Haystack filters; dates in ISO strings compare as dates.
        :returns: the matching documents, with their embeddings.
        :raises FilterError: on malformed filters or values that cannot be compared.
        """
        where, params = "1", []
        if filters:
            validate_filters(filters)
            where, params = _narrowing_sql(filters)
        with self._lock:
            rows = self._conn.execute(
                f"SELECT data, vector FROM passages WHERE {where} ORDER BY rowid", params
            ).fetchall()
        documents = [self._row_to_document(data, vector) for data, vector in rows]
        if filters:
            documents = [d for d in documents if document_matches_filter(filters, d)]
        return documents

    def write_documents(
        self, documents: list[Document], policy: DuplicatePolicy = DuplicatePolicy.NONE
    ) -> int:
        """
        Write passages in one transaction; ``NONE`` means ``FAIL``.

        :param documents: Haystack documents; an embedding, when present, must have the store's dimension.
        :param policy: what to do with ids already stored (or repeated in the batch).
        :returns: the number of documents written.
        :raises DuplicateDocumentError: with ``FAIL`` when an id exists; nothing is written then.
        :raises EmbeddingDimensionError: when an embedding has another dimension; nothing is written then.
        :raises ValueError: when ``documents`` is not a list of Documents.
        """
        return self.write_batch(documents, policy=policy)

    def write_batch(
        self,
        documents: list[Document],
        policy: DuplicatePolicy = DuplicatePolicy.NONE,
        sources: dict[str, tuple[str, int]] | None = None,
        replace_sources: Iterable[str] = (),
    ) -> int:
        """
        Write passages and record their source documents in one transaction (what ingestion uses).

        :param documents: the passages.
        :param policy: duplicate policy, as for :meth:`write_documents`.
        :param sources: ``{doc_id: (content_hash, passage_count)}`` recorded with the passages, so a re-run
            of the ingestion skips documents already stored.
        :param replace_sources: doc ids whose earlier passages are deleted in the same transaction
            (a document whose content changed).
        :returns: the number of documents written.
        """
        if not isinstance(documents, list) or any(not isinstance(d, Document) for d in documents):
            raise ValueError("write_documents expects a list of Documents")
        if policy == DuplicatePolicy.NONE:
            policy = DuplicatePolicy.FAIL
        rows = [self._document_to_row(d) for d in documents]
        with self._writing():
            return self._write_rows(documents, rows, policy, sources or {}, list(replace_sources))

    def _check_writable(self) -> None:
        if self.read_only:
            raise StoreError(f"store {self.path!r} was opened read-only")

    @contextlib.contextmanager
    def _writing(self, sync: bool = True) -> Iterator[None]:
        """Held from a write's selection to its commit: the thread lock, then (the store being writable)
        the folder lock, both re-entrant; with ``sync`` the index first catches up with other processes'
        commits."""
        with self._lock:
            self._check_writable()
            with self._folder_lock.held():
                if sync:
                    self._sync_with_disk()
                yield

    def _document_to_row(
        self, document: Document
    ) -> tuple[str, int | None, bytes | None, list[tuple[int, int]]]:
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
        published = None if is_inferred(meta) else _day_of(meta.get("date"))
        return json.dumps(data, default=_json_default), published, vector, spans

    def _write_rows(
        self,
        documents: list[Document],
        rows: list[tuple[str, int | None, bytes | None, list[tuple[int, int]]]],
        policy: DuplicatePolicy,
        sources: dict[str, tuple[str, int]],
        replace_sources: list[str],
    ) -> int:
        existing = self._existing_rowids([d.id for d in documents])
        chosen: dict[str, int] = {}
        for position, document in enumerate(documents):
            if document.id in existing or document.id in chosen:
                if policy == DuplicatePolicy.FAIL:
                    raise DuplicateDocumentError(f"ID '{document.id}' already exists.")
                if policy == DuplicatePolicy.SKIP:
                    continue
            chosen[document.id] = position  # OVERWRITE: the last copy wins
        removed: list[int] = []
        added_ids: list[int] = []
        added_vectors: list[np.ndarray] = []
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            for doc_id in replace_sources:
                removed.extend(self._delete_where("doc_id = ?", [doc_id]))
            overwritten = [existing[i] for i in chosen if i in existing]
            removed.extend(self._delete_rowids(overwritten))
            for doc_id, position in chosen.items():
                data, pub_day, vector, spans = rows[position]
                source = (documents[position].meta or {}).get("doc_id")
                cursor = conn.execute(
                    "INSERT INTO passages(id, doc_id, pub_day, has_vector, data, vector) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
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
                    conn.executemany(
                        "INSERT INTO spans(id, start_day, end_day) VALUES (?, ?, ?)",
                        [
                            ((rowid << _SPAN_BITS) + k, s, e)
                            for k, (s, e) in enumerate(spans[: 1 << _SPAN_BITS])
                        ],
                    )
                if vector is not None:
                    added_ids.append(rowid)
                    added_vectors.append(_decode_vector(vector, self.dim))
            for doc_id, (content_hash, count) in sources.items():
                conn.execute(
                    "INSERT OR REPLACE INTO sources(doc_id, content_hash, passages) VALUES (?, ?, ?)",
                    (doc_id, content_hash, count),
                )
            behind = self._next_generation()
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            self._generation = int(self._info("generation") or 0)
            raise
        if behind:
            self._rebuild_index_locked(save=not self.read_only)
        else:
            self._apply_to_index(removed, added_ids, added_vectors)
        return len(chosen)

    def _next_generation(self) -> bool:
        """Number the write in progress (inside its transaction) from the database's own counter.

        :returns: whether the in-memory index was behind the database (a commit this process did not see),
            in which case the caller rebuilds it from SQLite rather than applying the write to it.
        """
        on_disk = int(self._info("generation") or 0)
        behind = on_disk != self._generation
        self._generation = on_disk + 1
        self._set_info("generation", self._generation)
        return behind

    def _existing_rowids(self, ids: list[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        unique = list(dict.fromkeys(ids))
        for chunk, marks in _in_chunks(unique):
            for doc_id, rowid in self._conn.execute(
                f"SELECT id, rowid FROM passages WHERE id IN ({marks})", chunk
            ):
                found[doc_id] = rowid
        return found

    def _delete_rowids(self, rowids: list[int]) -> list[int]:
        """Delete rows (inside the caller's transaction); returns the rowids that had vectors."""
        with_vectors: list[int] = []
        for chunk, marks in _in_chunks(rowids):
            with_vectors.extend(
                r[0]
                for r in self._conn.execute(
                    f"SELECT rowid FROM passages WHERE rowid IN ({marks}) AND has_vector = 1", chunk
                )
            )
            self._conn.execute(f"DELETE FROM passages WHERE rowid IN ({marks})", chunk)
            self._conn.executemany(
                "DELETE FROM spans WHERE id BETWEEN ? AND ?",
                [(r << _SPAN_BITS, ((r + 1) << _SPAN_BITS) - 1) for r in chunk],
            )
        return with_vectors

    def _delete_where(self, where: str, params: list[Any]) -> list[int]:
        rowids = [r[0] for r in self._conn.execute(f"SELECT rowid FROM passages WHERE {where}", params)]
        return self._delete_rowids(rowids)

    def _apply_to_index(
        self, removed: list[int], added_ids: list[int], added_vectors: list[np.ndarray]
    ) -> None:
        """Mirror a committed write in the in-memory index; on failure, rebuild it from SQLite."""
        try:
            if removed:
                if self.index_type == "hnsw":
                    # HNSW cannot remove vectors: rebuild lazily from the committed rows.
                    self._index_stale = True
                else:
                    self._index.remove_ids(np.asarray(removed, dtype=np.int64))
            if added_ids and not self._index_stale:
                self._index.add_with_ids(
                    _normalise(np.stack(added_vectors)), np.asarray(added_ids, dtype=np.int64)
                )
        except RuntimeError:
            logger.exception(
                "%s: updating the vector index failed; it will be rebuilt from SQLite", self.path
            )
            self._index_stale = True
        self._forget_index_caches()
        self._dirty = True
        self._maybe_save()

    def _maybe_save(self) -> None:
        if self.read_only or not self._dirty or self._index_stale:
            return
        # Small indexes are cheap to save, so every write is durable at once; large ones save on a timer
        # (a crash in between costs a rebuild from SQLite on the next open, never data).
        small = self._index.ntotal * self.dim * 4 <= _SMALL_INDEX_BYTES
        if small or time.monotonic() - self._last_save >= self.save_every_s:
            self._save_index()

    def delete_documents(self, document_ids: list[str]) -> None:
        """
        Delete passages by id; unknown ids are ignored.

        :param document_ids: the ids to delete.
        """
        with self._writing():
            rowids = list(self._existing_rowids(list(document_ids)).values())
            if rowids:
                self._commit_deletion(lambda: self._delete_rowids(rowids))

    def delete_source(self, doc_id: str) -> int:
        """
        Delete every passage of a source document and its ingestion record.

        :param doc_id: the source document's id (``meta["doc_id"]``).
        :returns: the number of passages deleted.
        """

        def delete() -> list[int]:
            self._conn.execute("DELETE FROM sources WHERE doc_id = ?", (doc_id,))
            return self._delete_where("doc_id = ?", [doc_id])

        with self._writing():
            count = self._conn.execute(
                "SELECT count(*) FROM passages WHERE doc_id = ?", (doc_id,)
            ).fetchone()[0]
            self._commit_deletion(delete)
        return count

    def delete_all_documents(self) -> None:
        """Delete every passage (the store keeps its model and dimension)."""

        def delete() -> list[int]:
            # Returned so the index drops them before it is saved at the new generation.
            rows = self._conn.execute("SELECT rowid FROM passages WHERE has_vector = 1")
            with_vectors = [r[0] for r in rows]
            self._conn.execute("DELETE FROM sources")
            self._conn.execute("DELETE FROM spans")
            self._conn.execute("DELETE FROM passages")
            return with_vectors

        with self._writing(sync=False):  # everything goes: nothing to catch up with
            self._commit_deletion(delete)
            self._index = self._new_index(np.zeros((0, self.dim), np.float32))
            self._index_stale = False

    def _commit_deletion(self, delete: Any) -> None:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            removed = delete()
            behind = self._next_generation()
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            self._generation = int(self._info("generation") or 0)
            raise
        if behind:
            self._rebuild_index_locked(save=True)
        else:
            self._apply_to_index(removed, [], [])

    # ------------------------------------------------------------------ reading helpers
    def _row_to_document(self, data: str, vector: bytes | None, score: float | None = None) -> Document:
        payload = json.loads(data)
        embedding = _decode_vector(vector, self.dim).tolist() if vector is not None else None
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

    def get_documents_by_id(self, ids: list[str], return_embedding: bool = False) -> list[Document]:
        """
        Passages by id, in the order asked (unknown ids are left out).

        :param ids: passage ids.
        :param return_embedding: include the stored embeddings.
        :returns: the documents found.
        """
        found: dict[str, Document] = {}
        with self._lock:
            column = "vector" if return_embedding else "NULL"
            for chunk, marks in _in_chunks(ids):
                for pid, data, vector in self._conn.execute(
                    f"SELECT id, data, {column} FROM passages WHERE id IN ({marks})", chunk
                ):
                    found[pid] = self._row_to_document(data, vector)
        return [found[i] for i in ids if i in found]

    def iter_documents(self, batch_size: int = 1000, return_embedding: bool = False) -> Iterator[Document]:
        """
        Every passage in insertion order, read in batches (for large stores).

        :param batch_size: rows read per query.
        :param return_embedding: include the stored embeddings.
        :returns: an iterator of documents.
        """
        last = 0
        column = "vector" if return_embedding else "NULL"
        while True:
            with self._lock:
                rows = self._conn.execute(
                    f"SELECT rowid, data, {column} FROM passages WHERE rowid > ? ORDER BY rowid LIMIT ?",
                    (last, batch_size),
                ).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            for _, data, vector in rows:
                yield self._row_to_document(data, vector)

    def source_hashes(self) -> dict[str, str]:
        """
        :returns: ``{doc_id: content_hash}`` of every ingested source document.
        """
        with self._lock:
            return dict(self._conn.execute("SELECT doc_id, content_hash FROM sources"))

    # ------------------------------------------------------------------ search
    def _candidate_rowids(
        self,
        filters: dict[str, Any] | None,
        time_window: Interval | None,
        published_on_or_before: date | None,
        published_on_or_after: date | None = None,
        vectors_only: bool = True,
    ) -> np.ndarray | None:
        """Rowids allowed by the restrictions (SQL for time, Haystack filters on meta); ``None``: all."""
        timed = self._time_rowids(time_window, published_on_or_before, published_on_or_after, vectors_only)
        if not filters:
            return timed
        validate_filters(filters)
        if timed is None:
            where, params = _narrowing_sql(filters)
            if vectors_only:
                where = f"has_vector = 1 AND {where}"
            rows = self._conn.execute(f"SELECT rowid, data FROM passages WHERE {where}", params).fetchall()
        else:
            rows = self._rows_by_rowid(timed, "data")
        keep = [
            r for r, data in rows if document_matches_filter(filters, Document.from_dict(json.loads(data)))
        ]
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
            sets.append(self._rowid_array(sql, params))
        if time_window is not None:
            sql = f"SELECT id >> {_SPAN_BITS} FROM spans WHERE start_day <= ? AND end_day >= ?"
            found = np.unique(self._rowid_array(sql, [time_window.end_day, time_window.start_day]))
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
        if self._pub_days is None or self._pub_days[0] != self._generation:
            # One index lookup each, as separate subqueries: SQLite answers "SELECT MIN(x), MAX(x)" by a scan.
            low, high = self._conn.execute(
                "SELECT (SELECT MIN(pub_day) FROM passages), (SELECT MAX(pub_day) FROM passages)"
            ).fetchone()
            self._pub_days = (self._generation, low, high)
        _, low, high = self._pub_days
        if before is not None and (high is None or before.toordinal() >= high):
            before = None
        if after is not None and (low is None or after.toordinal() <= low):
            after = None
        return before, after

    def _vector_ids(self) -> np.ndarray:
        """The ids held by the vector index (cached until the index changes)."""
        if self._index_stale:
            self._rebuild_index_locked(save=False)
        if self._vector_ids_cache is None:
            self._vector_ids_cache = np.unique(self._ids_at(slice(None)))
        return self._vector_ids_cache

    def _rowid_array(self, sql: str, params: list[Any]) -> np.ndarray:
        rows = self._conn.execute(sql, params).fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def _rows_by_rowid(self, rowids: np.ndarray, columns: str) -> list[tuple]:
        rows: list[tuple] = []
        for chunk, marks in _in_chunks(rowids):
            rows.extend(
                self._conn.execute(f"SELECT rowid, {columns} FROM passages WHERE rowid IN ({marks})", chunk)
            )
        return rows

    def search(
        self,
        query_embedding: Sequence[float] | np.ndarray,
        top_k: int = 10,
        filters: dict[str, Any] | None = None,
        time_window: Interval | None = None,
        published_on_or_before: date | None = None,
        published_on_or_after: date | None = None,
        return_embedding: bool = False,
    ) -> list[Document]:
        """
        The ``top_k`` passages closest to the query (cosine), among those the restrictions allow.

        Restrictions are resolved to passage ids first (SQL on indexed day columns, then Haystack
        filters) and the vector search runs on those ids only, so a selective filter still returns
        ``top_k`` passages whenever that many match.

        :param query_embedding: the query vector (normalised here).
        :param top_k: how many passages to return.
        :param filters: Haystack filters on the passages.
        :param time_window: keep passages mentioning a time span that overlaps it.
        :param published_on_or_before: drop passages published after this day (undated ones pass).
        :param published_on_or_after: drop passages published before this day (undated ones pass).
        :param return_embedding: include the stored embeddings.
        :returns: documents with ``score`` = cosine similarity, best first.
        """
        query = _normalise(np.asarray(query_embedding, dtype=np.float32).reshape(1, -1))
        if query.shape[1] != self.dim:
            raise EmbeddingDimensionError(
                f"query has {query.shape[1]} dimensions; the store holds {self.dim}-d vectors"
            )
        if top_k <= 0:
            return []
        with self._lock:
            self._sync_with_disk()
            candidates = self._candidate_rowids(
                filters, time_window, published_on_or_before, published_on_or_after
            )
            ids, scores = self._vector_search(query, top_k, candidates)
            return self._fetch_scored(ids, scores, return_embedding)

    def _vector_search(
        self, query: np.ndarray, top_k: int, candidates: np.ndarray | None
    ) -> tuple[list, list]:
        exact = self.actual_index_type == "flat"
        if candidates is None:
            index = self._search_index()
            if exact and self._threads > 1 and index is self._index and index.ntotal >= _SPLIT_MIN_VECTORS:
                return self._split_flat_search(query, min(top_k, index.ntotal))
            if index is self._index and self.actual_index_type == "flat16":
                return self._fp16_search(query, top_k, index.ntotal)
            # Approximate indexes fetch a margin and re-score it exactly from the stored vectors.
            k = min(top_k if exact else 2 * top_k, index.ntotal)
            if k == 0:
                return [], []
            scores, ids = index.search(query, k)
            found, found_scores = self._valid(ids[0], scores[0])
            if exact:
                return found, found_scores
            return self._score_directly(query, top_k, np.asarray(found, dtype=np.int64))
        if len(candidates) == 0:
            return [], []
        if self._index_stale:
            self._rebuild_index_locked(save=False)
        # Few candidates: scoring them directly beats a FAISS scan; many: a selector scan. fp16 copies cost
        # a conversion each (~0.8 us), so flat16 hands over sooner (a 100k selector scan: ~1.6 ms).
        fp16 = self.actual_index_type == "flat16"
        few = max(1024, self._index.ntotal // 100) if fp16 else max(4096, self._index.ntotal // 50)
        if len(candidates) <= few:
            return self._score_directly(query, top_k, candidates)
        faiss = _faiss()
        k = min(top_k if exact else 2 * top_k, len(candidates))
        selector = faiss.IDSelectorBatch(candidates)
        params = self._search_params(selector)
        if fp16:
            return self._fp16_search(query, top_k, len(candidates), params)
        scores, ids = self._index.search(query, k, params=params)
        ids_list, scores_list = self._valid(ids[0], scores[0])
        if len(ids_list) < k:
            # An approximate index can miss selected ids; exact scoring never does.
            return self._score_directly(query, top_k, candidates)
        if exact:
            return ids_list, scores_list
        return self._score_directly(query, top_k, np.asarray(ids_list, dtype=np.int64))

    def _split_flat_search(self, query: np.ndarray, k: int) -> tuple[list, list]:
        """An exact flat search split into contiguous shares of the vectors, scanned in parallel (FAISS
        releases the GIL), then merged: what ``IndexFlatIP.search`` returns, on several cores."""
        from concurrent.futures import ThreadPoolExecutor

        faiss = _faiss()
        flat = faiss.downcast_index(self._index.index)
        n = flat.ntotal
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._threads - 1, thread_name_prefix="chronorag-search")
        vectors = faiss.rev_swig_ptr(flat.get_xb(), n * self.dim).reshape(n, self.dim)  # no copy
        bounds = np.linspace(0, n, self._threads + 1).astype(np.int64)

        def scan(part: int) -> tuple[np.ndarray, np.ndarray]:
            low, high = int(bounds[part]), int(bounds[part + 1])
            ip = faiss.METRIC_INNER_PRODUCT
            scores, positions = faiss.knn(query, vectors[low:high], min(k, high - low), metric=ip)
            return scores[0], positions[0] + low

        pending = [self._pool.submit(scan, part) for part in range(1, self._threads)]
        parts = [scan(0)] + [future.result() for future in pending]
        scores = np.concatenate([p[0] for p in parts])
        positions = np.concatenate([p[1] for p in parts])
        order = np.argsort(-scores, kind="stable")[:k]
        return self._ids_at(positions[order]).tolist(), scores[order].tolist()

    def _ids_at(self, positions: np.ndarray) -> np.ndarray:
        """The ids at FAISS positions (the id map, copied once per index change)."""
        if self._index_positions is None:
            self._index_positions = _faiss().vector_to_array(self._index.id_map).astype(np.int64)
        return self._index_positions[positions]

    def _positions_of(self, ids: np.ndarray) -> np.ndarray | None:
        """The FAISS positions of ``ids`` (a sorted id map, cached); ``None`` when the index lacks one."""
        if self._positions_by_id is None:
            every = self._ids_at(slice(None))
            order = np.argsort(every, kind="stable")
            self._positions_by_id = (every[order], order)
        sorted_ids, positions = self._positions_by_id
        found = np.minimum(np.searchsorted(sorted_ids, ids), max(len(sorted_ids) - 1, 0))
        if len(sorted_ids) == 0 or not np.array_equal(sorted_ids[found], ids):
            return None
        return positions[found]

    def _fp16_copies(self, ids: np.ndarray) -> np.ndarray | None:
        """A flat16 index's own copies of these vectors, widened to fp32 and read in place by position
        (``reconstruct_batch`` decodes them one by one, ~1.3 us a vector); ``None`` when the index is not
        flat16 or lacks an id."""
        faiss = _faiss()
        inner = faiss.downcast_index(self._index.index)
        fp16 = faiss.ScalarQuantizer.QT_fp16
        if not isinstance(inner, faiss.IndexScalarQuantizer) or inner.sq.qtype != fp16 or inner.ntotal == 0:
            return None
        positions = self._positions_of(ids)
        if positions is None:
            return None
        codes = faiss.rev_swig_ptr(inner.codes.data(), inner.ntotal * inner.code_size)
        return codes.view(np.float16).reshape(inner.ntotal, self.dim)[positions].astype(np.float32)

    def _search_params(self, selector: Any) -> Any:
        faiss = _faiss()
        inner = faiss.downcast_index(self._index.index)
        if isinstance(inner, faiss.IndexIVF):
            return faiss.SearchParametersIVF(sel=selector, nprobe=self.ivf_nprobe)
        if isinstance(inner, faiss.IndexHNSW):
            return faiss.SearchParametersHNSW(sel=selector, efSearch=self.hnsw_ef_search)
        return faiss.SearchParameters(sel=selector)

    def _fp16_search(
        self, query: np.ndarray, top_k: int, available: int, params: Any = None
    ) -> tuple[list, list]:
        """Exact results from an fp16 index: shortlist by fp16 scores (half the memory traffic of fp32),
        re-score the shortlist from the fp32 vectors in SQLite, and widen it until no vector left out can
        beat the k-th exact score (its fp16 score is at most the shortlist's last, so its exact score at
        most that plus ``_FP16_SCORE_ERROR``)."""
        k = min(top_k, available)
        if k <= 0:
            return [], []
        width = min(2 * k, available)
        while True:
            approximate, ids = self._index.search(query, width, params=params)
            found, found_scores = self._valid(ids[0], approximate[0])
            if not found:
                return [], []
            ranked_ids, ranked_scores = self._exact_top(query, k, np.asarray(found, dtype=np.int64))
            complete = len(found) < width or width >= available
            if complete or ranked_scores[-1] >= found_scores[-1] + _FP16_SCORE_ERROR:
                return ranked_ids, ranked_scores
            width = min(4 * width, available)

    def _score_directly(self, query: np.ndarray, top_k: int, candidates: np.ndarray) -> tuple[list, list]:
        copies = self._fp16_copies(candidates) if len(candidates) > 2 * top_k else None
        if copies is not None:
            # fp16 copies from memory shortlist; only the shortlist is read from SQLite for exact scores.
            approximate = copies @ query[0]
            keep = np.argpartition(-approximate, 2 * top_k - 1)[: 2 * top_k]
            shortlist = candidates[np.sort(keep)]
            ids, scores = self._exact_top(query, top_k, shortlist)
            # Any passage whose exact score reaches the k-th found has an fp16 score within the error bound.
            wider = candidates[approximate >= scores[-1] - _FP16_SCORE_ERROR]
            if np.isin(wider, shortlist).all():
                return ids, scores
            return self._exact_top(query, top_k, wider)
        return self._exact_top(query, top_k, candidates)

    def _exact_top(self, query: np.ndarray, top_k: int, candidates: np.ndarray) -> tuple[list, list]:
        """The ``top_k`` of ``candidates`` by their exact (stored fp32) scores, best first."""
        vectors = self._candidate_vectors(candidates)
        scores = vectors @ query[0]
        k = min(top_k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
        top = top[np.argsort(-scores[top], kind="stable")]
        return candidates[top].tolist(), scores[top].tolist()

    def _candidate_vectors(self, candidates: np.ndarray) -> np.ndarray:
        faiss = _faiss()
        inner = faiss.downcast_index(self._index.index)
        if isinstance(inner, faiss.IndexFlat):
            return self._index.reconstruct_batch(candidates)
        return self._candidate_vectors_from_sql(candidates)

    @staticmethod
    def _valid(ids: np.ndarray, scores: np.ndarray) -> tuple[list, list]:
        keep = ids >= 0
        return ids[keep].tolist(), scores[keep].tolist()

    def _fetch_scored(self, rowids: list[int], scores: list[float], return_embedding: bool) -> list[Document]:
        if not rowids:
            return []
        column = "vector" if return_embedding else "NULL"
        marks = ",".join("?" * len(rowids))
        rows = {
            r[0]: r[1:]
            for r in self._conn.execute(
                f"SELECT rowid, data, {column} FROM passages WHERE rowid IN ({marks})", rowids
            )
        }
        return [
            self._row_to_document(rows[r][0], rows[r][1], float(s))
            for r, s in zip(rowids, scores, strict=True)
            if r in rows
        ]

    def rowids_to_ids(self, rowids: list[int]) -> dict[int, str]:
        """
        :param rowids: internal row ids (the FAISS ids and the BM25 index positions' keys).
        :returns: ``{rowid: passage id}``.
        """
        found: dict[int, str] = {}
        with self._lock:
            for chunk, marks in _in_chunks(rowids):
                found.update(
                    self._conn.execute(f"SELECT rowid, id FROM passages WHERE rowid IN ({marks})", chunk)
                )
        return found

    def bm25_search(
        self,
        query: str,
        top_k: int = 10,
        filters: dict[str, Any] | None = None,
        time_window: Interval | None = None,
        published_on_or_before: date | None = None,
        published_on_or_after: date | None = None,
        return_embedding: bool = False,
    ) -> list[Document]:
        """
        Lexical (BM25) search over ``passage_text`` of every passage, restricted as in :meth:`search`.

        :param query: the query text.
        :param top_k: how many passages to return.
        :param filters: Haystack filters on the passages.
        :param time_window: keep passages mentioning a time span that overlaps it.
        :param published_on_or_before: drop passages published after this day (undated ones pass).
        :param published_on_or_after: drop passages published before this day (undated ones pass).
        :param return_embedding: include the stored embeddings (passages without one get ``None``).
        :returns: documents with ``score`` = BM25 score, best first.
        """
        from chronorag.indexers.bm25 import BM25Index

        with self._lock:
            self._sync_with_disk()
            cached = getattr(self, "_bm25_cache", None)
            if cached is not None and cached.generation == self._generation:
                bm25 = cached
            elif self.read_only:
                bm25 = BM25Index.for_store(self)
            else:
                # Loading or rebuilding (and saving) ``bm25/``: one process at a time, so a second worker
                # loads what the first one saved instead of racing it on the same temp folder.
                with self._folder_lock.held():
                    self._sync_with_disk()
                    bm25 = BM25Index.for_store(self)
            restricted = filters or time_window or published_on_or_before or published_on_or_after
            # BM25 covers passages without vectors too.
            candidates = (
                self._candidate_rowids(
                    filters, time_window, published_on_or_before, published_on_or_after, vectors_only=False
                )
                if restricted
                else None
            )
            rowids, scores = bm25.search(query, top_k, candidates)
            return self._fetch_scored(rowids, scores, return_embedding)

    def iter_texts(self, batch_size: int = 5000) -> Iterator[list[tuple[int, str]]]:
        """
        ``(rowid, passage_text)`` of every passage in rowid order, in batches (for lexical indexes).

        :param batch_size: rows per batch.
        :returns: an iterator of batches.
        """
        from chronorag.indexers.text import passage_text

        last = 0
        while True:
            rows = self._conn.execute(
                "SELECT rowid, data FROM passages WHERE rowid > ? ORDER BY rowid LIMIT ?", (last, batch_size)
            ).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            yield [(rowid, passage_text(Document.from_dict(json.loads(data)))) for rowid, data in rows]

    # ------------------------------------------------------------------ maintenance
    def flush(self) -> None:
        """Save the vector index now if writes happened since the last save."""
        with self._lock:
            if self.read_only:
                return
            with self._folder_lock.held():
                self._flush_locked()

    def _flush_locked(self) -> None:
        if self._index_stale:
            self._rebuild_index_locked(save=True)
        elif self._dirty:
            self._save_index()
        ivf_due = self.index_type == "ivf" and self._index.ntotal >= _IVF_MIN_VECTORS
        if ivf_due and self.actual_index_type == "flat":
            self._rebuild_index_locked(save=True)

    def close(self) -> None:
        """Save pending index changes and close the database."""
        with self._lock:
            if self._conn is None:
                return
            self.flush()
            self._conn.close()
            self._conn = None  # type: ignore[assignment]
            if self._pool is not None:
                self._pool.shutdown(wait=False)
                self._pool = None

    def rebuild(self) -> int:
        """
        Rebuild the FAISS index (of the configured type) from the vectors in SQLite and save it.

        :returns: the number of vectors indexed.
        """
        with self._writing():
            self._rebuild_index_locked(save=True)
            return int(self._index.ntotal)

    @property
    def actual_index_type(self) -> str:
        """The FAISS index in use: ``flat``, ``flat16``, ``ivf`` or ``hnsw`` (IVF: flat below 10k vectors)."""
        faiss = _faiss()
        inner = faiss.downcast_index(self._index.index)
        if isinstance(inner, faiss.IndexIVF):
            return "ivf"
        if isinstance(inner, faiss.IndexHNSW):
            return "hnsw"
        if isinstance(inner, faiss.IndexScalarQuantizer):
            return "flat16"
        return "flat"

    def check(self) -> list[str]:
        """
        Verify that rows and vectors agree: every row with a vector is in the index once, and nothing else is.

        :returns: the problems found (empty when consistent).
        """
        problems: list[str] = []
        with self._lock:
            if not self.read_only:
                self.flush()  # pending saves are normal in a live store, not a problem to report
            integrity = self._conn.execute("PRAGMA integrity_check").fetchone()[0]
            if integrity != "ok":
                problems.append(f"SQLite integrity check: {integrity}")
            faiss_path = self._folder / FAISS_FILE
            if faiss_path.exists():
                try:
                    generation, _, _ = self._read_faiss_file(faiss_path)
                    if generation != self._generation:
                        problems.append(
                            f"{FAISS_FILE} is at generation {generation}, the database at {self._generation} "
                            "(an interrupted write: opening the store writable recovers it)"
                        )
                except StoreCorruptError as exc:
                    problems.append(exc.problem)
            elif self.count_documents():
                problems.append(f"{FAISS_FILE} is missing")
            if self._index_stale:
                self._rebuild_index_locked(save=False)
            expected = np.asarray(
                [
                    r[0]
                    for r in self._conn.execute(
                        "SELECT rowid FROM passages WHERE has_vector = 1 ORDER BY rowid"
                    )
                ],
                dtype=np.int64,
            )
            faiss = _faiss()
            indexed = np.sort(faiss.vector_to_array(self._index.id_map).astype(np.int64))
            if len(np.unique(indexed)) != len(indexed):
                problems.append("the vector index holds duplicate ids")
            missing = np.setdiff1d(expected, indexed)
            extra = np.setdiff1d(indexed, expected)
            if len(missing):
                problems.append(
                    f"{len(missing)} rows have no vector in the index (e.g. rowid {int(missing[0])})"
                )
            if len(extra):
                problems.append(f"{len(extra)} index vectors have no row (e.g. id {int(extra[0])})")
            if not len(missing) and not len(extra) and len(expected):
                sample = expected[:: max(1, len(expected) // 200)][:200]
                stored = self._candidate_vectors_from_sql(sample)
                if isinstance(faiss.downcast_index(self._index.index), faiss.IndexFlat):
                    indexed_vectors = self._index.reconstruct_batch(sample)
                    if not np.allclose(stored, indexed_vectors, atol=1e-5):
                        problems.append("index vectors differ from the vectors in the database")
        return problems

    def _candidate_vectors_from_sql(self, rowids: np.ndarray) -> np.ndarray:
        """The stored fp32 vectors of ``rowids``, normalised, in their order."""
        vectors = []
        for chunk, marks in _in_chunks(rowids):
            by_id = dict(
                self._conn.execute(f"SELECT rowid, vector FROM passages WHERE rowid IN ({marks})", chunk)
            )
            vectors.extend(_decode_vector(by_id[r], self.dim) for r in chunk)
        return _normalise(np.stack(vectors))

    def stats(self) -> dict[str, Any]:
        """
        :returns: documents, passages, model, dimension, index type, device, date range and size on disk.
        """
        with self._lock:
            passages = self.count_documents()
            documents = self._conn.execute(
                "SELECT count(DISTINCT coalesce(doc_id, id)) FROM passages"
            ).fetchone()[0]
            with_vectors = self._conn.execute(
                "SELECT count(*) FROM passages WHERE has_vector = 1"
            ).fetchone()[0]
            low, high, dated = self._conn.execute(
                "SELECT min(pub_day), max(pub_day), count(pub_day) FROM passages"
            ).fetchone()
            spans = self._conn.execute("SELECT count(*) FROM spans").fetchone()[0]
        size = sum(p.stat().st_size for p in self._folder.rglob("*") if p.is_file())
        return {
            "path": self.path,
            "documents": documents,
            "passages": passages,
            "vectors": with_vectors,
            "dated_passages": dated,
            "time_spans": spans,
            "embedding_model": self.model_id,
            "embedding_dim": self.dim,
            "index_type": self.actual_index_type,
            "configured_index_type": self.index_type,
            "device": self.device,
            "date_min": date.fromordinal(low).isoformat() if low else None,
            "date_max": date.fromordinal(high).isoformat() if high else None,
            "generation": self._generation,
            "size_bytes": size,
        }

    def __enter__(self) -> ChronoDocumentStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        conn = getattr(self, "_conn", None)
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()


def rebuild_store(path: str, index_type: str | None = None) -> ChronoDocumentStore:
    """
    Repair a store whose vector index is damaged, stale or of another type: set the FAISS file aside,
    rebuild the index from the vectors kept in SQLite, and drop the derived lexical index.

    :param path: the store folder.
    :param index_type: the index type to build (default: the one the store records).
    :returns: the reopened, rebuilt store.
    :raises StoreCorruptError: when the SQLite database itself cannot be read (restore it from a backup).
    """
    import shutil

    folder = Path(path)
    if not (folder / SQLITE_FILE).exists():
        raise StoreError(f"no store at {path!r} (missing {SQLITE_FILE})")
    faiss_path = folder / FAISS_FILE
    if faiss_path.exists():
        os.replace(faiss_path, folder / (FAISS_FILE + ".old"))
    from chronorag.indexers.bm25 import BM25_FOLDER

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


def copy_without_embedding(documents: list[Document]) -> list[Document]:
    """
    :param documents: documents.
    :returns: copies without their embeddings (what retrievers return).
    """
    return [replace(d, embedding=None) for d in documents]
