"""The lexical index beside a store: bm25s over ``passage_text`` of every passage, persisted in ``bm25/``.

The index is rebuilt lazily: the first BM25 search after a write (a new store generation)
re-indexes, so ingestion pays nothing for it and a search never sees stale text.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from chronorag.indexers.store import ChronoDocumentStore

BM25_FOLDER = "bm25"
_STATE_FILE = "state.json"
_ROWIDS_FILE = "rowids.npy"


def _tokenize(texts: list[str]) -> Any:
    import bm25s

    return bm25s.tokenize(texts, stopwords="en", show_progress=False)


class BM25Index:
    """bm25s index of a store's passages, keyed by the store's row ids."""

    def __init__(self, folder: Path, generation: int, retriever: Any, rowids: np.ndarray) -> None:
        """
        :param folder: where the index is persisted.
        :param generation: the store generation it reflects.
        :param retriever: the ``bm25s.BM25`` instance (``None`` for an empty store).
        :param rowids: the store row id of each indexed passage, in index order.
        """
        self.folder = folder
        self.generation = generation
        self.retriever = retriever
        self.rowids = rowids
        self._sorted_rowids: np.ndarray | None = None  # built on the first filtered search
        self._sorted_positions: np.ndarray | None = None

    @classmethod
    def for_store(cls, store: ChronoDocumentStore) -> BM25Index:
        """
        The store's index at its current generation: cached, loaded from disk, or rebuilt.

        :param store: the store (its lock is held by the caller).
        :returns: an up-to-date index.
        """
        cached = getattr(store, "_bm25_cache", None)
        if cached is not None and cached.generation == store.generation:
            return cached
        folder = Path(store.path) / BM25_FOLDER
        index = cls._load(folder, store.generation) or cls._build(store, folder)
        store._bm25_cache = index
        return index

    @classmethod
    def _load(cls, folder: Path, generation: int) -> BM25Index | None:
        import bm25s

        state_path = folder / _STATE_FILE
        if not state_path.exists():
            return None
        try:
            state = json.loads(state_path.read_text())
            if state.get("generation") != generation:
                return None
            rowids = np.load(folder / _ROWIDS_FILE)
            retriever = bm25s.BM25.load(str(folder / "index")) if len(rowids) else None
        except (OSError, ValueError, KeyError):
            return None  # a damaged lexical index is simply rebuilt: it is derived data
        return cls(folder, generation, retriever, rowids)

    @classmethod
    def _build(cls, store: ChronoDocumentStore, folder: Path) -> BM25Index:
        import bm25s

        rowids: list[int] = []
        texts: list[str] = []
        for batch in store.iter_texts():
            for rowid, text in batch:
                rowids.append(rowid)
                texts.append(text)
        retriever = None
        if texts:
            retriever = bm25s.BM25()
            retriever.index(_tokenize(texts), show_progress=False)
        index = cls(folder, store.generation, retriever, np.asarray(rowids, dtype=np.int64))
        if not store.read_only:
            index._save()
        return index

    def _save(self) -> None:
        """Write to a temp folder and swap it in, so a crash leaves the old index or the new one."""
        tmp = self.folder.with_name(BM25_FOLDER + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        if self.retriever is not None:
            self.retriever.save(str(tmp / "index"), show_progress=False)
        np.save(tmp / _ROWIDS_FILE, self.rowids)
        (tmp / _STATE_FILE).write_text(
            json.dumps({"generation": self.generation, "passages": len(self.rowids)})
        )
        old = self.folder.with_name(BM25_FOLDER + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if self.folder.exists():
            self.folder.rename(old)
        tmp.rename(self.folder)
        shutil.rmtree(old, ignore_errors=True)

    def _positions_of(self, candidates: np.ndarray) -> np.ndarray:
        """Positions in the BM25 index of the allowed row ids (ids it does not hold are dropped)."""
        if self._sorted_rowids is None:
            rowids = np.asarray(self.rowids, dtype=np.int64)
            order = np.argsort(rowids, kind="stable")
            self._sorted_rowids, self._sorted_positions = rowids[order], order
        wanted = np.asarray(candidates, dtype=np.int64)
        where = np.searchsorted(self._sorted_rowids, wanted)
        where = np.clip(where, 0, max(0, len(self._sorted_rowids) - 1))
        hit = self._sorted_rowids[where] == wanted if len(self._sorted_rowids) else np.zeros(0, dtype=bool)
        return self._sorted_positions[where[hit]]

    def search(self, query: str, top_k: int, candidates: np.ndarray | None) -> tuple[list[int], list[float]]:
        """
        :param query: the query text.
        :param top_k: how many passages.
        :param candidates: row ids allowed, or ``None`` for all.
        :returns: row ids and BM25 scores, best first (only passages sharing a term with the query).
        """
        import bm25s

        if self.retriever is None or top_k <= 0:
            return [], []
        mask = None
        if candidates is not None:
            mask = np.zeros(len(self.rowids), dtype=np.float32)
            positions = self._positions_of(candidates)
            if positions.size == 0:
                return [], []
            mask[positions] = 1.0
        tokens = bm25s.tokenize([query], stopwords="en", return_ids=False, show_progress=False)
        k = min(top_k, len(self.rowids))
        # n_threads=0 scores in this thread: bm25s starts a thread pool per call for any other value
        # (1-1.5 ms a query, and GIL contention under concurrent requests).
        found, scores = self.retriever.retrieve(
            tokens, k=k, show_progress=False, weight_mask=mask, n_threads=0
        )
        rowids: list[int] = []
        kept: list[float] = []
        for position, score in zip(found[0], scores[0], strict=True):
            if score <= 0:
                continue
            rowids.append(int(self.rowids[int(position)]))
            kept.append(float(score))
        return rowids, kept
