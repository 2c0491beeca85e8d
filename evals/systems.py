"""The retrieval systems compared side by side, all over one store and one set of cached embeddings.

=====================  ==================================================================================
``bm25``               BM25 on the full question.
``dense``              bi-encoder (MiniLM) on the full question.
``dense+semantic``     dense candidates reranked by ``SemanticTemporalRanker(mode="semantic")`` on the full
                       question: a strong non-temporal reranker.
``mrag``               dense candidates reranked by MRAG's published scoring (``mode="mrag"``).
``chronorag``          the question decomposed (``decompose``, as of the question's date); dense (on the
                       content, as the pipeline embeds it) + BM25 time-aware candidates (passages
                       published after the reference time never come back; time-window matches are
                       added) fused by RRF, reranked by the hybrid ranker on the decomposed question.
``chronorag+events``   as ``chronorag``, the dense query first fused with preceding events
                       (``EventExpander``; on an undated corpus there are no events and it equals
                       ``chronorag``).
=====================  ==================================================================================

Ablations (``--ablations``) switch off one stage of ``chronorag`` at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import numpy as np
from haystack import Document

from chronorag.evals.types import EvalQuestion

SYSTEMS = ("bm25", "dense", "dense+semantic", "mrag", "chronorag", "chronorag+events")
ABLATIONS = ("chronorag-no-temporal-score", "chronorag-no-bm25", "chronorag-no-decomposition")
DEFAULT_CANDIDATES = 20  # passages each first stage hands a reranker (the pipeline's retriever_top_k)

__all__ = ["ABLATIONS", "DEFAULT_CANDIDATES", "SYSTEMS", "SystemSuite", "UnknownSystemError"]


class UnknownSystemError(ValueError):
    """A system name that is neither a system nor an ablation."""


@dataclass
class _Query:
    """What every system of one question shares: its embedding and its decomposition."""

    question: EvalQuestion
    embedding: np.ndarray
    content_embedding: np.ndarray
    constraint: Any


class SystemSuite:
    """Runs every system over one :class:`ChronoDocumentStore`, sharing the encoder and embedding caches.

    :param store_path: the store folder (built by :mod:`chronorag.indexers.ingest`).
    :param candidates: passages each first stage hands to a reranker.
    :param embedding_model: ``"default"`` or a local sentence-transformers folder (the store's model).
    """

    def __init__(
        self, store_path: str, candidates: int = DEFAULT_CANDIDATES, embedding_model: str = "default"
    ):
        from chronorag.indexers import (
            ChronoBM25Retriever,
            ChronoDocumentStore,
            ChronoEmbeddingRetriever,
            ReciprocalRankFusion,
        )
        from chronorag.models import get_sentence_transformer

        self.store_path = store_path
        self.candidates = candidates
        self.store = ChronoDocumentStore(store_path)
        self.encoder = get_sentence_transformer(embedding_model)
        self.dense = ChronoEmbeddingRetriever(self.store, top_k=candidates)
        self.bm25 = ChronoBM25Retriever(self.store, top_k=candidates)
        self.bm25.warm_up()
        self.fusion = ReciprocalRankFusion(top_k=candidates)
        self._rankers: dict[str, Any] = {}
        self._expander: Any = None
        self._scorer: Any = None
        self._runners: dict[str, Callable[[_Query, int], list[Document]]] = {
            "bm25": self._run_bm25,
            "dense": self._run_dense,
            "dense+semantic": self._run_dense_semantic,
            "mrag": self._run_mrag,
            "chronorag": lambda query, k: self._run_chronorag(query, k),
            "chronorag+events": lambda query, k: self._run_chronorag(query, k, events=True),
            "chronorag-no-temporal-score": lambda query, k: self._run_chronorag(query, k, temporal=False),
            "chronorag-no-bm25": lambda query, k: self._run_chronorag(query, k, bm25=False),
            "chronorag-no-decomposition": lambda query, k: self._run_chronorag(query, k, decomposition=False),
        }

    @staticmethod
    def check(names: list[str]) -> None:
        """Raise for names that are no system.

        :param names: system names.
        :raises UnknownSystemError: naming the unknown ones and the valid ones.
        """
        unknown = [name for name in names if name not in SYSTEMS + ABLATIONS]
        if unknown:
            raise UnknownSystemError(
                f"unknown system(s) {', '.join(unknown)}; choose from {', '.join(SYSTEMS + ABLATIONS)}"
            )

    def prepare(self, question: EvalQuestion) -> _Query:
        """Embed and decompose a question once for every system.

        :param question: the question.
        :returns: the shared per-question state.
        """
        from chronorag.temporal import decompose

        constraint = decompose(question.question, as_of=question.as_of)
        content = (constraint.content or "").strip() or question.question
        vectors = self.encoder.encode(
            [question.question, content], normalize_embeddings=True, show_progress_bar=False
        )
        vectors = np.asarray(vectors, dtype=np.float32)
        return _Query(question, vectors[0], vectors[1], constraint)

    def retrieve(self, name: str, query: _Query, k: int) -> list[Document]:
        """The top ``k`` passages of system ``name`` for a prepared question.

        :param name: a system or ablation name.
        :param query: from :meth:`prepare`.
        :param k: passages to return.
        :returns: passages, best first.
        """
        self.check([name])
        return self._runners[name](query, k)[:k]

    def constraint_dict(self, query: _Query) -> dict[str, Any]:
        """The decomposition, for the per-question log.

        :param query: from :meth:`prepare`.
        :returns: ``TemporalConstraint.to_dict()``.
        """
        return query.constraint.to_dict()

    # --- systems ------------------------------------------------------------------------------------
    def _run_bm25(self, query: _Query, k: int) -> list[Document]:
        return self.bm25.run(query=query.question.question, top_k=k)["documents"]

    def _run_dense(self, query: _Query, k: int) -> list[Document]:
        return self.dense.run(query_embedding=query.embedding.tolist(), top_k=k)["documents"]

    def _dense_candidates(self, query: _Query) -> list[Document]:
        documents = self.dense.run(query_embedding=query.embedding.tolist(), top_k=self.candidates)[
            "documents"
        ]
        return self._with_embeddings(documents)

    def _with_embeddings(self, documents: list[Document]) -> list[Document]:
        """Attach the stored passage vectors, so rerankers reuse them instead of encoding passages again."""
        stored = {
            doc.id: doc.embedding
            for doc in self.store.get_documents_by_id([d.id for d in documents], return_embedding=True)
        }
        return [replace(doc, embedding=stored.get(doc.id)) for doc in documents]

    def _run_dense_semantic(self, query: _Query, k: int) -> list[Document]:
        ranker = self._ranker("semantic")
        return ranker.run(query=query.question.question, documents=self._dense_candidates(query), top_k=k)[
            "documents"
        ]

    def _run_mrag(self, query: _Query, k: int) -> list[Document]:
        ranker = self._ranker("mrag")
        documents = self._dense_candidates(query)
        return ranker.run(
            query=query.question.question, documents=documents, constraint=query.constraint, top_k=k
        )["documents"]

    def _run_chronorag(
        self,
        query: _Query,
        k: int,
        events: bool = False,
        temporal: bool = True,
        bm25: bool = True,
        decomposition: bool = True,
    ) -> list[Document]:
        constraint = query.constraint if decomposition else self._plain_constraint(query)
        # As the pipeline does, retrieval embeds the content (the question without its time phrase).
        embedding = query.content_embedding if decomposition else query.embedding
        embedding = self._expand(embedding, constraint) if events else embedding
        dense = self.dense.run(query_embedding=embedding.tolist(), constraint=constraint)["documents"]
        lists = [dense]
        if bm25:
            text = (
                (constraint.content or query.question.question) if decomposition else query.question.question
            )
            lists.append(self.bm25.run(query=text, constraint=constraint)["documents"])
        candidates = self.fusion.run(documents=lists)["documents"] if len(lists) > 1 else dense
        candidates = self._with_embeddings(candidates)
        ranker = self._ranker("hybrid" if temporal else "hybrid-no-temporal")
        return ranker.run(
            query=query.question.question, documents=candidates, constraint=constraint, top_k=k
        )["documents"]

    # --- helpers ----------------------------------------------------------------------------------
    @staticmethod
    def _plain_constraint(query: _Query) -> Any:
        """No decomposition: no time relation, only the date the question is asked on."""
        from chronorag.temporal.model import Relation, TemporalConstraint

        reference = query.question.as_of or query.constraint.reference_time
        question = query.question.question
        return TemporalConstraint(question, question, Relation.NONE, None, None, reference)

    def _ranker(self, kind: str) -> Any:
        if kind not in self._rankers:
            from chronorag.rankers import SemanticTemporalRanker

            if kind == "hybrid-no-temporal":
                ranker = SemanticTemporalRanker(
                    top_k=self.candidates, mode="hybrid", temporal_weight=0.0, recency_weight=0.0
                )
            else:
                ranker = SemanticTemporalRanker(top_k=self.candidates, mode=kind)
            # One scorer for every ranker: its sentence-embedding cache is then shared across systems.
            if self._scorer is None:
                ranker.warm_up()
                self._scorer = ranker.scorer
            ranker.scorer = self._scorer
            self._rankers[kind] = ranker
        return self._rankers[kind]

    def _expand(self, embedding: np.ndarray, constraint: Any) -> np.ndarray:
        if self._expander is None:
            from chronorag.rankers import EventExpander

            self._expander = EventExpander(store_path=self.store_path)
            self._expander.warm_up()
        fused = self._expander.run(query_embedding=embedding.tolist(), constraint=constraint)["embedding"]
        return np.asarray(fused, dtype=np.float32)


def passage_date(document: Document) -> date | None:
    """A passage's publication date from ``meta["date"]``, or ``None``.

    :param document: a passage.
    :returns: the date, or ``None`` when absent or unreadable.
    """
    value = (document.meta or {}).get("date")
    if not value:
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None
