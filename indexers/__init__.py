"""Store and find: the FAISS + SQLite document store, retrievers, RRF, ingestion and the event index."""

from chronorag.indexers.backend import ChronoStore
from chronorag.indexers.bm25_retriever import ChronoBM25Retriever
from chronorag.indexers.embedding_retriever import ChronoEmbeddingRetriever
from chronorag.indexers.errors import (
    EmbeddingDimensionError,
    InvalidDocumentError,
    StoreCorruptError,
    StoreError,
    StoreMismatchError,
)
from chronorag.indexers.rrf import ReciprocalRankFusion
from chronorag.indexers.store import ChronoDocumentStore, FolderLock
from chronorag.indexers.text import passage_text

__all__ = [
    "ChronoBM25Retriever",
    "ChronoDocumentStore",
    "ChronoEmbeddingRetriever",
    "ChronoStore",
    "EmbeddingDimensionError",
    "FolderLock",
    "InvalidDocumentError",
    "ReciprocalRankFusion",
    "StoreCorruptError",
    "StoreError",
    "StoreMismatchError",
    "passage_text",
]
