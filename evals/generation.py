"""Answer evaluation: EM/F1 (and RealTimeQA's multiple-choice accuracy) of the pipeline's answers.

The reader sees the top passages of the ``chronorag`` system, as the pipeline would: its ``extractor``
(the ``AnswerTimeline``) chooses the answer valid for the asked time or abstains, its
``TemporalPromptBuilder`` writes the prompt, its generator (the packaged local LLM, or an
OpenAI-compatible server when ``CHRONORAG_LLM_API_BASE`` is set) phrases the choice (``answer_mode``
``phrase``) or reads the passages and names the answer (``read``: its ``ReaderArbiter`` then accepts
that answer only when the timeline finds it holds for the asked time), and its ``ChronoAnswerBuilder``
assembles the answer, replacing a phrased reply that drops the answer, cites nothing or invents. The
stages run through ``chronorag.pipeline.answering``, as the REST stream runs them. The pipeline's answer
object is scored:

- ``EM``/``F1``: its ``short_answer`` (the chosen answer; an abstention answers nothing) against the
  gold answers, after the one answer normaliser (``chronorag.evals.metrics.normalize_answer``);
- ``contains``: the gold answer occurs in the answer text a user reads;
- ``abstained``: the share of questions answered with an explicit abstention, and ``abstained_right``
  the share of unanswerable questions (TimeQA's) where it abstained;
- ``replaced``: the share of LLM replies the answer builder replaced; ``overruled`` (``read`` mode):
  the share of the LLM's own answers the arbiter overruled;
- ``accuracy`` (multiple choice): the option the pipeline's answer chose, given the options as
  ``ask(choices=...)`` takes them (the passages decide first, the LLM's letter where they are silent).

Replies are cached per question like retrieval results.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from haystack import Document

from chronorag.evals.metrics import max_exact_match, max_f1
from chronorag.evals.records import ResultCache
from chronorag.evals.types import EvalDataset, EvalQuestion
from chronorag.pipeline.options import choice_from_evidence, choose_option

__all__ = ["Reader", "choice_from_evidence", "choose_option", "run_generation", "score_answer"]


class Reader:
    """The pipeline's reading stage, taken from the pipeline itself: extractor, prompt builder, generator.

    The components are those of the evaluation's ``chronorag`` pipeline (``SystemSuite.pipeline``: the
    ``--pipeline`` YAML, else the ``fast`` preset); a pipeline with the extractive generator answers
    with the extractor's reply.

    :param pipeline: the pipeline whose reading components answer.
    :param max_passages: passages shown to the reader; ``None`` keeps the pipeline's.
    """

    def __init__(self, pipeline: Any, max_passages: int | None = None):
        self.pipeline = pipeline
        self.extractor = pipeline.get_component("extractor")
        names = set(pipeline.graph.nodes)
        self.builder = pipeline.get_component("prompt_builder") if "prompt_builder" in names else None
        self.generator = pipeline.get_component("generator") if "generator" in names else None
        if max_passages is not None:
            self.extractor.max_passages = max_passages
            if self.builder is not None:
                self.builder.max_passages = max_passages
        self.max_passages = self.extractor.max_passages
        # The answer cites what the ranker keeps, as in the pipeline; the extractor reads the first few.
        self.top_k = max(self.max_passages, getattr(pipeline.get_component("ranker"), "top_k", 0) or 0)
        kind = type(self.generator).__name__ if self.generator is not None else "no LLM"
        model = getattr(self.generator, "model", None)
        self.description = f"the pipeline's generator ({kind}{f', model {model}' if model else ''})"

    def warm_up(self) -> None:
        """Load spaCy and the LLM."""
        self.extractor.warm_up()
        if self.generator is not None:
            self.generator.warm_up()

    def answer(
        self,
        question: str,
        documents: list[Document],
        constraint: Any = None,
        choices: list[str] | None = None,
    ) -> dict[str, Any]:
        """The pipeline's answer object from ``documents``.

        :param question: the question as a user asks it.
        :param documents: ranked passages, best first.
        :param constraint: the question's decomposition.
        :param choices: the question's options (multiple choice), as a user would give them to ``ask``.
        :returns: the ``ChronoAnswerBuilder`` answer (``answer``, ``short_answer``, ``abstained``,
            ``reply_replaced``, ``cited``, ``citations``, ...).
        """
        from chronorag.pipeline.answering import build_prompt, finish_answer

        extracted = self.extractor.run(query=question, documents=documents, constraint=constraint)
        context = {
            "pipeline": self.pipeline,
            "query": question,
            "documents": documents,
            "constraint": constraint,
        }
        replies = None
        # As the graph: no prompt, so no LLM, where its reply is not used (an abstention, options the
        # passages write).
        prompt = build_prompt(**context, extracted=extracted, choices=choices)
        if prompt is not None:
            replies = self.generator.run(
                prompt=prompt["prompt"], reply_prefix=prompt.get("reply_prefix") or None
            )["replies"]
        return finish_answer(**context, extracted=extracted, replies=replies, choices=choices)


def score_answer(
    question: EvalQuestion, answer: dict[str, Any], documents: list[Document]
) -> dict[str, float]:
    """Score one answer object of the pipeline.

    :param question: the question with its gold answers (or choices).
    :param answer: the pipeline's answer (``short_answer``, ``answer``, ``abstained``, ``reply_replaced``).
    :param documents: the passages the answer cites (for choosing an option from the evidence).
    :returns: ``EM``, ``F1``, ``contains`` (answerable questions), ``accuracy`` (multiple choice),
        ``abstained``, ``abstained_right`` (unanswerable questions) and ``replaced``.
    """
    from chronorag.pipeline.evidence import answer_contains

    abstained = bool(answer.get("abstained"))
    short = "" if abstained else str(answer.get("short_answer") or "")
    metrics = {"abstained": float(abstained), "replaced": float(bool(answer.get("reply_replaced")))}
    reader = answer.get("reader") or {}
    if reader.get("reader_answer"):
        # answer_mode "read": how often the timeline overruled the LLM's own reading
        metrics["overruled"] = 0.0 if reader.get("accepted") else 1.0
    if question.choices:
        # The pipeline was given the options, as `ask(choices=...)` takes them: its answer names one (the
        # passages decide first, the LLM's letter where they are silent). An answer without a choice
        # (a pipeline that ignores options) is mapped from its words.
        chosen = (answer.get("choice") or {}).get("index")
        if "choice" not in answer:
            chosen = choice_from_evidence(question.question, question.choices, documents)
            if chosen is None and not abstained:
                chosen = choose_option(short or str(answer.get("answer") or ""), question.choices)
        metrics["accuracy"] = 1.0 if chosen is not None and chosen == question.answer_index else 0.0
        return metrics
    if not question.answerable:
        return {"abstained_right": float(abstained), "replaced": metrics["replaced"]}
    metrics["EM"] = max_exact_match(short, question.answers)
    metrics["F1"] = max_f1(short, question.answers)
    text = "" if abstained else str(answer.get("answer") or "")
    metrics["contains"] = float(any(answer_contains(text, gold) for gold in question.answers))
    return metrics


def _documents(suite: Any, record: dict[str, Any], count: int) -> list[Document]:
    ids = record["ids"][:count]
    found = {doc.id: doc for doc in suite.store.get_documents_by_id(ids)}
    return [found[i] for i in ids if i in found]


def run_generation(
    config: Any,
    dataset: EvalDataset,
    questions: list[EvalQuestion],
    records: dict[str, dict[str, Any]] | None,
    suite: Any,
) -> dict[str, Any] | None:
    """Generate an answer per question from the ``chronorag`` system's top passages and score it.

    :param config: the run's settings.
    :param dataset: the data set.
    :param questions: the evaluated questions.
    :param records: the ``chronorag`` system's per-question records (``None``: the system did not run).
    :param suite: the :class:`~chronorag.evals.systems.SystemSuite` (its store serves the passages).
    :returns: ``{"system", "description", "metrics": {qid: {...}}}``; ``None`` without records.
    """
    from tqdm import tqdm

    if records is None:
        return None
    yaml_path = str(config.pipeline_yaml) if config.pipeline_yaml else None
    reader = Reader(suite.pipeline)
    reader.warm_up()
    # Replies depend on the reader: one cache per pipeline YAML (retrieval caches stay shared).
    name = f"generation-{Path(yaml_path).stem}" if yaml_path else "generation"
    cache = ResultCache(config.out_dir / "per_question", name)
    for question in tqdm(questions, desc="generate", unit="q", disable=not config.progress, file=sys.stderr):
        if question.qid in cache.records:
            continue
        record = records[question.qid]
        documents = _documents(suite, record, reader.top_k)
        from chronorag.temporal.model import TemporalConstraint

        constraint = TemporalConstraint.from_dict(record["constraint"])
        answer = reader.answer(question.question, documents, constraint, choices=question.choices or None)
        cache.add(
            {
                "qid": question.qid,
                "reply": answer["answer"],
                "short_answer": answer.get("short_answer"),
                "abstention_reason": answer.get("abstention_reason"),
                "replacement_reason": answer.get("replacement_reason"),
                "answers": question.answers,
                "metrics": score_answer(question, answer, documents),
            }
        )
    return {
        "system": "chronorag",
        "description": f"{reader.description}, reading the top {reader.max_passages} passages of chronorag",
        "metrics": {q.qid: cache.records[q.qid]["metrics"] for q in questions},
    }
