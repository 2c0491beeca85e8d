"""``EventIndex``: dated short texts ("events") for event-driven query expansion.

By default the events are derived from the corpus: every document with a publication date
contributes one event, its title and the first sentence of its lead (news leads say what
happened). The index lives in the store's ``derived_folder`` (``events.npz`` + ``events.json``: the
local store's folder, or a folder beside a Milvus Lite file / in the cache for a Milvus server) and
records the store generation it was built from, so a store that changed rebuilds it on the next load.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from haystack import Document

from chronorag.indexers.backend import ChronoStore, open_store
from chronorag.temporal.meta import source_title

EVENTS_VECTORS = "events.npz"
EVENTS_TEXTS = "events.json"

_FIRST_SENTENCE = re.compile(r"^(.+?[.!?])(?:\s+[\"'(\[]?[A-Z0-9]|\s*$)", re.S)
_MAX_EVENT_WORDS = 60

EmbedFn = Callable[[list[str]], np.ndarray]


def first_sentence(text: str) -> str:
    """
    :param text: a passage.
    :returns: its first sentence, cut to 60 words.
    """
    text = " ".join(text.split())
    match = _FIRST_SENTENCE.match(text)
    sentence = match.group(1) if match else text
    return " ".join(sentence.split()[:_MAX_EVENT_WORDS])


def _default_embed() -> EmbedFn:
    from chronorag.models import get_sentence_transformer

    model = get_sentence_transformer()

    def embed(texts: list[str]) -> np.ndarray:
        return model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)

    return embed


class EventIndex:
    """
    Dated events with unit vectors, searched by cosine among those dated on or before a day.

    Usage::

        events = EventIndex("my_store")          # loads events.*, building them when missing or stale
        events.search(query_embedding, top_k=8, published_on_or_before=date(2022, 6, 16))
    """

    def __init__(self, store_path: str, embed: EmbedFn | None = None) -> None:
        """
        :param store_path: the store the events come from: a folder or a Milvus URI (``open_store``).
        :param embed: texts -> unit vectors for building (default: the shared bi-encoder).
        """
        self.store_path = str(store_path)
        self.folder: str | None = None  # the store's derived_folder, known once the store is opened
        self._embed = embed
        self.ids: list[str] = []
        self.texts: list[str] = []
        self.meta: list[dict[str, Any]] = []
        self.days = np.zeros(0, dtype=np.int64)
        self.vectors = np.zeros((0, 0), dtype=np.float32)
        self.generation = -1
        self._loaded = False

    def __len__(self) -> int:
        self._ensure_loaded()
        return len(self.ids)

    # ------------------------------------------------------------------ building
    @classmethod
    def build_from_store(
        cls, store: ChronoStore, embed: EmbedFn | None = None, save: bool = True
    ) -> EventIndex:
        """
        One event per dated document: ``"{title}: {first sentence of its lead}"`` dated by the document.

        :param store: the store.
        :param embed: texts -> unit vectors (default: the shared bi-encoder).
        :param save: write the index into the store folder.
        :returns: the built index.
        """
        index = cls(store.path, embed)
        index.folder = store.derived_folder
        leads: dict[str, tuple[int, Document]] = {}
        for doc in store.iter_documents():
            meta = doc.meta or {}
            if not meta.get("date") or not (doc.content or "").strip():
                continue
            source = str(meta.get("doc_id") or doc.id)
            position = int(meta.get("passage_index") or 0)
            title = source_title(meta)
            if doc.content.strip() == title.strip():
                continue  # a passage that is only the title says nothing happened
            if source not in leads or position < leads[source][0]:
                leads[source] = (position, doc)
        records = []
        for source, (_, doc) in leads.items():
            try:
                day = date.fromisoformat(str(doc.meta["date"])[:10])
            except ValueError:
                continue
            title = source_title(doc.meta)
            sentence = first_sentence(doc.content or "")
            text = f"{title}: {sentence}" if title else sentence
            records.append((f"event:{source}", text, day, {"doc_id": source, "title": title}))
        records.sort(key=lambda r: (r[2], r[0]))
        index.ids = [r[0] for r in records]
        index.texts = [r[1] for r in records]
        index.days = np.asarray([r[2].toordinal() for r in records], dtype=np.int64)
        index.meta = [{**r[3], "date": r[2].isoformat()} for r in records]
        embed = embed or _default_embed()
        vectors = (
            np.asarray(embed(index.texts), dtype=np.float32)
            if records
            else np.zeros((0, store.dim), np.float32)
        )
        norms = (
            np.linalg.norm(vectors, axis=1, keepdims=True) if len(vectors) else np.ones((0, 1), np.float32)
        )
        index.vectors = vectors / np.clip(norms, 1e-12, None)
        index.generation = store.generation
        index._loaded = True
        if save and not store.read_only:
            index.save()
        return index

    def save(self) -> None:
        """Write ``events.npz`` and ``events.json`` atomically (temp file, then rename)."""
        folder = Path(self.folder or self.store_path)
        folder.mkdir(parents=True, exist_ok=True)
        tmp_vectors = folder / (EVENTS_VECTORS + ".tmp.npz")
        np.savez(tmp_vectors, vectors=self.vectors, days=self.days, generation=np.int64(self.generation))
        tmp_texts = folder / (EVENTS_TEXTS + ".tmp")
        payload = {"generation": self.generation, "ids": self.ids, "texts": self.texts, "meta": self.meta}
        tmp_texts.write_text(json.dumps(payload), encoding="utf-8")
        os.replace(tmp_vectors, folder / EVENTS_VECTORS)
        os.replace(tmp_texts, folder / EVENTS_TEXTS)

    def _ensure_loaded(self) -> None:
        if self._loaded:
            return
        store = open_store(self.store_path, read_only=True)
        try:
            self.folder = store.derived_folder
            if self._load(Path(self.folder), store.generation):
                return
        finally:
            store.close()
        writable = open_store(self.store_path)
        try:
            built = EventIndex.build_from_store(writable, self._embed)
        finally:
            writable.close()
        self.__dict__.update({k: v for k, v in built.__dict__.items() if k != "_embed"})

    def _load(self, folder: Path, generation: int) -> bool:
        try:
            payload = json.loads((folder / EVENTS_TEXTS).read_text(encoding="utf-8"))
            arrays = np.load(folder / EVENTS_VECTORS)
        except (OSError, ValueError):
            return False
        if payload.get("generation") != generation or int(arrays["generation"]) != generation:
            return False  # the store changed since the events were derived
        self.ids, self.texts, self.meta = payload["ids"], payload["texts"], payload["meta"]
        self.vectors = arrays["vectors"].astype(np.float32)
        self.days = arrays["days"].astype(np.int64)
        self.generation = generation
        self._loaded = True
        return True

    # ------------------------------------------------------------------ search
    def search(
        self,
        query_embedding: list[float] | np.ndarray,
        top_k: int = 10,
        published_on_or_before: date | None = None,
    ) -> list[Document]:
        """
        The events most similar to the query, among those dated on or before ``published_on_or_before``.

        :param query_embedding: the query vector.
        :param top_k: how many events.
        :param published_on_or_before: the last day allowed (``None``: all).
        :returns: events as Documents (content = event text, meta ``date``/``doc_id``/``title``,
            ``score`` = cosine, ``embedding`` = the event vector), best first.
        """
        self._ensure_loaded()
        if not self.ids or top_k <= 0:
            return []
        query = np.asarray(query_embedding, dtype=np.float32).reshape(-1)
        query = query / max(float(np.linalg.norm(query)), 1e-12)
        allowed = np.arange(len(self.ids))
        if published_on_or_before is not None:
            allowed = allowed[self.days <= published_on_or_before.toordinal()]
        if not len(allowed):
            return []
        scores = self.vectors[allowed] @ query
        k = min(top_k, len(allowed))
        top = np.argpartition(-scores, k - 1)[:k] if k < len(allowed) else np.arange(len(allowed))
        top = top[np.argsort(-scores[top], kind="stable")]
        return [
            Document(
                id=self.ids[allowed[i]],
                content=self.texts[allowed[i]],
                meta=dict(self.meta[allowed[i]]),
                score=float(scores[i]),
                embedding=self.vectors[allowed[i]].tolist(),
            )
            for i in top
        ]
