"""The answering stages of a pipeline, run by name from ranked passages.

``Pipeline.run`` runs them as a graph; the REST stream (which must start the generator itself to send its
tokens) and the evaluation's reader (which answers from cached rankings) run the same components through
these two functions, so all three answer alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from haystack import Document, Pipeline

from chronorag.temporal.model import TemporalConstraint

# Runs one component by name with its inputs (a caller may time it); the default calls `run` directly.
Runner = Callable[..., dict[str, Any]]


def _direct(pipeline: Pipeline) -> Runner:
    def run(name: str, **inputs: Any) -> dict[str, Any]:
        return pipeline.get_component(name).run(**inputs)

    return run


def build_prompt(
    pipeline: Pipeline,
    query: str,
    documents: list[Document],
    constraint: TemporalConstraint | None,
    extracted: dict[str, Any],
    run: Runner | None = None,
    choices: list[str] | None = None,
) -> dict[str, str] | None:
    """
    The prompt for the pipeline's LLM, as its graph builds it, or `None` when it asks no LLM for this
    question: it has none, or the prompt builder built no prompt because the reply would not be used (the
    timeline abstained; with options, a passage writes one: `prompt_builder.reply_needed`).

    :param pipeline: a chronorag pipeline.
    :param query: the question.
    :param documents: the ranked passages.
    :param constraint: the question's decomposition.
    :param extracted: the `extractor`'s output.
    :param run: runs a component by name (default: directly).
    :param choices: the question's options (multiple choice), if any.
    :returns: `{prompt, reply_prefix}`, or `None`.
    """
    names = set(pipeline.graph.nodes)
    if "generator" not in names or "prompt_builder" not in names:
        return None
    run = run or _direct(pipeline)
    built = run(
        "prompt_builder",
        query=query,
        documents=documents,
        constraint=constraint,
        candidates=extracted["candidates"],
        abstention=extracted.get("abstention"),
        choices=choices,
    )
    return built if "prompt" in built else None


def finish_answer(
    pipeline: Pipeline,
    query: str,
    documents: list[Document],
    constraint: TemporalConstraint | None,
    extracted: dict[str, Any],
    replies: list[str] | None,
    run: Runner | None = None,
    choices: list[str] | None = None,
) -> dict[str, Any]:
    """
    The answer object from the LLM's replies: the `arbiter` rules on them when the pipeline has one (after
    the `reading_dater` has dated a reading the timeline did not list), then the `answer_builder` assembles
    the answer.

    :param pipeline: a chronorag pipeline.
    :param query: the question.
    :param documents: the ranked passages the answer cites.
    :param constraint: the question's decomposition.
    :param extracted: the `extractor`'s output (`candidates`, `abstention`, `timeline`).
    :param replies: the generator's replies; `None` when no LLM was asked.
    :param run: runs a component by name (default: directly).
    :param choices: the question's options (multiple choice): the reply names one (the arbiter lets it
        pass).
    :returns: the `ChronoAnswerBuilder` answer.
    """
    run = run or _direct(pipeline)
    decided: dict[str, Any] = {
        "candidates": extracted["candidates"],
        "replies": replies,
        "choices": choices,
        "abstention": extracted.get("abstention"),
    }
    if replies is not None and "arbiter" in pipeline.graph.nodes:
        candidates = extracted["candidates"]
        if "reading_dater" in pipeline.graph.nodes:
            candidates = run(
                "reading_dater",
                query=query,
                documents=documents,
                replies=replies,
                candidates=candidates,
                constraint=constraint,
                abstention=extracted.get("abstention"),
                choices=choices,
            )["candidates"]
        verdict = run(
            "arbiter",
            replies=replies,
            candidates=candidates,
            abstention=extracted.get("abstention"),
            choices=choices,
        )
        decided.update(
            candidates=verdict["candidates"],
            replies=verdict["replies"],
            arbitration=verdict["arbitration"],
            abstention=verdict["abstention"],
        )
    return run(
        "answer_builder",
        query=query,
        documents=documents,
        constraint=constraint,
        timeline=extracted.get("timeline"),
        **decided,
    )["answer"]
