"""Answer generation for EM/F1 (and RealTimeQA's multiple-choice accuracy) with the pipeline's generator.

The reader sees the top passages of the ``chronorag`` system, as the pipeline would: its
``ExtractiveAnswerer`` proposes candidates, its ``TemporalPromptBuilder`` writes the prompt and its
generator answers (the embedded local LLM, or an OpenAI-compatible server when
``CHRONORAG_LLM_API_BASE`` is set). Replies are cached per question like retrieval results.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from haystack import Document

from chronorag.evals.metrics import max_exact_match, max_f1, token_f1
from chronorag.evals.records import ResultCache
from chronorag.evals.types import EvalDataset, EvalQuestion

__all__ = ["Reader", "choose_option", "run_generation"]


class Reader:
    """The pipeline's reading stage, taken from the pipeline itself: extractor, prompt builder, generator.

    The components are those of the evaluation's ``chronorag`` pipeline (``SystemSuite.pipeline``: the
    ``--pipeline`` YAML, else the ``fast`` preset); a pipeline with the extractive generator answers
    with the extractor's reply.

    :param pipeline: the pipeline whose reading components answer.
    :param max_passages: passages shown to the reader; ``None`` keeps the pipeline's.
    """

    def __init__(self, pipeline: Any, max_passages: int | None = None):
        self.extractor = pipeline.get_component("extractor")
        names = set(pipeline.graph.nodes)
        self.builder = pipeline.get_component("prompt_builder") if "prompt_builder" in names else None
        self.generator = pipeline.get_component("generator") if "generator" in names else None
        if max_passages is not None:
            self.extractor.max_passages = max_passages
            if self.builder is not None:
                self.builder.max_passages = max_passages
        self.max_passages = self.extractor.max_passages
        kind = type(self.generator).__name__ if self.generator is not None else "ExtractiveAnswerer"
        model = getattr(self.generator, "model", None)
        self.description = f"the pipeline's generator ({kind}{f', model {model}' if model else ''})"

    def warm_up(self) -> None:
        """Load spaCy and the LLM."""
        self.extractor.warm_up()
        if self.generator is not None:
            self.generator.warm_up()

    def answer(self, question: str, documents: list[Document], constraint: Any = None) -> str:
        """The reader's answer from ``documents``.

        :param question: the question (with its choices, for multiple choice).
        :param documents: ranked passages, best first.
        :param constraint: the question's decomposition.
        :returns: the reply text.
        """
        extracted = self.extractor.run(query=question, documents=documents, constraint=constraint)
        if self.generator is None or self.builder is None:
            return (extracted["replies"][0] if extracted["replies"] else "").strip()
        prompt = self.builder.run(
            query=question, documents=documents, constraint=constraint, candidates=extracted["candidates"]
        )
        replies = self.generator.run(prompt=prompt["prompt"], reply_prefix=prompt.get("reply_prefix") or None)
        return (replies["replies"][0] if replies["replies"] else "").strip()


def choose_option(reply: str, choices: list[str]) -> int | None:
    """Map a free-text reply to the option it names (best token F1; ``None`` when none overlaps).

    :param reply: the reader's reply.
    :param choices: the options.
    :returns: the chosen index, or ``None``.
    """
    scores = [token_f1(reply, choice) for choice in choices]
    if not scores or max(scores) == 0.0:
        return None
    return scores.index(max(scores))


def _question_text(question: EvalQuestion) -> str:
    if not question.choices:
        return question.question
    options = "; ".join(question.choices)
    return f"{question.question} (Options: {options})"


def _documents(suite: Any, record: dict[str, Any], count: int) -> list[Document]:
    ids = record["ids"][:count]
    found = {doc.id: doc for doc in suite.store.get_documents_by_id(ids)}
    return [found[i] for i in ids if i in found]


def _score(question: EvalQuestion, reply: str) -> dict[str, float]:
    if question.choices:
        chosen = choose_option(reply, question.choices)
        return {"accuracy": 1.0 if chosen is not None and chosen == question.answer_index else 0.0}
    if not question.answerable:
        return {}
    return {"EM": max_exact_match(reply, question.answers), "F1": max_f1(reply, question.answers)}


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
        documents = _documents(suite, record, reader.max_passages)
        from chronorag.temporal.model import TemporalConstraint

        constraint = TemporalConstraint.from_dict(record["constraint"])
        reply = reader.answer(_question_text(question), documents, constraint)
        cache.add(
            {
                "qid": question.qid,
                "reply": reply,
                "answers": question.answers,
                "metrics": _score(question, reply),
            }
        )
    return {
        "system": "chronorag",
        "description": f"{reader.description}, reading the top {reader.max_passages} passages of chronorag",
        "metrics": {q.qid: cache.records[q.qid]["metrics"] for q in questions},
    }
