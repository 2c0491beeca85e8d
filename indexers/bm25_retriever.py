"""``ChronoBM25Retriever``: lexical retrieval from a ChronoDocumentStore, aware of the question's time."""

from __future__ import annotations

from typing import Any

from haystack import Document, component, default_from_dict, default_to_dict

from chronorag.indexers._merge import merge_candidates, reference_cutoff
from chronorag.indexers.store import ChronoDocumentStore
from chronorag.temporal.model import TemporalConstraint


@component
class ChronoBM25Retriever:
    """
    Retrieves passages by BM25 over ``passage_text`` (title + content), with the same time handling as
    :class:`ChronoEmbeddingRetriever`: a hard cut at the reference time and a soft time-window addition.

    Usage::

        retriever = ChronoBM25Retriever(ChronoDocumentStore("store"), top_k=20)
        retriever.run(query="Who coached the team?", constraint=constraint)["documents"]
    """

    def __init__(
        self,
        document_store: ChronoDocumentStore,
        top_k: int = 10,
        time_top_k: int | None = None,
        respect_reference_time: bool = True,
        filters: dict[str, Any] | None = None,
    ) -> None:
        """
        :param document_store: the store to search.
        :param top_k: passages from the unrestricted search.
        :param time_top_k: passages added from the time-window search (default: ``top_k``; 0 turns it off).
        :param respect_reference_time: drop passages published after the constraint's reference time.
        :param filters: Haystack filters applied to every search (run-time filters replace them).
        """
        if not isinstance(document_store, ChronoDocumentStore):
            raise ValueError("document_store must be a ChronoDocumentStore")
        self.document_store = document_store
        self.top_k = top_k
        self.time_top_k = time_top_k
        self.respect_reference_time = respect_reference_time
        self.filters = filters

    def warm_up(self) -> None:
        """Build or load the lexical index now rather than on the first query."""
        self.document_store.bm25_search("warm up", top_k=1)

    def to_dict(self) -> dict[str, Any]:
        """
        :returns: the component's init parameters, the store as its own ``to_dict``.
        """
        return default_to_dict(
            self,
            document_store=self.document_store.to_dict(),
            top_k=self.top_k,
            time_top_k=self.time_top_k,
            respect_reference_time=self.respect_reference_time,
            filters=self.filters,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChronoBM25Retriever:
        """
        :param data: the output of :meth:`to_dict`.
        :returns: the component, with its store reopened.
        """
        params = data.get("init_parameters", {})
        params["document_store"] = ChronoDocumentStore.from_dict(params["document_store"])
        return default_from_dict(cls, data)

    @component.output_types(documents=list[Document])
    def run(
        self,
        query: str,
        constraint: TemporalConstraint | None = None,
        filters: dict[str, Any] | None = None,
        top_k: int | None = None,
    ) -> dict[str, list[Document]]:
        """
        :param query: the question (or its content without the time phrase).
        :param constraint: the question's time constraint, if any.
        :param filters: Haystack filters (replace the init-time ones).
        :param top_k: overrides ``top_k`` for this run.
        :returns: ``{"documents": [...]}``, best BM25 score first.
        """
        top_k = self.top_k if top_k is None else top_k
        filters = filters if filters is not None else self.filters
        cutoff = reference_cutoff(constraint, self.respect_reference_time)
        documents = self.document_store.bm25_search(
            query, top_k=top_k, filters=filters, published_on_or_before=cutoff
        )
        time_top_k = top_k if self.time_top_k is None else self.time_top_k
        if constraint is not None and constraint.interval is not None and time_top_k > 0:
            timed = self.document_store.bm25_search(
                query,
                top_k=time_top_k,
                filters=filters,
                time_window=constraint.interval,
                published_on_or_before=cutoff,
            )
            documents = merge_candidates(documents, timed)
        return {"documents": documents}
