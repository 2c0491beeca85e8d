"""``ReciprocalRankFusion``: joins ranked lists (dense, lexical) by reciprocal rank."""

from dataclasses import replace
from typing import Any

from haystack import Document, component, default_from_dict, default_to_dict
from haystack.core.component.types import Variadic


@component
class ReciprocalRankFusion:
    """
    Fuses several ranked lists: score(d) = sum over lists of ``1 / (k + rank)`` (rank from 1), as in
    Cormack et al. (2009). Scores of different retrievers are not comparable; ranks are.

    Usage::

        joiner = ReciprocalRankFusion(top_k=20)
        joiner.run(documents=[dense_documents, bm25_documents])["documents"]
    """

    def __init__(self, top_k: int | None = None, k: int = 60) -> None:
        """
        :param top_k: how many fused documents to return (``None``: all).
        :param k: the RRF constant; larger flattens the contribution of top ranks.
        """
        self.top_k = top_k
        self.k = k

    def to_dict(self) -> dict[str, Any]:
        """
        :returns: the component's init parameters.
        """
        return default_to_dict(self, top_k=self.top_k, k=self.k)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ReciprocalRankFusion":
        """
        :param data: the output of :meth:`to_dict`.
        :returns: the component.
        """
        return default_from_dict(cls, data)

    @component.output_types(documents=list[Document])
    def run(self, documents: Variadic[list[Document]], top_k: int | None = None) -> dict[str, list[Document]]:
        """
        :param documents: the ranked lists, best first.
        :param top_k: overrides ``top_k`` for this run.
        :returns: ``{"documents": [...]}`` with ``score`` = the fused score, best first; the first copy of a
            document found keeps its meta (with ``meta["rrf_ranks"]``, its rank in each list or ``None``).
        """
        top_k = self.top_k if top_k is None else top_k
        lists = list(documents)
        fused: dict[str, float] = {}
        first: dict[str, Document] = {}
        ranks: dict[str, list[int | None]] = {}
        for list_index, ranked in enumerate(lists):
            for rank, doc in enumerate(ranked, start=1):
                if doc.id in ranks and ranks[doc.id][list_index] is not None:
                    continue  # a list repeating a document counts it once, at its best rank
                fused[doc.id] = fused.get(doc.id, 0.0) + 1.0 / (self.k + rank)
                first.setdefault(doc.id, doc)
                ranks.setdefault(doc.id, [None] * len(lists))[list_index] = rank
        order = sorted(fused, key=lambda i: fused[i], reverse=True)
        if top_k is not None:
            order = order[:top_k]
        return {
            "documents": [
                replace(first[i], score=fused[i], meta={**first[i].meta, "rrf_ranks": ranks[i]})
                for i in order
            ]
        }
