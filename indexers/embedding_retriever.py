"""``ChronoEmbeddingRetriever``: dense retrieval from a ChronoStore, aware of the question's time."""

from __future__ import annotations

from typing import Any

from haystack import Document, component

from chronorag.indexers._time_aware import TimeAwareStoreRetriever
from chronorag.temporal.model import TemporalConstraint


@component
class ChronoEmbeddingRetriever(TimeAwareStoreRetriever):
    """
    Retrieves passages by embedding similarity, with the question's time constraint applied in the store.

    With a constraint it never returns passages published after ``constraint.reference_time`` (undated
    passages pass) when ``respect_reference_time`` is on, and it adds to the ``top_k`` unrestricted
    candidates the ``time_top_k`` best passages whose time spans overlap the constraint's interval,
    so time-fitting passages reach the ranker even when their wording is further from the question.

    Usage::

        retriever = ChronoEmbeddingRetriever(ChronoDocumentStore("store"), top_k=20)
        retriever.run(query_embedding=embedding, constraint=constraint)["documents"]
    """

    @component.output_types(documents=list[Document])
    def run(
        self,
        query_embedding: list[float],
        constraint: TemporalConstraint | None = None,
        filters: dict[str, Any] | None = None,
        top_k: int | None = None,
    ) -> dict[str, list[Document]]:
        """
        :param query_embedding: the question's embedding.
        :param constraint: the question's time constraint, if any.
        :param filters: Haystack filters (replace the init-time ones).
        :param top_k: overrides ``top_k`` for this run.
        :returns: ``{"documents": [...]}``, best score (cosine) first.
        """
        documents = self._retrieve(self.document_store.search, query_embedding, constraint, filters, top_k)
        return {"documents": documents}
