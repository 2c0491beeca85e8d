"""``ask`` and ``retrieve``: one question through a pipeline, in the REST ``/v1/ask`` shape."""

from __future__ import annotations

import functools
import time
from datetime import date
from typing import Any

from haystack import Document, Pipeline

from chronorag.pipeline.timing import component_timings

# Component name -> the stage its time is reported under (timings_ms keys of the REST response).
STAGES: dict[str, str] = {
    "decomposer": "decompose",
    "expander": "expand",
    "embedder": "embed",
    "retriever": "retrieve",
    "bm25_retriever": "retrieve",
    "fusion": "retrieve",
    "ranker": "rerank",
    "summarizer": "summarize",
    "extractor": "generate",
    "prompt_builder": "generate",
    "generator": "generate",
    "answer_builder": "generate",
}
_ALWAYS = ("decompose", "expand", "embed", "retrieve", "rerank", "generate")
_RETRIEVAL = ("decomposer", "embedder", "expander", "retriever", "bm25_retriever", "fusion", "ranker")


def ask(
    pipeline: Pipeline,
    question: str,
    as_of: date | str | None = None,
    top_k: int | None = None,
    filters: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """
    Answer one question.

    :param pipeline: from `build_pipeline` or `load`.
    :param question: the question.
    :param as_of: the reference time (ISO string or date); `None`: the decomposer's default (today).
    :param top_k: passages the ranker keeps and the answer cites (default: the pipeline's).
    :param filters: Haystack metadata filters for the retrievers (e.g. on `meta.title`).
    :returns: `{answer, citations: [{id, title, date, snippet, score, semantic_score, temporal_score,
        matched_span}], constraint: TemporalConstraint.to_dict(), timings_ms: {decompose, expand, embed,
        retrieve, rerank, [summarize,] generate, total}}`.
    :raises haystack.core.errors.PipelineRuntimeError: when a component fails (its cause, e.g. a
        `GeneratorError` or the decomposer's `EmptyQuestionError`, is the exception's `__cause__`).
    """
    data = _run_data(pipeline, question, as_of, top_k, filters)
    pipeline.warm_up()  # model loading is not query latency; later calls return at once
    started = time.perf_counter()
    with component_timings() as timings:
        outputs = pipeline.run(data)
    total = (time.perf_counter() - started) * 1000.0
    result = dict(outputs["answer_builder"]["answer"])
    result["timings_ms"] = _stage_timings(timings, total, pipeline)
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
    (decomposer to ranker) run one by one, so no LLM is loaded or called.

    :param pipeline: from `build_pipeline` or `load` (its components keep the standard names).
    :param question: the question.
    :param as_of: the reference time; `None`: the decomposer's default (today).
    :param top_k: passages the ranker keeps (default: the pipeline's).
    :param filters: Haystack metadata filters for the retrievers.
    :returns: `{answer: None, citations, constraint, timings_ms: {decompose, expand, embed, retrieve,
        rerank, total}}`, the `ask` shape without an answer.
    """
    present = {name for name in _RETRIEVAL if _has(pipeline, name)}
    started = time.perf_counter()
    timings: dict[str, float] = {}

    def timed(name: str, **inputs: Any) -> dict[str, Any]:
        component = pipeline.get_component(name)
        if hasattr(component, "warm_up"):
            component.warm_up()  # outside the timer: loading is not query latency
        begun = time.perf_counter()
        output = component.run(**inputs)
        timings[name] = (time.perf_counter() - begun) * 1000.0
        return output

    decomposed = timed("decomposer", query=question, as_of=_iso(as_of))
    constraint = decomposed["constraint"]
    embedding = timed("embedder", text=decomposed["content"])["embedding"]
    if "expander" in present:
        embedding = timed("expander", query_embedding=embedding, constraint=constraint)["embedding"]
    candidate_k = _candidate_k(pipeline, top_k)
    lists = [
        timed(
            "retriever", query_embedding=embedding, constraint=constraint, filters=filters, top_k=candidate_k
        )
    ]
    if "bm25_retriever" in present:
        lists.append(
            timed(
                "bm25_retriever",
                query=decomposed["content"],
                constraint=constraint,
                filters=filters,
                top_k=candidate_k,
            )
        )
    documents: list[Document] = lists[0]["documents"]
    if "fusion" in present:
        documents = timed("fusion", documents=[item["documents"] for item in lists])["documents"]
    ranked = timed("ranker", query=question, documents=documents, constraint=constraint, top_k=top_k)[
        "documents"
    ]
    total = (time.perf_counter() - started) * 1000.0
    answer = _citation_builder().run(query=question, documents=ranked, replies=None, constraint=constraint)
    result = dict(answer["answer"])
    result["answer"] = None
    result["timings_ms"] = _stage_timings(timings, total, pipeline, generate=False)
    return result


@functools.cache
def _citation_builder() -> Any:
    """One default answer builder for every `retrieve` (it keeps no state between runs; creating a Haystack
    component inspects its signature, ~0.2 ms a request)."""
    from chronorag.pipeline.answer_builder import ChronoAnswerBuilder

    return ChronoAnswerBuilder()


def _run_data(
    pipeline: Pipeline,
    question: str,
    as_of: date | str | None,
    top_k: int | None,
    filters: dict[str, Any] | None,
) -> dict[str, dict[str, Any]]:
    """The per-component inputs: the question to every open `query` socket, the rest by name."""
    data: dict[str, dict[str, Any]] = {}
    for name, sockets in pipeline.inputs().items():
        if "query" in sockets:
            data.setdefault(name, {})["query"] = question
    data.setdefault("decomposer", {})["as_of"] = _iso(as_of)
    for name in ("retriever", "bm25_retriever"):
        if _has(pipeline, name):
            data.setdefault(name, {}).update(filters=filters, top_k=_candidate_k(pipeline, top_k))
    if top_k is not None and _has(pipeline, "ranker"):
        data.setdefault("ranker", {})["top_k"] = top_k
    return data


def _candidate_k(pipeline: Pipeline, top_k: int | None) -> int | None:
    """Retriever depth: the configured one, raised so that the ranker can return `top_k` passages."""
    configured = getattr(pipeline.get_component("retriever"), "top_k", None)
    if top_k is None or configured is None:
        return configured
    return max(configured, top_k)


def _stage_timings(
    timings: dict[str, float], total: float, pipeline: Pipeline, generate: bool = True
) -> dict[str, float]:
    stages = {stage: 0.0 for stage in _ALWAYS if generate or stage != "generate"}
    if _has(pipeline, "summarizer") and generate:
        stages["summarize"] = 0.0
    for name, milliseconds in timings.items():
        stage = STAGES.get(name)
        if stage in stages:
            stages[stage] += milliseconds
    stages = {stage: round(value, 2) for stage, value in stages.items()}
    stages["total"] = round(total, 2)
    return stages


def _has(pipeline: Pipeline, name: str) -> bool:
    return name in dict(pipeline.graph.nodes)


def _iso(value: date | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return value.isoformat()
