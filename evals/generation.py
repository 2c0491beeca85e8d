"""Answer evaluation: EM/F1 (and RealTimeQA's multiple-choice accuracy) of the pipeline's answers.

Each question is answered by :func:`chronorag.pipeline.asking.ask` on the ``chronorag`` system's own
pipeline object, the one its retrieval numbers describe: its ``extractor`` (the ``AnswerTimeline``)
chooses the answer valid for the asked time or abstains, its ``TemporalPromptBuilder`` writes the prompt
from the ranker's passages (cut around their matched sentences), its generator (the packaged local LLM,
or an OpenAI-compatible server when ``CHRONORAG_LLM_API_BASE`` is set) phrases the choice (``answer_mode``
``phrase``) or reads the passages and names the answer (``read``: its ``ReaderArbiter`` then accepts that
answer only when the timeline finds it holds for the asked time), and its ``ChronoAnswerBuilder``
assembles the answer, replacing a phrased reply that drops the answer, cites nothing or invents. The
answer object a user would get is scored:

- ``EM``/``F1``: its ``short_answer`` (the chosen answer; an abstention answers nothing) against the
  gold answers, after the one answer normaliser (``chronorag.evals.metrics.normalize_answer``);
- ``contains``: the gold answer occurs in the answer text a user reads;
- ``abstained``: the share of questions answered with an explicit abstention, and ``abstained_right``
  the share of unanswerable questions (TimeQA's) where it abstained;
- ``replaced``: the share of LLM replies the answer builder replaced; ``overruled`` (``read`` mode):
  the share of the LLM's own answers the arbiter overruled;
- ``accuracy`` (multiple choice): the option the pipeline's answer chose, given the options as
  ``ask(choices=...)`` takes them (the passages decide first, the LLM's letter where they are silent).

Answers are cached per question like retrieval results. :class:`Reader` answers from passages given to
it (TimeBench's reading protocol gives each question its own context): it runs the same answering stages
through ``chronorag.pipeline.answering``, as the REST stream runs them.
"""

from __future__ import annotations

import hashlib
import sys
from typing import Any

from haystack import Document

from chronorag.evals.metrics import max_exact_match, max_f1
from chronorag.evals.records import ResultCache
from chronorag.evals.types import EvalDataset, EvalQuestion
from chronorag.pipeline.options import choice_from_evidence, choose_option

__all__ = ["Reader", "choice_from_evidence", "choose_option", "run_generation", "score_answer"]


class Reader:
    """A pipeline's reading stages (extractor, prompt builder, generator, arbiter, answer builder) run on
    passages given to it, for protocols that give the reader its context (TimeBench reading).

    A pipeline with the extractive generator answers with the extractor's reply.

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
                prompt=prompt["prompt"],
                reply_prefix=prompt.get("reply_prefix") or None,
                examples=prompt.get("examples") or None,
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


def _cited_documents(suite: Any, question: EvalQuestion, answer: dict[str, Any]) -> list[Document]:
    """The passages the answer cites, from the store: read only where `score_answer` maps options from the
    evidence itself (a multiple-choice answer that chose no option); otherwise none."""
    if not question.choices or "choice" in answer:
        return []
    ids = [str(citation["id"]) for citation in answer.get("citations") or []]
    found = {doc.id: doc for doc in suite.store.get_documents_by_id(ids)} if ids else {}
    return [found[i] for i in ids if i in found]


def _ranking_agrees(answer: dict[str, Any], record: dict[str, Any]) -> bool:
    """Whether the passages ``ask`` cited are the retrieval record's top passages, in its order."""
    cited = [str(citation["id"]) for citation in answer.get("citations") or []]
    return cited == [str(i) for i in record["ids"][: len(cited)]]


def run_generation(
    config: Any,
    dataset: EvalDataset,
    questions: list[EvalQuestion],
    records: dict[str, dict[str, Any]] | None,
    suite: Any,
) -> dict[str, Any] | None:
    """Answer every question with the ``chronorag`` system's pipeline, as ``chronorag ask`` does; score it.

    Each question runs through :func:`chronorag.pipeline.asking.ask` on the very pipeline object the
    retrieval evaluation ran (``SystemSuite.pipeline``): the answer is the one a user gets, read from
    the ranker's own output (its matched sentences and spans included), not rebuilt from cached ids.

    :param config: the run's settings.
    :param dataset: the data set.
    :param questions: the evaluated questions.
    :param records: the ``chronorag`` system's per-question retrieval records (``None``: it did not run).
    :param suite: the :class:`~chronorag.evals.systems.SystemSuite` (its pipeline answers).
    :returns: ``{"system", "description", "metrics": {qid: {...}}, "ranking_agreement", "latency_ms"}``:
        ``ranking_agreement`` is the share of questions whose cited passages are the retrieval record's top
        passages (1.0 unless a cached ranking is stale); ``latency_ms`` the p50/p90 of ``ask``'s total time.
        ``None`` without records.
    """
    import numpy as np
    from tqdm import tqdm

    from chronorag.pipeline import dumps
    from chronorag.pipeline.asking import ask

    if records is None:
        return None
    pipeline = suite.pipeline
    pipeline.warm_up()  # model loading is not answer latency
    description = _describe(pipeline)
    # Answers depend on every component's settings: one cache per pipeline as dumped (a changed preset or
    # YAML starts a new one; retrieval caches stay shared).
    digest = hashlib.sha1(dumps(pipeline).encode("utf-8")).hexdigest()[:10]
    cache = ResultCache(config.out_dir / "per_question", f"answers-{digest}")
    for question in tqdm(questions, desc="answer", unit="q", disable=not config.progress, file=sys.stderr):
        if question.qid in cache.records:
            continue
        answer = ask(pipeline, question.question, as_of=question.as_of, choices=question.choices or None)
        cache.add(
            {
                "qid": question.qid,
                "reply": answer["answer"],
                "short_answer": answer.get("short_answer"),
                "abstention_reason": answer.get("abstention_reason"),
                "replacement_reason": answer.get("replacement_reason"),
                # The reader's own answer and the arbiter's ruling: arbitration can be studied offline.
                "reader": answer.get("reader"),
                "answers": question.answers,
                "ranking_agrees": _ranking_agrees(answer, records[question.qid]),
                "total_ms": answer["timings_ms"]["total"],
                "metrics": score_answer(question, answer, _cited_documents(suite, question, answer)),
            }
        )
    done = [cache.records[q.qid] for q in questions]
    latencies = [record["total_ms"] for record in done]
    return {
        "system": "chronorag",
        "description": description,
        "metrics": {record["qid"]: record["metrics"] for record in done},
        "ranking_agreement": float(np.mean([record["ranking_agrees"] for record in done])) if done else 1.0,
        "latency_ms": {
            "p50": float(np.percentile(latencies, 50)) if latencies else 0.0,
            "p90": float(np.percentile(latencies, 90)) if latencies else 0.0,
        },
    }


def _describe(pipeline: Any) -> str:
    names = set(pipeline.graph.nodes)
    generator = pipeline.get_component("generator") if "generator" in names else None
    kind = type(generator).__name__ if generator is not None else "no LLM"
    model = getattr(generator, "model", None)
    passages = pipeline.get_component("extractor").max_passages
    return (
        f"chronorag ask with the pipeline's generator ({kind}{f', model {model}' if model else ''}), "
        f"reading the top {passages} passages"
    )
