"""Answer generation for EM/F1 (and RealTimeQA's multiple-choice accuracy) with the pipeline's generator.

The reader sees the top passages of the ``chronorag`` system, as the pipeline would: the
``ExtractiveAnswerer`` proposes candidates, the ``TemporalPromptBuilder`` writes the prompt and the
configured LLM answers (``LocalLLMGenerator`` with the embedded model, or an OpenAI-compatible server
when ``CHRONORAG_LLM_API_BASE`` is set). Replies are cached per question like retrieval results.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from haystack import Document

from chronorag.evals.metrics import max_exact_match, max_f1, token_f1
from chronorag.evals.records import ResultCache
from chronorag.evals.types import EvalDataset, EvalQuestion

__all__ = ["Reader", "choose_option", "run_generation"]

READ_PASSAGES = 3  # passages shown to the reader, as the pipeline's prompt builder does


class Reader:
    """The pipeline's reading stage: extractive candidates, temporal prompt, LLM reply."""

    def __init__(self, max_passages: int = READ_PASSAGES) -> None:
        """
        :param max_passages: passages the prompt shows.
        """
        from chronorag.pipeline.extractive_answerer import ExtractiveAnswerer
        from chronorag.pipeline.prompt_builder import TemporalPromptBuilder

        self.answerer = ExtractiveAnswerer(max_passages=max_passages)
        self.builder = TemporalPromptBuilder(max_passages=max_passages)
        if os.environ.get("CHRONORAG_LLM_API_BASE"):
            from chronorag.pipeline.openai_generator import OpenAICompatibleGenerator

            self.generator: Any = OpenAICompatibleGenerator()
            self.description = f"OpenAI-compatible server {os.environ.get('CHRONORAG_LLM_MODEL', '')}".strip()
        else:
            from chronorag.pipeline.local_generator import LocalLLMGenerator

            self.generator = LocalLLMGenerator()
            self.description = "the local LLM (SmolLM2-135M-Instruct unless CHRONORAG_LLM_GGUF is set)"

    def warm_up(self) -> None:
        """Load spaCy and the LLM."""
        self.answerer.warm_up()
        self.generator.warm_up()

    def answer(self, question: str, documents: list[Document], constraint: Any = None) -> str:
        """The reader's answer from ``documents``.

        :param question: the question (with its choices, for multiple choice).
        :param documents: ranked passages, best first.
        :param constraint: the question's decomposition.
        :returns: the reply text.
        """
        candidates = self.answerer.run(query=question, documents=documents, constraint=constraint)[
            "candidates"
        ]
        prompt = self.builder.run(
            query=question, documents=documents, constraint=constraint, candidates=candidates
        )
        kwargs = {"reply_prefix": prompt["reply_prefix"]} if prompt.get("reply_prefix") else {}
        try:
            replies = self.generator.run(prompt=prompt["prompt"], **kwargs)["replies"]
        except TypeError:
            replies = self.generator.run(prompt=prompt["prompt"])["replies"]
        return (replies[0] if replies else "").strip()


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


def _documents(suite: Any, record: dict[str, Any]) -> list[Document]:
    ids = record["ids"][:READ_PASSAGES]
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
    reader = Reader()
    reader.warm_up()
    cache = ResultCache(config.out_dir / "per_question", "generation")
    for question in tqdm(questions, desc="generate", unit="q", disable=not config.progress, file=sys.stderr):
        if question.qid in cache.records:
            continue
        record = records[question.qid]
        documents = _documents(suite, record)
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
        "description": f"{reader.description}, reading the top {READ_PASSAGES} passages of chronorag",
        "metrics": {q.qid: cache.records[q.qid]["metrics"] for q in questions},
    }
