"""``SemanticTemporalRanker``: rerank passages by what they say and by when it holds.

Modes:

- ``hybrid`` (default): relevance-gated fusion (:mod:`chronorag.rankers.fusion`):
  ``score = relevance x (1 - w + w * T)``. Relevance is a weighted mean of the semantic
  evidence of the question's *content* (the question without its time phrase: a date in the text
  misleads semantic models) and of the whole question, from
  :class:`~chronorag.rankers.semantic_scoring.SemanticScorer`; T is the temporal score of
  :mod:`chronorag.rankers.temporal_scoring` and ``w`` the ``time_weight`` (``recency_weight`` when the
  question states no time: T is then a recency preference), its credit gated by relevance: a passage
  under 40% of the best candidate's relevance earns none, so time reorders the relevant passages and
  never lifts an off-topic one. Passages published after the
  constraint's reference time are dropped (``drop_future``): they cannot be evidence "as of" then
  (a date inferred by document dating is an estimate, not proof, and drops nothing).
- ``mrag``: MRAG's published scoring (:mod:`chronorag.rankers.mrag`), for side-by-side evaluation.
- ``semantic``: the non-temporal reranker on the full question (the ``dense+semantic`` baseline).

Every returned Document is a copy with ``meta["score_semantic"]``, ``meta["score_temporal"]``,
``meta["matched_span"]``, ``meta["temporal_reason"]`` and ``meta["matched_sentence"]``;
``Document.score`` is the combined score.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import date
from typing import Any

from haystack import Document, component, default_from_dict, default_to_dict

from chronorag.rankers import mrag
from chronorag.rankers.fusion import (
    DEFAULT_RECENCY_WEIGHT,
    DEFAULT_TIME_WEIGHT,
    RelevanceModel,
    explain,
    time_factor,
    time_gate,
)
from chronorag.rankers.semantic_scoring import SemanticEvidence, SemanticScorer, tokenize
from chronorag.rankers.subject import off_subject_sources, question_names
from chronorag.rankers.temporal_scoring import SATISFIES, TemporalScore, apply_ordinal, score_passage
from chronorag.temporal.meta import older_spans, proven_publication_date, source_title
from chronorag.temporal.model import Relation, TemporalConstraint, TimeMention

logger = logging.getLogger(__name__)

MODES = ("hybrid", "mrag", "semantic")
# sentence_candidates="auto" where the ranking reads sentence similarity: the 10 best passages by the
# cheap signals (stored passage embedding + BM25) get sentence-level scores
AUTO_SENTENCE_CANDIDATES = 10
# Words that ask about a time without naming a topic ("What happened in 2019?", "Any news from May?").
_TOPIC_FREE = frozenset(
    [
        "happen",
        "happened",
        "happens",
        "happening",
        "occur",
        "occurred",
        "occurs",
        "event",
        "events",
        "news",
        "take",
        "took",
        "taken",
        "place",
        "going",
        "go",
        "went",
        "anything",
        "something",
        "notable",
        "important",
        "major",
        "big",
        "new",
        "there",
    ]
)


@component
class SemanticTemporalRanker:
    """Reranks passages by semantic relevance to the question's content and temporal fit to its constraint.

    Usage::

        ranker = SemanticTemporalRanker(top_k=5)
        ranker.warm_up()
        constraint = decompose("Who was the US president in 1999?")
        ranker.run(query=constraint.question, documents=docs, constraint=constraint)["documents"]
    """

    def __init__(
        self,
        top_k: int = 10,
        mode: str = "hybrid",
        embedding_model: str = "default",
        cross_encoder: str | None = "env",
        device: str = "auto",
        time_weight: float = DEFAULT_TIME_WEIGHT,
        recency_weight: float = DEFAULT_RECENCY_WEIGHT,
        relevance_weights: dict[str, float] | None = None,
        passage_weight: float = 0.35,
        sentence_weight: float = 0.4,
        lexical_weight: float = 0.25,
        drop_future: bool = True,
        extract_mode: str = "fast",
        sentence_candidates: int | str | None = "auto",
        sentence_budget: int | None = 16,
        sentence_int8: bool | None = None,
        subject_check: bool = True,
    ) -> None:
        """Create the ranker.

        :param top_k: passages returned by default.
        :param mode: ``"hybrid"``, ``"mrag"`` or ``"semantic"``.
        :param embedding_model: ``"default"`` (embedded MiniLM) or a local sentence-transformers folder.
        :param cross_encoder: a local CrossEncoder folder used instead of the bi-encoder, ``"env"`` to read
            ``CHRONORAG_CROSS_ENCODER`` (unset: none), or ``None`` for never.
        :param device: torch device or ``"auto"``.
        :param time_weight: hybrid mode: how much of a score time fit can take away when the question has a
            time constraint (the time factor lies in ``[1 - time_weight, 1]``); 0 turns temporal scoring off.
        :param recency_weight: the same for the recency preference when the question states no time.
        :param relevance_weights: hybrid mode: the weights of the relevance mean over
            :data:`chronorag.rankers.fusion.FEATURES`; ``None``: the defaults (question 1, passage 0.5,
            coverage 0.5).
        :param passage_weight: semantic and MRAG modes: sub-weight of the whole-passage similarity.
        :param sentence_weight: semantic and MRAG modes: sub-weight of the best-sentence similarity.
        :param lexical_weight: semantic and MRAG modes: sub-weight of BM25 keyword evidence.
        :param drop_future: in hybrid mode, drop passages published after the reference time.
        :param extract_mode: ``extract_mentions`` mode for passages without ``meta["time_spans"]``.
        :param sentence_candidates: hybrid/semantic modes: sentence-level scoring for this many passages (the
            best by stored passage embedding + BM25), to bound the cost; ``None``: all; 0: none (nothing to
            encode but the question: ~20 ms for 100 passages). ``"auto"`` (default): 10 where the ranking
            reads sentence similarity (semantic mode; hybrid mode when ``relevance_weights`` weigh
            ``"sentence"``), else 0: hybrid's default relevance does not weigh sentences, so their
            encoding (~75% of a cold call) would only choose ``meta["matched_sentence"]`` and never change
            the order. A preset that wants each passage's best sentence (``accurate``) asks for 10. MRAG
            mode scores every sentence, as MRAG does.
        :param sentence_budget: hybrid mode: of those passages' sentences, encode at most this
            many, chosen by passage prescore + sentence BM25 (each passage keeps its lexically best one);
            encoding sentences is what a cold call spends its time on. ``None``: all of them. With int8
            sentences a cold rerank of 100 passages takes ~75-115 ms on two busy CPU cores
            (``bench_ranker.py``). The ``semantic`` baseline encodes every sentence of its candidates.
        :param sentence_int8: encode sentences with an int8-quantised copy of the bi-encoder (CPU only; ~3x
            faster, questions and stored passage vectors stay fp32). ``None`` (default): in hybrid mode only,
            so the ``semantic`` baseline keeps its full-precision sentences (int8 costs it ~1 point of TimeQA
            AR@1, the hybrid 0 to 0.2). MRAG mode never does.
        :param subject_check: hybrid mode: candidates of a titled source that names none of the question's
            capitalised names go after all others (:mod:`chronorag.rankers.subject`).
        :raises ValueError: on an unknown mode, a time or recency weight outside [0, 1), bad relevance
            weights, or a `sentence_candidates` that is neither a count, `None` nor `"auto"`.
        """
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        if not (0.0 <= time_weight < 1.0 and 0.0 <= recency_weight < 1.0):
            raise ValueError("time_weight and recency_weight must lie in [0, 1)")
        self.relevance = RelevanceModel.from_weights(relevance_weights)
        if top_k < 1:
            raise ValueError("top_k must be at least 1")
        self.top_k = top_k
        self.mode = mode
        self.embedding_model = embedding_model
        self.cross_encoder = cross_encoder
        self.device = device
        self.time_weight = time_weight
        self.recency_weight = recency_weight
        self.relevance_weights = relevance_weights
        self.passage_weight = passage_weight
        self.sentence_weight = sentence_weight
        self.lexical_weight = lexical_weight
        self.drop_future = drop_future
        self.extract_mode = extract_mode
        self.sentence_candidates = sentence_candidates
        self._sentence_candidates = _sentence_candidates(sentence_candidates, mode, self.relevance)
        self.sentence_budget = sentence_budget
        self.sentence_int8 = sentence_int8
        self.subject_check = subject_check
        self._int8 = (mode == "hybrid") if sentence_int8 is None else (sentence_int8 and mode != "mrag")
        self.scorer = SemanticScorer(
            embedding_model, cross_encoder, device, passage_weight, sentence_weight, lexical_weight
        )

    def warm_up(self) -> None:
        """Load the bi-encoder (shared per process), its int8 copy for sentences (when sentences are scored
        with it, on CPU) and the configured cross-encoder, if any."""
        self.scorer.warm_up()
        if self._int8 and self._sentence_candidates != 0:
            self.scorer.warm_up_int8()

    def to_dict(self) -> dict[str, Any]:
        """Serialise the init parameters."""
        return default_to_dict(
            self,
            top_k=self.top_k,
            mode=self.mode,
            embedding_model=self.embedding_model,
            cross_encoder=self.cross_encoder,
            device=self.device,
            time_weight=self.time_weight,
            recency_weight=self.recency_weight,
            relevance_weights=self.relevance_weights,
            passage_weight=self.passage_weight,
            sentence_weight=self.sentence_weight,
            lexical_weight=self.lexical_weight,
            drop_future=self.drop_future,
            extract_mode=self.extract_mode,
            sentence_candidates=self.sentence_candidates,
            sentence_budget=self.sentence_budget,
            sentence_int8=self.sentence_int8,
            subject_check=self.subject_check,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SemanticTemporalRanker:
        """Inverse of :meth:`to_dict`."""
        return default_from_dict(cls, data)

    @component.output_types(documents=list[Document], constraint=TemporalConstraint | None)
    def run(
        self,
        query: str,
        documents: list[Document],
        constraint: TemporalConstraint | None = None,
        top_k: int | None = None,
        content_embedding: list[float] | None = None,
    ) -> dict[str, Any]:
        """Rerank ``documents`` for ``query``.

        :param query: the question as asked.
        :param documents: candidate passages (meta conventions of ``docs/ARCHITECTURE.md``).
        :param constraint: the question's time constraint (from ``QueryDecomposer``); ``None``: no constraint.
        :param top_k: passages to return; default the init ``top_k``.
        :param content_embedding: hybrid mode: the embedding of ``constraint.content`` by this ranker's
            bi-encoder, when the pipeline has made it already (its `embedder`, for retrieval): reused instead
            of encoding the content again (ignored when its size is not the model's).
        :returns: ``{"documents": [...], "constraint": ...}``: the passages best first, copies with score
            explanations in meta; the constraint (a copy) with ``notes`` on what the ranking could not do
            (no candidate, no content words, no candidate fitting the asked time, no dated candidate).
        """
        top_k = top_k or self.top_k
        notes: list[str] = []
        if not documents:
            notes.append("no passage was found for the question")
            return {"documents": [], "constraint": _noted(constraint, notes)}
        self.warm_up()
        if self.mode == "semantic":
            ranked = self._rank_semantic(
                constraint.question if constraint and constraint.question else query, documents
            )
        elif self.mode == "mrag":
            ranked = self._rank_mrag(query, documents, constraint)
        else:
            ranked = self._rank_hybrid(query, documents, constraint, notes, content_embedding)
        ranked.sort(key=lambda doc: doc.score if doc.score is not None else float("-inf"), reverse=True)
        if self.mode == "hybrid" and self.subject_check:
            ranked = _subject_first(query, ranked)
        return {"documents": ranked[:top_k], "constraint": _noted(constraint, notes)}

    # --- hybrid -----------------------------------------------------------------------------
    def _rank_hybrid(
        self,
        query: str,
        documents: list[Document],
        constraint: TemporalConstraint | None,
        notes: list[str],
        content_embedding: list[float] | None = None,
    ) -> list[Document]:
        reference = constraint.reference_time if constraint else date.today()
        if self.drop_future:
            documents = [doc for doc in documents if not _published_after(doc, reference)]
        if not documents:
            notes.append(
                f"every passage found was published after the reference time {reference.isoformat()}"
            )
            return []
        content = (constraint.content or "").strip() if constraint else ""
        if content and content_embedding is not None:
            self.scorer.remember(content, content_embedding)
        question = (constraint.question or "").strip() if constraint else ""
        # A question that names nothing but a time ("What happened in 2019?"): relevance cannot tell the
        # candidates apart, so time fit orders them.
        time_only = constraint is not None and not set(tokenize(content)) - _TOPIC_FREE
        # Both question texts in one encoder call (cached): a second call would cost a second forward pass.
        self.scorer.encode([content or query, question or query])
        semantic = self.scorer.score(
            content or query, documents, self._sentence_candidates, self.sentence_budget, self._int8
        )
        whole = self.scorer.passage_similarity(question or query, documents)
        temporal = [score_passage(self._spans(doc), _published(doc), constraint) for doc in documents]
        temporal = apply_ordinal(temporal, constraint)
        constrained = (
            constraint is not None
            and constraint.relation != Relation.NONE
            and constraint.interval is not None
        )
        weight = self.time_weight if constrained else self.recency_weight
        rows = []
        for sem, similarity in zip(semantic, whole, strict=True):
            every = {
                "question": float(similarity),
                "passage": sem.passage,
                "sentence": sem.sentence,
                "coverage": sem.coverage,
                "lexical": sem.lexical,
            }
            features = {name: every[name] for name in self.relevance.weights}
            rows.append((1.0 if time_only else self.relevance.relevance(features), features))
        best = max(relevance for relevance, _ in rows) or 1.0
        ranked = []
        for doc, sem, tem, (relevance, features) in zip(documents, semantic, temporal, rows, strict=True):
            gate = time_gate(relevance / best)
            score = relevance * time_factor(tem.score, weight, gate)
            explanation = explain(relevance, features, tem.score, weight, gate)
            ranked.append(
                _explained(doc, score, sem, tem.score, tem.span_dict(), tem.reason, relevance, explanation)
            )
        notes.extend(_time_notes(constraint, temporal, constrained, time_only))
        older = sum(older_spans(doc.meta) for doc in documents)
        if older:
            notes.append(
                f"{older} of {len(documents)} candidate passages hold time spans an older chronorag read: "
                "re-run `chronorag index` on their sources to read them as this version does"
            )
        return ranked

    def _spans(self, document: Document) -> list[TimeMention]:
        """The passage's spans: from meta, else extracted from its text (documents from elsewhere)."""
        meta = document.meta or {}
        if "time_spans" in meta and meta["time_spans"] is not None:
            spans = []
            for item in meta["time_spans"]:
                try:
                    spans.append(item if isinstance(item, TimeMention) else TimeMention.from_dict(item))
                except (ValueError, TypeError, KeyError):
                    logger.debug("skipping malformed time span %r in %s", item, document.id)
            return spans
        from chronorag.temporal import extract_mentions

        return list(
            extract_mentions(document.content or "", reference=_published(document), mode=self.extract_mode)
        )

    # --- semantic baseline -----------------------------------------------------------------
    def _rank_semantic(self, question: str, documents: list[Document]) -> list[Document]:
        # The non-temporal baseline keeps every sentence of its sentence candidates (no budget).
        semantic = self.scorer.score(question, documents, self._sentence_candidates, None, self._int8)
        return [
            _explained(doc, sem.score, sem, None, None, "semantic mode: time is not scored")
            for doc, sem in zip(documents, semantic, strict=True)
        ]

    # --- MRAG reproduction ---------------------------------------------------------------
    def _rank_mrag(
        self, query: str, documents: list[Document], constraint: TemporalConstraint | None
    ) -> list[Document]:
        kind = mrag.relation_type(constraint)
        if kind == "other":
            # MRAG scores "in/on/around" (and undated) questions semantically on the full question.
            question = constraint.question if constraint and constraint.question else query
            semantic = self.scorer.score(question, documents)
            ranked = []
            for doc, sem in zip(documents, semantic, strict=True):
                raw = sem.sentence_raw[sem.best_sentence] if sem.sentence_raw else sem.passage
                ranked.append(
                    _explained(
                        doc,
                        raw,
                        sem,
                        1.0,
                        None,
                        f"mrag: relation type '{kind}' has no temporal coefficient",
                        raw_semantic=raw,
                    )
                )
            return ranked
        semantic = self.scorer.score(constraint.content or query, documents)
        ranked = []
        for doc, sem in zip(documents, semantic, strict=True):
            best = (float("-inf"), 0.5, None, 0)
            for index, (sentence, raw) in enumerate(zip(sem.sentences, sem.sentence_raw, strict=True)):
                coeff, year = mrag.coefficient(sentence, constraint)
                final = mrag.combine(raw, coeff)
                if final > best[0]:
                    best = (final, coeff, year, index)
            final, coeff, year, index = best
            sem.best_sentence = index
            span = _year_span(year)
            reason = (
                f"mrag ({kind}): year {year} gives coefficient {coeff:.2f}"
                if year is not None
                else f"mrag ({kind}): no relevant year, coefficient {coeff:.2f}"
            )
            raw = sem.sentence_raw[index] if sem.sentence_raw else sem.passage
            ranked.append(_explained(doc, final, sem, float(coeff), span, reason, raw_semantic=raw))
        return ranked


def _time_notes(
    constraint: TemporalConstraint | None,
    temporal: list[TemporalScore],
    constrained: bool,
    time_only: bool,
) -> list[str]:
    """What a user should know about the time side of a ranking."""
    notes = []
    if time_only:
        notes.append("the question names nothing but a time: passages are ranked by how well their dates fit")
    if all(item.span is None for item in temporal):
        notes.append("no candidate passage carries a date or a time span: ranked by relevance alone")
    elif constrained and constraint is not None and max(item.score for item in temporal) < SATISFIES:
        notes.append(
            f"no candidate passage mentions a time that fits '{constraint.relation.value} "
            f"{constraint.interval}': ranked by relevance, the closest times first"
        )
    return notes


def _sentence_candidates(value: int | str | None, mode: str, relevance: RelevanceModel) -> int | None:
    """The count of passages whose sentences are scored, `"auto"` resolved (see the ranker's init)."""
    if value == "auto":
        reads_sentences = mode != "hybrid" or relevance.weights.get("sentence", 0.0) > 0
        return AUTO_SENTENCE_CANDIDATES if reads_sentences else 0
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise ValueError(f'sentence_candidates must be a count >= 0, None or "auto", not {value!r}')
    return value


def _subject_first(query: str, ranked: list[Document]) -> list[Document]:
    """The ranking with the candidates of off-subject sources (titled, naming none of the question's names)
    after all others, in their order; their scores are scaled below the last other candidate's and their
    explanation says why."""
    titles = [source_title(doc.meta) for doc in ranked]
    if not any(titles):
        return ranked  # only titled sources are judged: no need to parse the question
    names = question_names(query)
    off = off_subject_sources(names, titles, [doc.content or "" for doc in ranked])
    if not off:
        return ranked
    on = [doc for doc, title in zip(ranked, titles, strict=True) if title not in off]
    away = [doc for doc, title in zip(ranked, titles, strict=True) if title in off]
    if not on:
        return ranked
    floor = min((doc.score or 0.0) for doc in on)
    top = max((doc.score or 0.0) for doc in away)
    scale = min(1.0, 0.99 * floor / top) if top > 0 else 1.0
    written = ", ".join(sorted(names))
    moved = []
    for doc in away:
        meta = dict(doc.meta or {})
        meta["off_subject"] = True
        meta["score_explanation"] = (
            f"{meta.get('score_explanation') or ''}; off-subject source: names none of {written}, "
            f"after every on-subject passage (x{scale:.2f})"
        ).lstrip("; ")
        moved.append(replace(doc, score=(doc.score or 0.0) * scale, meta=meta))
    return on + moved


def _noted(constraint: TemporalConstraint | None, notes: list[str]) -> TemporalConstraint | None:
    """A copy of the constraint with ``notes`` added (the input is not mutated)."""
    if constraint is None or not notes:
        return constraint
    return replace(constraint, notes=[*constraint.notes, *notes])


def _explained(
    doc: Document,
    score: float,
    sem: SemanticEvidence,
    temporal: float | None,
    span: dict | None,
    reason: str,
    raw_semantic: float | None = None,
    explanation: str | None = None,
) -> Document:
    """A copy of ``doc`` with the score and its explanation (the input Document is not mutated)."""
    meta = dict(doc.meta or {})
    meta["score_semantic"] = float(sem.score if raw_semantic is None else raw_semantic)
    meta["score_temporal"] = None if temporal is None else float(temporal)
    meta["matched_span"] = span
    meta["temporal_reason"] = reason
    meta["matched_sentence"] = sem.sentences[sem.best_sentence] if sem.sentences else None
    if explanation is not None:
        meta["score_explanation"] = explanation
    return replace(doc, score=float(score), meta=meta)


def _published(document: Document) -> date | None:
    """The publication date as evidence: given dates only (an inferred one is an estimate from the spans,
    which are evidence already; see ``chronorag.temporal.meta``)."""
    return proven_publication_date(document.meta)


def _published_after(document: Document, reference: date) -> bool:
    published = _published(document)
    return published is not None and published > reference


def _year_span(year: int | None) -> dict | None:
    if year is None:
        return None
    return {
        "text": str(year),
        "char_start": -1,
        "char_end": -1,
        "start": f"{year:04d}-01-01",
        "end": f"{year:04d}-12-31",
        "granularity": "year",
    }
