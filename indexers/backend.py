"""``ChronoStore``: the interface chronorag's components use a document store through.

The retrievers (``_time_aware.py``), the event index (``events.py``), ingestion (``ingest.py``), the REST
API (``api/``) and the CLI (``cli/``) call a store only through these members, so both backends serve them
all: ``ChronoDocumentStore`` (SQLite + FAISS, ``indexers/store.py``) and ``MilvusStore`` (Milvus Lite or a
Milvus server, ``indexers/milvus/``); :func:`open_store` opens either from a location (a folder or a Milvus
URI). It extends Haystack's ``DocumentStore`` protocol (``count_documents``,
``filter_documents``, ``write_documents``, ``delete_documents``, ``to_dict``, ``from_dict``) with the
semantics a backend must keep:

* **Passages** are Haystack ``Document`` s as described in docs/ARCHITECTURE.md; ``meta["date"]`` (ISO day,
  may be absent) is the publication date, ``meta["time_spans"]`` the mentioned intervals (``start``/``end``
  ISO days, ``None`` = open end).
* **Restrictions run before the vector search**, never after it: ``filters`` are Haystack filters with
  Haystack's exact semantics; ``time_window`` keeps passages with *any* span overlapping it (inclusive
  days); ``published_on_or_before``/``published_on_or_after`` drop passages published after/before the day
  while undated passages pass. A restricted search still returns ``top_k`` passages whenever that many match.
* **Scores**: ``search`` returns cosine similarity (exact, or re-scored exactly), best first; ``bm25_search``
  the BM25 score over ``passage_text`` (title + content) of every passage, with or without a vector.
* **Atomic writes**: ``write_batch`` writes passages and their source records in one transaction (all or
  nothing); a document acknowledged is never lost. ``generation`` changes with every committed change
  (derived indexes, such as the event index, are keyed on it).
* **Model**: ``model_id``/``dim`` are the embedding model and dimension the store holds; writing another
  dimension raises ``EmbeddingDimensionError``, opening with another model ``StoreMismatchError``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator, Sequence
from datetime import date
from typing import Any, Protocol, runtime_checkable

import numpy as np
from haystack import Document, default_from_dict, default_to_dict
from haystack.core.errors import DeserializationError
from haystack.document_stores.types import DocumentStore, DuplicatePolicy

from chronorag.temporal.model import Interval

# Only chronorag's own classes may be named as a store in serialised components: a pipeline YAML is
# loaded with ``allowed_modules=["chronorag.*"]`` and the store inside a component must not widen that
# (this check is that allow-list, so it holds for a component deserialised outside a pipeline too).
_ALLOWED_STORE_PREFIX = "chronorag."
LOCAL_STORE_TYPE = "chronorag.indexers.store.ChronoDocumentStore"
MILVUS_STORE_TYPE = "chronorag.indexers.milvus.store.MilvusStore"
STORE_TYPES = (LOCAL_STORE_TYPE, MILVUS_STORE_TYPE)
MILVUS_SCHEMES = ("milvus://", "http://", "https://", "tcp://", "grpc://")


@runtime_checkable
class ChronoStore(DocumentStore, Protocol):
    """What chronorag's components call on a store (see the module's documentation for the semantics)."""

    path: str
    """Where the store lives, as the user gave it (a folder for the local store)."""
    model_id: str
    """The embedding model of the stored vectors."""
    dim: int
    """Their dimension."""
    read_only: bool
    """Whether the store was opened without write access (writes raise ``StoreError``)."""

    @property
    def derived_folder(self) -> str:
        """A local folder for indexes derived from the store (the event index): the local store's own
        folder, beside a Milvus Lite file, or a cache folder for a Milvus server."""
        ...

    @property
    def generation(self) -> int:
        """A number that changes whenever the contents change (derived indexes are keyed on it)."""
        ...

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
        :param policy: duplicate policy, as for ``write_documents`` (``NONE`` means ``FAIL``).
        :param sources: ``{doc_id: (content_hash, passage_count)}`` recorded with the passages.
        :param replace_sources: doc ids whose earlier passages are deleted in the same transaction.
        :returns: the number of passages written.
        """
        ...

    def delete_source(self, doc_id: str) -> int:
        """
        Delete every passage of a source document (``meta["doc_id"]``) and its ingestion record.

        :returns: the number of passages deleted.
        """
        ...

    def source_hashes(self) -> dict[str, str]:
        """:returns: ``{doc_id: content_hash}`` of every ingested source document."""
        ...

    def get_documents_by_id(self, ids: list[str], return_embedding: bool = False) -> list[Document]:
        """:returns: the passages of ``ids`` in the order asked (unknown ids left out)."""
        ...

    def iter_documents(self, batch_size: int = 1000, return_embedding: bool = False) -> Iterator[Document]:
        """:returns: every passage in insertion order, read in batches."""
        ...

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
        """:returns: the ``top_k`` passages closest (cosine) to the query that the restrictions allow."""
        ...

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
        """:returns: the ``top_k`` passages by BM25 among those the restrictions allow."""
        ...

    def flush(self) -> None:
        """Make every acknowledged write durable in the backend's derived structures (indexes)."""
        ...

    def close(self) -> None:
        """Flush and release the store (idempotent)."""
        ...

    def check(self) -> list[str]:
        """:returns: the inconsistencies found between the stored passages and their index (empty: ok)."""
        ...

    def stats(self) -> dict[str, Any]:
        """
        :returns: at least ``path``, ``documents``, ``passages``, ``vectors``, ``embedding_model``,
            ``embedding_dim``, ``index_type``, ``device``, ``date_min``, ``date_max`` and ``generation``.
        """
        ...


def open_store(location: str, read_only: bool = False, **options: Any) -> ChronoStore:
    """
    Open the store at ``location``: a folder (the local FAISS + SQLite store) or a Milvus URI
    (``milvus:///path/file.db`` for Milvus Lite, ``http://host:19530`` for a server, either with an
    optional ``?collection=NAME``; a server's token comes from ``CHRONORAG_MILVUS_TOKEN``).

    :param location: the folder or URI.
    :param read_only: open without write access.
    :param options: the backend's other init parameters (``embedding_model``, ``embedding_dim``,
        ``index_type``...).
    :returns: the store.
    :raises StoreError: when the store cannot be opened (and, for Milvus, when ``pymilvus`` is missing).
    """
    location = str(location)
    if is_milvus_location(location):
        from chronorag.indexers.milvus import MilvusStore

        return MilvusStore(location, read_only=read_only, **options)
    from chronorag.indexers.store import ChronoDocumentStore

    return ChronoDocumentStore(location, read_only=read_only, **options)


def is_milvus_location(location: str) -> bool:
    """:returns: whether ``location`` names a Milvus store rather than a local store folder."""
    return str(location).startswith(MILVUS_SCHEMES)


def store_dict(location: str) -> dict[str, Any]:
    """
    The ``to_dict`` form of the store at ``location`` (for pointing a pipeline YAML at another store).

    :param location: a folder or a Milvus URI.
    :returns: ``{"type": ..., "init_parameters": {...}}``.
    """
    if is_milvus_location(location):
        from urllib.parse import parse_qs

        collection = (parse_qs(str(location).partition("?")[2]).get("collection") or ["chronorag"])[0]
        parameters = {"uri": str(location), "collection": collection}
        return {"type": MILVUS_STORE_TYPE, "init_parameters": parameters}
    return {"type": LOCAL_STORE_TYPE, "init_parameters": {"path": str(location)}}


def store_from_dict(data: dict[str, Any]) -> ChronoStore:
    """
    Reopen a store from its ``to_dict`` output, of whichever backend its ``type`` names.

    :param data: ``{"type": "chronorag....", "init_parameters": {...}}``.
    :returns: the store.
    :raises DeserializationError: when the type is missing, outside ``chronorag``, cannot be imported or is
        not a :class:`ChronoStore`.
    """
    type_name = data.get("type") if isinstance(data, dict) else None
    if not isinstance(type_name, str):
        raise DeserializationError("Missing 'type' in the document store's serialization data")
    if not type_name.startswith(_ALLOWED_STORE_PREFIX):
        raise DeserializationError(f"document store type {type_name!r} is not a chronorag store")
    module_name, _, class_name = type_name.rpartition(".")
    try:
        store_class = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise DeserializationError(f"document store type {type_name!r} cannot be imported") from exc
    from_dict = getattr(store_class, "from_dict", None)
    if from_dict is None:
        raise DeserializationError(f"{type_name!r} is not a document store (it has no from_dict)")
    store = from_dict(data)
    if not isinstance(store, ChronoStore):
        raise DeserializationError(f"{type_name!r} does not implement chronorag's ChronoStore interface")
    return store


def store_component_to_dict(component: Any, **init_parameters: Any) -> dict[str, Any]:
    """
    Serialise a component that holds a store (``component.document_store``): the store as its own
    ``to_dict``, so :func:`store_component_from_dict` reopens it of the same backend.

    :param component: the component.
    :param init_parameters: its other init parameters.
    :returns: Haystack's ``{"type", "init_parameters"}`` form.
    """
    return default_to_dict(component, document_store=component.document_store.to_dict(), **init_parameters)


def store_component_from_dict(cls: type, data: dict[str, Any]) -> Any:
    """
    Deserialise a component written by :func:`store_component_to_dict`, reopening its store.

    :param cls: the component class.
    :param data: the serialised component.
    :returns: the component.
    :raises DeserializationError: when the store's data names no chronorag store.
    """
    params = data.get("init_parameters", {})
    params["document_store"] = store_from_dict(params["document_store"])
    return default_from_dict(cls, data)
