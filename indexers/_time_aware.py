"""The shared body of the time-aware retrievers: init, serialisation, and the time handling of a run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from haystack import Document

from chronorag.indexers._merge import merge_candidates, reference_cutoff
from chronorag.indexers.backend import ChronoStore, store_component_from_dict, store_component_to_dict
from chronorag.temporal.model import TemporalConstraint

SearchFn = Callable[..., list[Document]]


class TimeAwareStoreRetriever:
    """
    Base of :class:`ChronoEmbeddingRetriever` and :class:`ChronoBM25Retriever`; they differ only in the
    store search they call.
    """

    def __init__(
        self,
        document_store: ChronoStore,
        top_k: int = 10,
        time_top_k: int | None = None,
        respect_reference_time: bool = True,
        filters: dict[str, Any] | None = None,
        return_embedding: bool = True,
    ) -> None:
        """
        :param document_store: the store to search (any :class:`ChronoStore` backend).
        :param top_k: passages from the unrestricted search.
        :param time_top_k: passages added from the time-window search (default: ``top_k``; 0 turns it off).
        :param respect_reference_time: drop passages published after the constraint's reference time.
        :param filters: Haystack filters applied to every search (run-time filters replace them).
        :param return_embedding: attach the stored passage vectors, so a reranker reuses them instead of
            encoding every candidate again (the dominant cost of a cold query).
        """
        if not isinstance(document_store, ChronoStore):
            raise ValueError("document_store must be a ChronoStore (such as a ChronoDocumentStore)")
        self.document_store = document_store
        self.top_k = top_k
        self.time_top_k = time_top_k
        self.respect_reference_time = respect_reference_time
        self.filters = filters
        self.return_embedding = return_embedding

    def to_dict(self) -> dict[str, Any]:
        """
        :returns: the component's init parameters, the store as its own ``to_dict``.
        """
        return store_component_to_dict(
            self,
            top_k=self.top_k,
            time_top_k=self.time_top_k,
            respect_reference_time=self.respect_reference_time,
            filters=self.filters,
            return_embedding=self.return_embedding,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        """
        :param data: the output of :meth:`to_dict`.
        :returns: the component, with its store reopened (of the backend its ``type`` names).
        """
        return store_component_from_dict(cls, data)

    def _retrieve(
        self,
        search: SearchFn,
        query: Any,
        constraint: TemporalConstraint | None,
        filters: dict[str, Any] | None,
        top_k: int | None,
    ) -> list[Document]:
        """
        The unrestricted search, cut at the reference time, plus the best time-window matches.

        :param search: the store's ``search`` or ``bm25_search``.
        :param query: its first argument (an embedding or a text).
        :param constraint: the question's time constraint, if any.
        :param filters: run-time filters (replace the init-time ones).
        :param top_k: overrides ``top_k`` for this run.
        :returns: the merged candidates, best first.
        """
        top_k = self.top_k if top_k is None else top_k
        filters = filters if filters is not None else self.filters
        cutoff = reference_cutoff(constraint, self.respect_reference_time)
        documents = search(
            query,
            top_k=top_k,
            filters=filters,
            published_on_or_before=cutoff,
            return_embedding=self.return_embedding,
        )
        time_top_k = top_k if self.time_top_k is None else self.time_top_k
        if constraint is not None and constraint.interval is not None and time_top_k > 0:
            timed = search(
                query,
                top_k=time_top_k,
                filters=filters,
                time_window=constraint.interval,
                published_on_or_before=cutoff,
                return_embedding=self.return_embedding,
            )
            documents = merge_candidates(documents, timed)
        return documents
