"""``ask`` and ``retrieve``: one question through a pipeline, in the REST ``/v1/ask`` shape."""

from __future__ import annotations

import functools
import time
from datetime import date
from typing import Any

from haystack import Pipeline

from chronorag.pipeline.retrieval import ranking_end, run_inputs, run_retrieval
from chronorag.pipeline.timing import component_timings

# Component name -> the stage its time is reported under (timings_ms keys of the REST response).
STAGES: dict[str, str] = {
    "decomposer": "decompose",
    "anchor_resolver": "decompose",  # dating an event anchor is part of reading the question
    "expander": "expand",
    "embedder": "embed",
    "retriever": "retrieve",
    "bm25_retriever": "retrieve",
    "fusion": "retrieve",
    "ranker": "rerank",
    "answer_reranker": "rerank",
    "summarizer": "summarize",
    "extractor": "generate",
    "arbiter": "generate",
    "reading_dater": "generate",
    "prompt_builder": "generate",
    "generator": "generate",
    "answer_builder": "generate",
}
_ALWAYS = ("decompose", "expand", "embed", "retrieve", "rerank", "generate")


def ask(
    pipeline: Pipeline,
    question: str,
    as_of: date | str | None = None,
    top_k: int | None = None,
    filters: dict[str, Any] | None = None,
    choices: list[str] | None = None,
) -> dict[str, Any]:
    """
    Answer one question.

    :param pipeline: from `build_pipeline` or `load`.
    :param question: the question.
    :param as_of: the reference time (ISO string or date); `None`: the decomposer's default (today).
    :param top_k: passages the ranker keeps and the answer cites (default: the pipeline's).
    :param filters: Haystack metadata filters for the retrievers (e.g. on `meta.title`).
    :param choices: options of a multiple-choice question (at most 8): the answer is one of them, the one
        the passages support best, else the one the LLM names (`choice` in the answer says which and why).
    :returns: `{answer, citations: [{id, title, date, snippet, score, semantic_score, temporal_score,
        matched_span}], constraint: TemporalConstraint.to_dict(), timings_ms: {decompose, expand, embed,
        retrieve, rerank, [summarize,] generate, total}}`.
    :raises haystack.core.errors.PipelineRuntimeError: when a component fails (its cause, e.g. a
        `GeneratorError` or the decomposer's `EmptyQuestionError`, is the exception's `__cause__`).
    """
    data = run_inputs(pipeline, question, as_of, top_k, filters, choices)
    pipeline.warm_up()  # model loading is not query latency; later calls return at once
    started = time.perf_counter()
    with component_timings() as timings:
        outputs = pipeline.run(data)
    total = (time.perf_counter() - started) * 1000.0
    result = dict(outputs["answer_builder"]["answer"])
    result["timings_ms"] = stage_timings(timings, total, pipeline)
    return result


def retrieve(
    pipeline: Pipeline,
    question: str,
    as_of: date | str | None = None,
    top_k: int | None = None,
    filters: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """
    The evidence for one question without generating an answer: the pipeline's retrieval stages
    (decomposer to ranker, and the answer reranker) run one by one, so no LLM is loaded or called.

    :param pipeline: from `build_pipeline` or `load` (its components keep the standard names).
    :param question: the question.
    :param as_of: the reference time; `None`: the decomposer's default (today).
    :param top_k: passages the ranker keeps (default: the pipeline's).
    :param filters: Haystack metadata filters for the retrievers.
    :returns: `{answer: None, citations, constraint, timings_ms: {decompose, expand, embed, retrieve,
        rerank, total}}`, the `ask` shape without an answer.
    """
    started = time.perf_counter()
    result = run_retrieval(pipeline, question, as_of, top_k, filters, end=ranking_end(pipeline))
    total = (time.perf_counter() - started) * 1000.0
    answer = _citation_builder().run(
        query=question, documents=result.documents, replies=None, constraint=result.constraint
    )
    response = dict(answer["answer"])
    response["answer"] = None
    response["timings_ms"] = stage_timings(result.timings, total, pipeline, generate=False)
    return response


@functools.cache
def _citation_builder() -> Any:
    """One default answer builder for every `retrieve` (it keeps no state between runs; creating a Haystack
    component inspects its signature, ~0.2 ms a request)."""
    from chronorag.pipeline.answer_builder import ChronoAnswerBuilder

    return ChronoAnswerBuilder()


def stage_timings(
    timings: dict[str, float], total: float, pipeline: Pipeline, generate: bool = True
) -> dict[str, float]:
    """Component milliseconds summed into the REST response's stages.

    :param timings: milliseconds by component name.
    :param total: the whole call's milliseconds.
    :param pipeline: the pipeline (a summariser adds its stage).
    :param generate: whether the answering stages ran.
    :returns: `{decompose, expand, embed, retrieve, rerank, [summarize,] [generate,] total}`.
    """
    stages = {stage: 0.0 for stage in _ALWAYS if generate or stage != "generate"}
    if "summarizer" in pipeline.graph.nodes and generate:
        stages["summarize"] = 0.0
    for name, milliseconds in timings.items():
        stage = STAGES.get(name)
        if stage in stages:
            stages[stage] += milliseconds
    stages = {stage: round(value, 2) for stage, value in stages.items()}
    stages["total"] = round(total, 2)
    return stages
