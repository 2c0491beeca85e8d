"""The store's vector index: FAISS over the SQLite vectors, a durable cache of them.

FAISS ids are the passages' SQLite rowids. The index is saved atomically to ``vectors.faiss`` (temp file,
fsync, rename, fsync of the folder) with a trailer naming the generation it reflects and a CRC32 of the
FAISS bytes; only then are that generation and checksum recorded in SQLite. On opening, a file behind the
database (a crash between a commit and a save) is rebuilt from the SQLite vectors; a file that fails its
checksum, or is *ahead* of the database, cannot come from a crash and raises :class:`StoreCorruptError`.

Searches are exact or re-scored exactly: ``flat`` scans fp32 (split across ``search_threads`` threads
for large unfiltered scans), ``flat16`` shortlists by fp16 scores and re-scores from the stored fp32
vectors until no vector left out can win, ``ivf``/``hnsw`` fetch a margin and re-score it. Restricted
searches score few candidates directly and many with a FAISS ``IDSelector`` scan. With a GPU (``use_gpu``)
unrestricted searches run on a GPU copy of the index.

Everything here runs under the caller's thread lock (``ChronoDocumentStore._lock``); saving and loading
take the folder lock themselves.
"""

from __future__ import annotations

import logging
import math
import os
import struct
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from chronorag.indexers.errors import StoreCorruptError
from chronorag.indexers.local_store.lock import FolderLock
from chronorag.indexers.local_store.rows import RowStore, WriteOutcome, normalise

logger = logging.getLogger(__name__)

FAISS_FILE = "vectors.faiss"
INDEX_TYPES = ("flat", "flat16", "ivf", "hnsw")

_FAISS_MAGIC = b"CHRONOFAISS2"
# The FAISS bytes come first (so FAISS reads the file directly, with no copy in Python) and this
# trailer last: magic, generation, ntotal, crc32 and length of the FAISS bytes.
_FAISS_TRAILER = struct.Struct("<12sqqIq")
_FAISS_MAGIC_V1 = b"CHRONOFAISS1"  # the same fields as a header before the FAISS bytes (still read)
_CRC_CHUNK = 64 << 20
_SMALL_INDEX_BYTES = 8 << 20  # indexes up to this size are saved after every write
IVF_MIN_VECTORS = 10_000  # below this an IVF index is not worth training: keep exact search
# The most an inner product of unit vectors can move when the stored side is rounded to fp16 (relative error
# <= 2^-11 per component, so ||x16 - x|| <= 2^-11 plus subnormals), with fp32 summation error on both sides.
_FP16_SCORE_ERROR = 6e-4
_SPLIT_MIN_VECTORS = 32_768  # below this a flat scan is too short to gain from splitting across threads


def faiss_module() -> Any:
    """:returns: the ``faiss`` module, imported on first use."""
    import faiss

    return faiss


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


def _valid(ids: np.ndarray, scores: np.ndarray) -> tuple[list, list]:
    keep = ids >= 0
    return ids[keep].tolist(), scores[keep].tolist()


@dataclass(frozen=True)
class VectorFileState:
    """What a vector file's trailer says, and whether its bytes match the checksum there.

    :param generation: the generation it reflects (``-1`` when the trailer is unreadable).
    :param ntotal: the vectors it holds.
    :param problem: why it is damaged, or ``None``.
    """

    generation: int
    ntotal: int
    problem: str | None = None


def inspect_vector_file(faiss_path: Path) -> VectorFileState:
    """
    Read a vector file's trailer and verify its checksum, whatever its generation (a store verifies only
    the file it loads; ``chronorag store check`` verifies an older one too). One open file throughout, so a
    writer replacing the file meanwhile is not mistaken for damage.

    :param faiss_path: the file (it must exist).
    :returns: its state.
    """
    with open(faiss_path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size < _FAISS_TRAILER.size:
            return VectorFileState(-1, 0, f"{FAISS_FILE} is truncated ({size} bytes)")
        if handle.read(len(_FAISS_MAGIC_V1)) == _FAISS_MAGIC_V1:
            handle.seek(0)
            raw = handle.read()
            _, generation, ntotal, crc, length = _FAISS_TRAILER.unpack_from(raw)
            payload = memoryview(raw)[_FAISS_TRAILER.size :]
            intact = len(payload) == length and zlib.crc32(payload) == crc
        else:
            handle.seek(size - _FAISS_TRAILER.size)
            magic, generation, ntotal, crc, length = _FAISS_TRAILER.unpack(handle.read(_FAISS_TRAILER.size))
            if magic != _FAISS_MAGIC:
                return VectorFileState(-1, 0, f"{FAISS_FILE} is not a chronorag vector index")
            intact = length == size - _FAISS_TRAILER.size and _crc_of(handle, length) == crc
    problem = None if intact else f"{FAISS_FILE} (generation {generation}) fails its checksum (damaged file)"
    return VectorFileState(generation, ntotal, problem)


def vector_file_ids(faiss_path: Path) -> np.ndarray:
    """
    :param faiss_path: a vector file whose checksum holds (:func:`inspect_vector_file`).
    :returns: the ids (store rowids) it indexes.
    :raises RuntimeError: when FAISS cannot read it.
    """
    faiss = faiss_module()
    with open(faiss_path, "rb") as handle:
        legacy = handle.read(len(_FAISS_MAGIC_V1)) == _FAISS_MAGIC_V1
    if legacy:
        payload = np.frombuffer(faiss_path.read_bytes()[_FAISS_TRAILER.size :], dtype=np.uint8)
        index = faiss.deserialize_index(payload)
    else:
        index = faiss.read_index(str(faiss_path))
    return faiss.vector_to_array(faiss.downcast_index(index).id_map).astype(np.int64)


class VectorIndex:
    """The FAISS index of one store's vectors: building, loading and saving it, and searching it."""

    def __init__(
        self,
        rows: RowStore,
        folder_lock: FolderLock,
        index_type: str,
        use_gpu: str | bool = "auto",
        save_every_s: float = 10.0,
        ivf_nprobe: int = 16,
        hnsw_ef_search: int = 64,
        read_only: bool = False,
        threads: int = 1,
    ) -> None:
        """
        An index not loaded yet (see :meth:`load`).

        :param rows: the store's rows (the source of the vectors, and where saves are recorded).
        :param folder_lock: the store's cross-process lock.
        :param index_type: ``flat``, ``flat16``, ``ivf`` or ``hnsw``: what a rebuild builds.
        :param use_gpu: ``"auto"``, ``True`` or ``False`` (as ``ChronoDocumentStore``).
        :param save_every_s: after a write, save when the last save is older than this (small indexes:
            always).
        :param ivf_nprobe: IVF lists probed per query.
        :param hnsw_ef_search: HNSW search depth.
        :param read_only: never save.
        :param threads: threads one unrestricted exact scan of a large flat index is split across.
        """
        self._rows = rows
        self._folder_lock = folder_lock
        self.folder = rows.folder
        self.path = rows.path
        self.dim = rows.dim
        self.index_type = index_type
        self.use_gpu = use_gpu
        self.save_every_s = save_every_s
        self.ivf_nprobe = ivf_nprobe
        self.hnsw_ef_search = hnsw_ef_search
        self.read_only = read_only
        self.threads = threads
        self.index: Any = None
        self.stale = False  # the index misses committed changes (HNSW removals, a failed update)
        self.dirty = False  # the index has changes the file does not
        self._last_save = time.monotonic()
        self._gpu_index: Any = None
        self._num_gpus: int | None = None
        self._pool: Any = None
        self._vector_ids_cache: np.ndarray | None = None
        self._index_positions: np.ndarray | None = None  # FAISS position -> id
        self._positions_by_id: tuple[np.ndarray, np.ndarray] | None = None  # sorted ids, their positions

    # ------------------------------------------------------------------ loading
    def load(self) -> None:
        """Load ``vectors.faiss``, or rebuild it from SQLite when it is missing or behind the database.

        :raises StoreCorruptError: when the file is damaged or disagrees with the database beyond a crash.
        """
        if not self.read_only:
            # Under the folder lock: no other process commits or saves while the file and rows are compared.
            with self._folder_lock.held():
                self._load_once(last_try=True)
            return
        for attempt in range(3):
            # Without the lock a writer may save a later generation between our look at the database and our
            # read of the file: look again rather than call that corruption.
            if self._load_once(last_try=attempt == 2):
                return

    def _load_once(self, last_try: bool) -> bool:
        """Load or rebuild the index; ``False``: the file is newer than the database (not ``last_try``)."""
        rows = self._rows
        faiss_path = self.folder / FAISS_FILE
        rows.conn.execute("BEGIN")  # one snapshot for the generation and the row count
        try:
            rows.generation = rows.database_generation()
            vector_rows = rows.count_vectors()
        finally:
            rows.conn.execute("COMMIT")
        if not faiss_path.exists():
            if vector_rows:
                logger.warning(
                    "%s: %s is missing; rebuilding it from the SQLite vectors", self.path, FAISS_FILE
                )
            self.rebuild(save=not self.read_only)
            return True
        generation, ntotal, index = self.read_file(faiss_path)
        if generation > rows.generation and not last_try:
            return False
        if generation > rows.generation:
            raise StoreCorruptError(
                self.path,
                f"{FAISS_FILE} is from generation {generation}, newer than the database ({rows.generation})",
            )
        if generation < rows.generation:
            # A crash after a commit and before the index was saved: SQLite holds every committed vector.
            logger.warning(
                "%s: vector index is at generation %d, the database at %d (interrupted write); rebuilding",
                self.path,
                generation,
                rows.generation,
            )
            self.rebuild(save=not self.read_only)
            return True
        if ntotal != vector_rows:
            raise StoreCorruptError(
                self.path, f"{FAISS_FILE} holds {ntotal} vectors but the database {vector_rows}"
            )
        if index.d != self.dim:
            raise StoreCorruptError(
                self.path, f"{FAISS_FILE} holds {index.d}-d vectors, the store records {self.dim}"
            )
        self.index = self._configure(index)
        return True

    def read_file(self, faiss_path: Path) -> tuple[int, int, Any]:
        """
        Read a vector file's trailer, and the index when the file is at the database's generation.

        :param faiss_path: the file.
        :returns: ``(generation, ntotal, index or None)``.
        :raises StoreCorruptError: when the file is truncated, foreign, fails its checksum or FAISS rejects
            it.
        """
        faiss = faiss_module()
        size = faiss_path.stat().st_size
        if size < _FAISS_TRAILER.size:
            raise StoreCorruptError(self.path, f"{FAISS_FILE} is truncated ({size} bytes)")
        with open(faiss_path, "rb") as handle:
            if handle.read(len(_FAISS_MAGIC_V1)) == _FAISS_MAGIC_V1:
                return self._read_file_v1(faiss_path)
            handle.seek(size - _FAISS_TRAILER.size)
            magic, generation, ntotal, crc, length = _FAISS_TRAILER.unpack(handle.read(_FAISS_TRAILER.size))
            if magic != _FAISS_MAGIC:
                raise StoreCorruptError(self.path, f"{FAISS_FILE} is not a chronorag vector index")
            if generation != self._rows.generation:
                return generation, ntotal, None
            if length != size - _FAISS_TRAILER.size or _crc_of(handle, length) != crc:
                raise StoreCorruptError(self.path, f"{FAISS_FILE} fails its checksum (damaged file)")
        try:
            index = faiss.read_index(str(faiss_path))
        except RuntimeError as exc:
            raise StoreCorruptError(self.path, f"{FAISS_FILE} cannot be read by FAISS ({exc})") from exc
        return generation, ntotal, index

    def _read_file_v1(self, faiss_path: Path) -> tuple[int, int, Any]:
        raw = faiss_path.read_bytes()
        magic, generation, ntotal, crc, length = _FAISS_TRAILER.unpack_from(raw)
        payload = memoryview(raw)[_FAISS_TRAILER.size :]
        if generation != self._rows.generation:
            return generation, ntotal, None
        if len(payload) != length or zlib.crc32(payload) != crc:
            raise StoreCorruptError(self.path, f"{FAISS_FILE} fails its checksum (damaged file)")
        try:
            index = faiss_module().deserialize_index(np.frombuffer(payload, dtype=np.uint8))
        except RuntimeError as exc:
            raise StoreCorruptError(self.path, f"{FAISS_FILE} cannot be read by FAISS ({exc})") from exc
        return generation, ntotal, index

    # ------------------------------------------------------------------ building and following writes
    def _configure(self, index: Any) -> Any:
        faiss = faiss_module()
        inner = faiss.downcast_index(index.index) if hasattr(index, "index") else index
        if hasattr(inner, "nprobe"):
            inner.nprobe = self.ivf_nprobe
        if hasattr(inner, "hnsw"):
            inner.hnsw.efSearch = self.hnsw_ef_search
        self._forget_caches()
        return index

    def _forget_caches(self) -> None:
        """Drop what was derived from the index (GPU copy, id lists, position maps): it changed."""
        self._gpu_index = None
        self._vector_ids_cache = None
        self._index_positions = None
        self._positions_by_id = None

    def _new_index(self, vectors: np.ndarray) -> Any:
        """An empty index of the configured type, trained on ``vectors`` when it needs training."""
        faiss = faiss_module()
        n = len(vectors)
        if self.index_type == "hnsw":
            inner = faiss.IndexHNSWFlat(self.dim, 32, faiss.METRIC_INNER_PRODUCT)
        elif self.index_type == "flat16":
            # Half the memory traffic of fp32 (a flat scan is bandwidth-bound); results are re-scored exactly.
            inner = faiss.IndexScalarQuantizer(
                self.dim, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT
            )
        elif self.index_type == "ivf" and n >= IVF_MIN_VECTORS:
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

    def reset(self) -> None:
        """Replace the index by an empty one (every passage was deleted)."""
        self.index = self._new_index(np.zeros((0, self.dim), np.float32))
        self.stale = False

    def rebuild(self, save: bool) -> None:
        """Rebuild the index of the configured type from the SQLite vectors (the caller holds the locks).

        :param save: save it to ``vectors.faiss`` too.
        """
        chunks = list(self._rows.iter_vectors())
        ids = np.concatenate([c[0] for c in chunks]) if chunks else np.zeros(0, dtype=np.int64)
        vectors = np.concatenate([c[1] for c in chunks]) if chunks else np.zeros((0, self.dim), np.float32)
        index = self._new_index(vectors)
        if len(ids):
            index.add_with_ids(vectors, ids)
        self.index = index
        self.stale = False
        self.dirty = True
        if save:
            self.save()

    def sync(self) -> None:
        """Follow writes committed by another process (or connection) since this one last looked."""
        on_disk = self._rows.database_generation()
        if on_disk != self._rows.generation:
            self._rows.generation = on_disk
            self.rebuild(save=False)

    def follow(self, outcome: WriteOutcome) -> None:
        """Mirror a committed write: patch the index, or rebuild it when it was behind the database."""
        if outcome.behind:
            self.rebuild(save=not self.read_only)
        else:
            self._apply(outcome.removed, outcome.added_ids, outcome.added_vectors)

    def _apply(self, removed: list[int], added_ids: list[int], added_vectors: list[np.ndarray]) -> None:
        """Mirror a committed write in the in-memory index; on failure, rebuild it from SQLite."""
        try:
            if removed:
                if self.index_type == "hnsw":
                    # HNSW cannot remove vectors: rebuild lazily from the committed rows.
                    self.stale = True
                else:
                    self.index.remove_ids(np.asarray(removed, dtype=np.int64))
            if added_ids and not self.stale:
                self.index.add_with_ids(
                    normalise(np.stack(added_vectors)), np.asarray(added_ids, dtype=np.int64)
                )
        except RuntimeError:
            logger.exception(
                "%s: updating the vector index failed; it will be rebuilt from SQLite", self.path
            )
            self.stale = True
        self._forget_caches()
        self.dirty = True
        self._maybe_save()

    # ------------------------------------------------------------------ saving
    def _maybe_save(self) -> None:
        if self.read_only or not self.dirty or self.stale:
            return
        # Small indexes are cheap to save, so every write is durable at once; large ones save on a timer
        # (a crash in between costs a rebuild from SQLite on the next open, never data).
        small = self.index.ntotal * self.dim * 4 <= _SMALL_INDEX_BYTES
        if small or time.monotonic() - self._last_save >= self.save_every_s:
            self.save()

    def save(self) -> None:
        """Write the FAISS file atomically, then record its generation and checksum in SQLite.

        Under the folder lock; an index behind the database (another process committed since this one
        last looked) is not saved: that file is the other process's to write, and a file left behind by
        a crash is rebuilt from SQLite on the next open anyway.
        """
        with self._folder_lock.held():
            if self._rows.database_generation() != self._rows.generation:
                self.dirty = False
                return
            self._save_locked()

    def _save_locked(self) -> None:
        faiss = faiss_module()
        rows = self._rows
        target = self.folder / FAISS_FILE
        tmp = target.with_name(FAISS_FILE + ".tmp")
        faiss.write_index(self.index, str(tmp))
        with open(tmp, "r+b") as handle:
            length = os.fstat(handle.fileno()).st_size
            crc = _crc_of(handle, length)
            handle.seek(length)
            handle.write(_FAISS_TRAILER.pack(_FAISS_MAGIC, rows.generation, self.index.ntotal, crc, length))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
        dir_fd = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        rows.conn.execute("BEGIN IMMEDIATE")
        rows.set_info("faiss_generation", rows.generation)
        rows.set_info("faiss_crc", crc)
        rows.conn.execute("COMMIT")
        self.dirty = False
        self._last_save = time.monotonic()

    def flush_locked(self) -> None:
        """Save pending changes; build the IVF index once a store configured for it has enough vectors
        (the caller holds the folder lock)."""
        if self.stale:
            self.rebuild(save=True)
        elif self.dirty:
            self.save()
        ivf_due = self.index_type == "ivf" and self.index.ntotal >= IVF_MIN_VECTORS
        if ivf_due and self.actual_type == "flat":
            self.rebuild(save=True)

    def close(self) -> None:
        """Stop the search threads."""
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None

    # ------------------------------------------------------------------ what the index is
    @property
    def actual_type(self) -> str:
        """The FAISS index in use: ``flat``, ``flat16``, ``ivf`` or ``hnsw`` (IVF: flat below 10k vectors)."""
        faiss = faiss_module()
        inner = faiss.downcast_index(self.index.index)
        if isinstance(inner, faiss.IndexIVF):
            return "ivf"
        if isinstance(inner, faiss.IndexHNSW):
            return "hnsw"
        if isinstance(inner, faiss.IndexScalarQuantizer):
            return "flat16"
        return "flat"

    def gpu_enabled(self) -> bool:
        """:returns: whether unrestricted searches run on a GPU."""
        if self.use_gpu is False or self.use_gpu == "false":
            return False
        if self._num_gpus is None:  # asked once: the driver call costs more than a small search
            faiss = faiss_module()
            self._num_gpus = faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0
        return self._num_gpus > 0

    def vector_ids(self) -> np.ndarray:
        """The ids held by the index, sorted (cached until the index changes)."""
        if self.stale:
            self.rebuild(save=False)
        if self._vector_ids_cache is None:
            self._vector_ids_cache = np.unique(self._ids_at(slice(None)))
        return self._vector_ids_cache

    def _ids_at(self, positions: np.ndarray | slice) -> np.ndarray:
        """The ids at FAISS positions (the id map, copied once per index change)."""
        if self._index_positions is None:
            self._index_positions = faiss_module().vector_to_array(self.index.id_map).astype(np.int64)
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

    # ------------------------------------------------------------------ search
    def _search_index(self) -> Any:
        """The index to search without a selector: a GPU copy when one is available and wanted."""
        if self.stale:
            self.rebuild(save=False)
        if not self.gpu_enabled():
            return self.index
        if self._gpu_index is None:
            faiss = faiss_module()
            try:
                self._gpu_index = faiss.index_cpu_to_all_gpus(self.index)
            except RuntimeError:
                logger.warning("%s: this index type cannot move to the GPU; searching on the CPU", self.path)
                self.use_gpu = False
                return self.index
        return self._gpu_index

    def search(self, query: np.ndarray, top_k: int, candidates: np.ndarray | None) -> tuple[list, list]:
        """
        The ``top_k`` best of ``candidates`` (all when ``None``) by exact cosine.

        :param query: the unit query vector, shape ``(1, dim)``.
        :param top_k: how many, ``> 0``.
        :param candidates: sorted rowids allowed, or ``None``.
        :returns: ``(rowids, scores)``, best first.
        """
        exact = self.actual_type == "flat"
        if candidates is None:
            index = self._search_index()
            if exact and self.threads > 1 and index is self.index and index.ntotal >= _SPLIT_MIN_VECTORS:
                return self._split_flat_search(query, min(top_k, index.ntotal))
            if index is self.index and self.actual_type == "flat16":
                return self._fp16_search(query, top_k, index.ntotal)
            # Approximate indexes fetch a margin and re-score it exactly from the stored vectors.
            k = min(top_k if exact else 2 * top_k, index.ntotal)
            if k == 0:
                return [], []
            scores, ids = index.search(query, k)
            found, found_scores = _valid(ids[0], scores[0])
            if exact:
                return found, found_scores
            return self._score_directly(query, top_k, np.asarray(found, dtype=np.int64))
        if len(candidates) == 0:
            return [], []
        if self.stale:
            self.rebuild(save=False)
        # Few candidates: scoring them directly beats a FAISS scan; many: a selector scan. fp16 copies cost
        # a conversion each (~0.8 us), so flat16 hands over sooner (a 100k selector scan: ~1.6 ms).
        fp16 = self.actual_type == "flat16"
        few = max(1024, self.index.ntotal // 100) if fp16 else max(4096, self.index.ntotal // 50)
        if len(candidates) <= few:
            return self._score_directly(query, top_k, candidates)
        faiss = faiss_module()
        k = min(top_k if exact else 2 * top_k, len(candidates))
        selector = faiss.IDSelectorBatch(candidates)
        params = self._search_params(selector)
        if fp16:
            return self._fp16_search(query, top_k, len(candidates), params)
        scores, ids = self.index.search(query, k, params=params)
        ids_list, scores_list = _valid(ids[0], scores[0])
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

        faiss = faiss_module()
        flat = faiss.downcast_index(self.index.index)
        n = flat.ntotal
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads - 1, thread_name_prefix="chronorag-search")
        vectors = faiss.rev_swig_ptr(flat.get_xb(), n * self.dim).reshape(n, self.dim)  # no copy
        bounds = np.linspace(0, n, self.threads + 1).astype(np.int64)

        def scan(part: int) -> tuple[np.ndarray, np.ndarray]:
            low, high = int(bounds[part]), int(bounds[part + 1])
            ip = faiss.METRIC_INNER_PRODUCT
            scores, positions = faiss.knn(query, vectors[low:high], min(k, high - low), metric=ip)
            return scores[0], positions[0] + low

        pending = [self._pool.submit(scan, part) for part in range(1, self.threads)]
        parts = [scan(0)] + [future.result() for future in pending]
        scores = np.concatenate([p[0] for p in parts])
        positions = np.concatenate([p[1] for p in parts])
        order = np.argsort(-scores, kind="stable")[:k]
        return self._ids_at(positions[order]).tolist(), scores[order].tolist()

    def _fp16_copies(self, ids: np.ndarray) -> np.ndarray | None:
        """A flat16 index's own copies of these vectors, widened to fp32 and read in place by position
        (``reconstruct_batch`` decodes them one by one, ~1.3 us a vector); ``None`` when the index is not
        flat16 or lacks an id."""
        faiss = faiss_module()
        inner = faiss.downcast_index(self.index.index)
        fp16 = faiss.ScalarQuantizer.QT_fp16
        if not isinstance(inner, faiss.IndexScalarQuantizer) or inner.sq.qtype != fp16 or inner.ntotal == 0:
            return None
        positions = self._positions_of(ids)
        if positions is None:
            return None
        codes = faiss.rev_swig_ptr(inner.codes.data(), inner.ntotal * inner.code_size)
        return codes.view(np.float16).reshape(inner.ntotal, self.dim)[positions].astype(np.float32)

    def _search_params(self, selector: Any) -> Any:
        faiss = faiss_module()
        inner = faiss.downcast_index(self.index.index)
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
            approximate, ids = self.index.search(query, width, params=params)
            found, found_scores = _valid(ids[0], approximate[0])
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
        faiss = faiss_module()
        inner = faiss.downcast_index(self.index.index)
        if isinstance(inner, faiss.IndexFlat):
            return self.index.reconstruct_batch(candidates)
        return self._rows.vectors_of(candidates)
