"""The retrieval systems compared side by side, all over one store and one set of cached embeddings.

=====================  ==================================================================================
``bm25``               BM25 on the full question.
``dense``              bi-encoder (MiniLM) on the full question.
``dense+semantic``     dense candidates reranked by ``SemanticTemporalRanker(mode="semantic")`` on the full
                       question: a strong non-temporal reranker.
``mrag``               dense candidates reranked by MRAG's published scoring (``mode="mrag"``).
``chronorag``          the shipped pipeline itself: ``build_pipeline(store, preset="fast")``, or the
                       ``--pipeline`` YAML, run by the retrieval plan ``retrieve``, the CLI and the REST
                       API run (:mod:`chronorag.pipeline.retrieval`), as of the question's date.
=====================  ==================================================================================

Ablations (``--ablations``) are pipelines built from the same preset with one option changed:
``chronorag-no-events`` (``use_expander=False``), ``chronorag-no-temporal-score``
(``temporal_scoring=False``), ``chronorag-no-bm25`` (``use_bm25=False``), ``chronorag-no-decomposition``
(``decompose=False``), ``chronorag-no-subject-check`` (``subject_check=False``) and
``chronorag-no-answer-rerank`` (``answer_rerank_passages=0``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from haystack import Document

from chronorag.evals.types import EvalQuestion

SYSTEMS = ("bm25", "dense", "dense+semantic", "mrag", "chronorag")
# Each ablation: the options it changes in the preset's pipeline.
ABLATION_OPTIONS: dict[str, dict[str, Any]] = {
    "chronorag-no-events": {"use_expander": False},
    "chronorag-no-temporal-score": {"temporal_scoring": False},
    "chronorag-no-bm25": {"use_bm25": False},
    "chronorag-no-decomposition": {"decompose": False},
    "chronorag-no-subject-check": {"subject_check": False},
    "chronorag-no-answer-rerank": {"answer_rerank_passages": 0},
}
ABLATIONS = tuple(ABLATION_OPTIONS)
PRESET = "fast"  # the preset the CLI and REST API build by default
DEFAULT_CANDIDATES = 20  # passages each first stage hands a reranker (the pipeline's retriever_top_k)

__all__ = ["ABLATIONS", "DEFAULT_CANDIDATES", "SYSTEMS", "SystemSuite", "UnknownSystemError"]


class UnknownSystemError(ValueError):
    """A system name that is neither a system nor an ablation."""


@dataclass
class _Query:
    """What the systems of one question share: its embedding and decomposition (the baselines'), and
    the constraint each pipeline decomposed it into."""

    question: EvalQuestion
    embedding: np.ndarray
    constraint: Any
    constraints: dict[str, Any] = field(default_factory=dict)


class SystemSuite:
    """Runs every system over one :class:`ChronoDocumentStore`.

    The baselines share one encoder and the question's embedding; the ``chronorag`` family runs
    pipelines (the shipped one and its ablations) through :func:`chronorag.pipeline.retrieval.run_retrieval`.

    :param store_path: the store folder (built by :mod:`chronorag.indexers.ingest`).
    :param candidates: passages the baselines' first stage hands to a reranker (the pipeline's
        ``retriever_top_k`` for the ``chronorag`` family: the shipped value unless a YAML sets another).
    :param embedding_model: ``"default"`` or a local sentence-transformers folder (the store's model).
    :param pipeline_yaml: a pipeline YAML for the ``chronorag`` system; ``None``: the ``fast`` preset.
    """

    def __init__(
        self,
        store_path: str,
        candidates: int = DEFAULT_CANDIDATES,
        embedding_model: str = "default",
        pipeline_yaml: str | None = None,
    ):
        from chronorag.indexers import (
            ChronoBM25Retriever,
            ChronoDocumentStore,
            ChronoEmbeddingRetriever,
        )
        from chronorag.models import get_sentence_transformer

        self.store_path = store_path
        self.candidates = candidates
        self.pipeline_yaml = pipeline_yaml
        self.store = ChronoDocumentStore(store_path)
        self.encoder = get_sentence_transformer(embedding_model)
        self.dense = ChronoEmbeddingRetriever(self.store, top_k=candidates)
        self.bm25 = ChronoBM25Retriever(self.store, top_k=candidates)
        self.bm25.warm_up()
        self._rankers: dict[str, Any] = {}
        self._pipelines: dict[str, Any] = {}
        self._runners: dict[str, Callable[[_Query, int], list[Document]]] = {
            "bm25": self._run_bm25,
            "dense": self._run_dense,
            "dense+semantic": self._run_dense_semantic,
            "mrag": self._run_mrag,
        }

    @property
    def pipeline(self) -> Any:
        """The ``chronorag`` system's pipeline: what ``chronorag ask``/``serve`` build over this store."""
        return self.system_pipeline("chronorag")

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
        """Embed and decompose a question once for the baselines.

        :param question: the question.
        :returns: the shared per-question state.
        """
        from chronorag.temporal import decompose

        constraint = decompose(question.question, as_of=question.as_of)
        vectors = self.encoder.encode([question.question], normalize_embeddings=True, show_progress_bar=False)
        return _Query(question, np.asarray(vectors[0], dtype=np.float32), constraint)

    def retrieve(self, name: str, query: _Query, k: int) -> list[Document]:
        """The top ``k`` passages of system ``name`` for a prepared question.

        :param name: a system or ablation name.
        :param query: from :meth:`prepare`.
        :param k: passages to return.
        :returns: passages, best first.
        """
        self.check([name])
        if name in self._runners:
            return self._runners[name](query, k)[:k]
        from chronorag.pipeline.retrieval import run_retrieval

        question = query.question
        result = run_retrieval(self.system_pipeline(name), question.question, as_of=question.as_of, top_k=k)
        query.constraints[name] = result.constraint
        return result.documents[:k]

    def constraint_dict(self, query: _Query, name: str | None = None) -> dict[str, Any]:
        """The decomposition, for the per-question log.

        :param query: from :meth:`prepare`.
        :param name: the system whose constraint to report (a pipeline's own, once it ran).
        :returns: ``TemporalConstraint.to_dict()``.
        """
        return query.constraints.get(name, query.constraint).to_dict()

    # --- systems ------------------------------------------------------------------------------------
    def _run_bm25(self, query: _Query, k: int) -> list[Document]:
        return self.bm25.run(query=query.question.question, top_k=k)["documents"]

    def _run_dense(self, query: _Query, k: int) -> list[Document]:
        return self.dense.run(query_embedding=query.embedding.tolist(), top_k=k)["documents"]

    def _dense_candidates(self, query: _Query) -> list[Document]:
        return self.dense.run(query_embedding=query.embedding.tolist(), top_k=self.candidates)["documents"]

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

    # --- helpers ----------------------------------------------------------------------------------
    def system_pipeline(self, name: str) -> Any:
        """
        The pipeline of ``chronorag`` or an ablation, built once.

        :param name: ``"chronorag"`` or a name of :data:`ABLATIONS`.
        :returns: the pipeline.
        :raises UnknownSystemError: for another name.
        """
        if name != "chronorag" and name not in ABLATION_OPTIONS:
            raise UnknownSystemError(
                f"{name!r} is not chronorag or one of its ablations: {', '.join(ABLATIONS)}"
            )
        if name not in self._pipelines:
            from chronorag.pipeline import build_pipeline, load

            if name == "chronorag" and self.pipeline_yaml:
                pipeline = load(str(self.pipeline_yaml), store_path=self.store_path)
            else:
                pipeline = build_pipeline(self.store_path, preset=PRESET, **ABLATION_OPTIONS.get(name, {}))
            self._pipelines[name] = pipeline
        return self._pipelines[name]

    def _ranker(self, kind: str) -> Any:
        if kind not in self._rankers:
            from chronorag.rankers import SemanticTemporalRanker

            ranker = SemanticTemporalRanker(top_k=self.candidates, mode=kind)
            ranker.warm_up()
            self._rankers[kind] = ranker
        return self._rankers[kind]
