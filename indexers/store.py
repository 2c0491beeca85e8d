"""``ChronoDocumentStore``: passages, dates and time spans in SQLite; vectors in FAISS.

Layout of a store folder::

    store.sqlite   documents (JSON), float vectors (BLOB), publication day, time spans, generation
    vectors.faiss  the FAISS index of the same vectors, with a trailer naming its generation and checksum
    bm25/          the lexical index (see ``bm25.py``), rebuilt lazily after writes
    events.*       the event index (see ``events.py``)

SQLite is the source of truth and the FAISS file is a derived, durable cache:

1. a write commits the rows, their vectors and a new *generation* number in one SQLite
   transaction (WAL, ``synchronous=FULL``), then updates the in-memory FAISS index;
2. the FAISS file is saved atomically (temp file, fsync, rename, fsync of the folder) with the
   generation and a CRC32 of the index bytes in its trailer, and only then is that generation
   and checksum recorded in SQLite.

So after a crash at any point the file's generation is either the committed one (use it) or an
older one (rebuild the index from the SQLite vectors, which hold every committed write). A file
whose trailer says the current generation but whose bytes do not match the checksum, or a file
from a *later* generation than SQLite knows, cannot come from a crash: opening such a store raises
:class:`StoreCorruptError` naming ``chronorag store rebuild DIR``.

This module is the facade: the class composes the parts in ``indexers/local_store/`` (lock, rows,
filters, vector index, maintenance), holds the locks around them, and implements
:class:`chronorag.indexers.backend.ChronoStore`, the interface the rest of chronorag uses.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from haystack import Document, default_from_dict, default_to_dict
from haystack.document_stores.types import DuplicatePolicy

from chronorag.indexers.errors import EmbeddingDimensionError, StoreError
from chronorag.indexers.local_store.filters import CandidateFilter, narrowing_sql, validate_filters
from chronorag.indexers.local_store.lock import LOCK_FILE, FolderLock, WriterPresence
from chronorag.indexers.local_store.maintenance import (
    StoreCheck,
    check_parts,
    folder_size,
    rebuild_store,
    row_statistics,
)
from chronorag.indexers.local_store.recovery import refuse_interrupted_recovery
from chronorag.indexers.local_store.rows import (
    DEFAULT_DIM,
    SCHEMA_VERSION,
    SQLITE_FILE,
    RowStore,
    copy_without_embedding,
    normalise,
)
from chronorag.indexers.local_store.vectors import FAISS_FILE, INDEX_TYPES, VectorIndex, faiss_module
from chronorag.indexers.store_extended import ExtendedStoreMixin
from chronorag.indexers.validation import check_documents, document_matches
from chronorag.temporal.model import Interval

__all__ = [
    "DEFAULT_DIM",
    "FAISS_FILE",
    "INDEX_TYPES",
    "LOCK_FILE",
    "SCHEMA_VERSION",
    "SQLITE_FILE",
    "ChronoDocumentStore",
    "FolderLock",
    "copy_without_embedding",
    "rebuild_store",
    "validate_filters",
]


class _VectorSetting:
    """A store attribute that its vector index keeps (read and set there), such as ``use_gpu``, which the
    index turns off itself when the index type cannot move to the GPU."""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    def __get__(self, store: Any, owner: type | None = None) -> Any:
        return self if store is None else getattr(store._vectors, self._name)

    def __set__(self, store: Any, value: Any) -> None:
        setattr(store._vectors, self._name, value)


class ChronoDocumentStore(ExtendedStoreMixin):
    """A Haystack DocumentStore over SQLite (documents, dates, spans) and FAISS (vectors).

    Usage::

        store = ChronoDocumentStore("my_store")
        store.write_documents(documents_with_embeddings)
        store.search(query_embedding, top_k=5, time_window=Interval.years(1995, 1997))
    """

    index_type = _VectorSetting()
    use_gpu = _VectorSetting()
    save_every_s = _VectorSetting()
    ivf_nprobe = _VectorSetting()
    hnsw_ef_search = _VectorSetting()

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
        self.read_only = read_only
        self.search_threads = search_threads
        self._folder = Path(self.path)
        self._lock = threading.RLock()
        # Taken after ``_lock`` (never before it): writes, index saves and lexical-index rebuilds.
        self._folder_lock = FolderLock(self._folder / LOCK_FILE)
        self._presence: WriterPresence | None = None
        threads = os.environ.get("CHRONORAG_FAISS_THREADS")
        if threads:
            # OpenMP threads spin while waiting: on a busy shared CPU one thread per search is faster.
            faiss_module().omp_set_num_threads(int(threads))
        if not read_only and (self._folder / SQLITE_FILE).exists():
            # Held until close: `chronorag store check` tells a live writer's pending save from a dead one's.
            self._presence = WriterPresence(self._folder)
        try:
            self._open_parts(
                embedding_model, embedding_dim, index_type, use_gpu, save_every_s, ivf_nprobe, hnsw_ef_search
            )
        except BaseException:
            self._release_presence()
            raise

    def _open_parts(
        self,
        embedding_model: str | None,
        embedding_dim: int | None,
        index_type: str | None,
        use_gpu: str | bool,
        save_every_s: float,
        ivf_nprobe: int,
        hnsw_ef_search: int,
    ) -> None:
        read_only = self.read_only
        refuse_interrupted_recovery(self._folder, self.path)
        self._rows = RowStore(self._folder, self.path, read_only, derived_files=(FAISS_FILE,))
        if not read_only and self._presence is None:
            self._presence = WriterPresence(self._folder)  # a new store: its folder exists now
        recorded_type = self._rows.init_info(embedding_model, embedding_dim, index_type)
        self.model_id = self._rows.model_id
        self.dim = self._rows.dim
        self._vectors = VectorIndex(
            self._rows,
            self._folder_lock,
            index_type=recorded_type,
            use_gpu=use_gpu,
            save_every_s=save_every_s,
            ivf_nprobe=ivf_nprobe,
            hnsw_ef_search=hnsw_ef_search,
            read_only=read_only,
            threads=max(1, int(self.search_threads or os.environ.get("CHRONORAG_SEARCH_THREADS") or 1)),
        )
        self._candidates = CandidateFilter(self._rows, self._vectors.vector_ids)
        self._vectors.load()

    @property
    def _conn(self) -> sqlite3.Connection | None:
        """The SQLite connection (``None`` once closed); ``ExtendedStoreMixin`` reads through it."""
        return self._rows.conn

    @property
    def device(self) -> str:
        """``"gpu"`` when searches run on a GPU, else ``"cpu"``."""
        return "gpu" if self._vectors.gpu_enabled() else "cpu"

    @property
    def generation(self) -> int:
        """The number of committed writes; changes whenever the contents change."""
        return self._rows.generation

    @property
    def actual_index_type(self) -> str:
        """The FAISS index in use: ``flat``, ``flat16``, ``ivf`` or ``hnsw`` (IVF: flat below 10k vectors)."""
        return self._vectors.actual_type

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
            return self._rows.count()

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
            where, params = narrowing_sql(filters)
        with self._lock:
            documents = self._rows.documents_where(where, params)
        if filters:
            documents = [d for d in documents if document_matches(filters, d)]
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
        check_documents(documents)
        rows = [self._rows.document_to_row(d) for d in documents]
        with self._writing():
            outcome = self._rows.write(documents, rows, policy, sources or {}, list(replace_sources))
            self._vectors.follow(outcome)
            return outcome.written

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
                    self._vectors.sync()
                yield

    def _commit_deletion(self, delete: Callable[[], list[int]]) -> None:
        self._vectors.follow(self._rows.commit_deletion(delete))

    def delete_documents(self, document_ids: list[str]) -> None:
        """
        Delete passages by id; unknown ids are ignored.

        :param document_ids: the ids to delete.
        """
        with self._writing():
            rowids = list(self._rows.existing_rowids(list(document_ids)).values())
            if rowids:
                self._commit_deletion(lambda: self._rows.delete_rowids(rowids))

    def delete_source(self, doc_id: str) -> int:
        """
        Delete every passage of a source document and its ingestion record.

        :param doc_id: the source document's id (``meta["doc_id"]``).
        :returns: the number of passages deleted.
        """
        with self._writing():
            count = self._rows.count("doc_id = ?", (doc_id,))
            self._commit_deletion(lambda: self._rows.delete_source(doc_id))
        return count

    def delete_all_documents(self) -> None:
        """Delete every passage (the store keeps its model and dimension)."""
        with self._writing(sync=False):  # everything goes: nothing to catch up with
            self._commit_deletion(self._rows.delete_everything)
            self._vectors.reset()

    # ------------------------------------------------------------------ reading
    def get_documents_by_id(self, ids: list[str], return_embedding: bool = False) -> list[Document]:
        """
        Passages by id, in the order asked (unknown ids are left out).

        :param ids: passage ids.
        :param return_embedding: include the stored embeddings.
        :returns: the documents found.
        """
        with self._lock:
            return self._rows.documents_by_id(ids, return_embedding)

    def iter_documents(self, batch_size: int = 1000, return_embedding: bool = False) -> Iterator[Document]:
        """
        Every passage in insertion order, read in batches (for large stores).

        :param batch_size: rows read per query.
        :param return_embedding: include the stored embeddings.
        :returns: an iterator of documents.
        """
        last = 0
        while True:
            with self._lock:
                page = self._rows.page(last, batch_size, return_embedding)
            if not page:
                return
            last = page[-1][0]
            for _, document in page:
                yield document

    def source_hashes(self) -> dict[str, str]:
        """
        :returns: ``{doc_id: content_hash}`` of every ingested source document.
        """
        with self._lock:
            return self._rows.source_hashes()

    def rowids_to_ids(self, rowids: list[int]) -> dict[int, str]:
        """
        :param rowids: internal row ids (the FAISS ids and the BM25 index positions' keys).
        :returns: ``{rowid: passage id}``.
        """
        with self._lock:
            return self._rows.rowids_to_ids(rowids)

    def iter_texts(self, batch_size: int = 5000) -> Iterator[list[tuple[int, str]]]:
        """
        ``(rowid, passage_text)`` of every passage in rowid order, in batches (for lexical indexes).

        :param batch_size: rows per batch.
        :returns: an iterator of batches.
        """
        return self._rows.iter_texts(batch_size)

    # ------------------------------------------------------------------ search
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
        query = normalise(np.asarray(query_embedding, dtype=np.float32).reshape(1, -1))
        if query.shape[1] != self.dim:
            raise EmbeddingDimensionError(
                f"query has {query.shape[1]} dimensions; the store holds {self.dim}-d vectors"
            )
        if top_k <= 0:
            return []
        with self._lock:
            self._vectors.sync()
            candidates = self._candidates.candidate_rowids(
                filters, time_window, published_on_or_before, published_on_or_after
            )
            ids, scores = self._vectors.search(query, top_k, candidates)
            return self._rows.fetch_scored(ids, scores, return_embedding)

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
            self._vectors.sync()
            cached = getattr(self, "_bm25_cache", None)
            if cached is not None and cached.generation == self.generation:
                bm25 = cached
            elif self.read_only:
                bm25 = BM25Index.for_store(self)
            else:
                # Loading or rebuilding (and saving) ``bm25/``: one process at a time, so a second worker
                # loads what the first one saved instead of racing it on the same temp folder.
                with self._folder_lock.held():
                    self._vectors.sync()
                    bm25 = BM25Index.for_store(self)
            restricted = filters or time_window or published_on_or_before or published_on_or_after
            # BM25 covers passages without vectors too.
            candidates = (
                self._candidates.candidate_rowids(
                    filters, time_window, published_on_or_before, published_on_or_after, vectors_only=False
                )
                if restricted
                else None
            )
            rowids, scores = bm25.search(query, top_k, candidates)
            return self._rows.fetch_scored(rowids, scores, return_embedding)

    # ------------------------------------------------------------------ maintenance
    def flush(self) -> None:
        """Save the vector index now if writes happened since the last save."""
        with self._lock:
            if self.read_only:
                return
            with self._folder_lock.held():
                self._vectors.flush_locked()

    def close(self) -> None:
        """Save pending index changes and close the database."""
        with self._lock:
            if self._rows.conn is None:
                return
            self.flush()
            self._rows.close()
            self._vectors.close()
            self._release_presence()

    def _release_presence(self) -> None:
        presence, self._presence = self._presence, None
        if presence is not None:
            presence.release()

    def rebuild(self) -> int:
        """
        Rebuild the FAISS index (of the configured type) from the vectors in SQLite and save it.

        :returns: the number of vectors indexed.
        """
        with self._writing():
            self._vectors.rebuild(save=True)
            return int(self._vectors.index.ntotal)

    def check(self) -> list[str]:
        """
        Verify the database, the vector file, and that rows and vectors agree: every row with a vector is in
        the index once, and nothing else is.

        :returns: the problems found (empty when consistent; an index save still pending is no problem).
        """
        return self.check_parts().problems

    def check_parts(self, writer_open: bool | None = None) -> StoreCheck:
        """
        :meth:`check` with its notes and the repair command (what ``chronorag store check`` prints).

        :param writer_open: whether a process has the store open for writing (``None``: ask the folder).
        :returns: problems, notes and the ``chronorag store`` command that repairs the problems.
        """
        with self._lock:
            if not self.read_only:
                self.flush()  # pending saves are normal in a live store, not a problem to report
            return check_parts(self._rows, self._vectors, writer_open)

    def stats(self) -> dict[str, Any]:
        """
        :returns: documents, passages, model, dimension, index type, device, date range and size on disk.
        """
        with self._lock:
            counts = row_statistics(self._rows)
        return {
            "path": self.path,
            "documents": counts["documents"],
            "passages": counts["passages"],
            "vectors": counts["vectors"],
            "dated_passages": counts["dated_passages"],
            "time_spans": counts["time_spans"],
            "embedding_model": self.model_id,
            "embedding_dim": self.dim,
            "index_type": self.actual_index_type,
            "configured_index_type": self.index_type,
            "device": self.device,
            "date_min": counts["date_min"],
            "date_max": counts["date_max"],
            "generation": self.generation,
            "size_bytes": folder_size(self._folder),
        }

    def __enter__(self) -> ChronoDocumentStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(AttributeError):
            self._release_presence()
        conn = getattr(self, "_conn", None)
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
