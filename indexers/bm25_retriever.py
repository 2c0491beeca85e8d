"""``ChronoBM25Retriever``: lexical retrieval from a ChronoStore, aware of the question's time."""

from __future__ import annotations

from typing import Any

from haystack import Document, component

from chronorag.indexers._time_aware import TimeAwareStoreRetriever
from chronorag.temporal.model import TemporalConstraint


@component
class ChronoBM25Retriever(TimeAwareStoreRetriever):
    """
    Retrieves passages by BM25 over ``passage_text`` (title + content), with the same time handling as
    :class:`ChronoEmbeddingRetriever`: a hard cut at the reference time and a soft time-window addition.

    Usage::

        retriever = ChronoBM25Retriever(ChronoDocumentStore("store"), top_k=20)
        retriever.run(query="Who coached the team?", constraint=constraint)["documents"]
    """

    def warm_up(self) -> None:
        """Build or load the lexical index now rather than on the first query (once: ``retrieve`` calls
        every component's ``warm_up`` before each run, and a search here would cost as much as a query's)."""
        if getattr(self, "_warmed_up", False):
            return
        self.document_store.bm25_search("warm up", top_k=1)
        self._warmed_up = True

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
        documents = self._retrieve(self.document_store.bm25_search, query, constraint, filters, top_k)
        return {"documents": documents}
