"""The one place the web layer calls ``chronorag.pipeline`` and ``chronorag.temporal``.

It loads the pipeline, finds the store the pipeline reads (document writes must go to that same
instance, or its in-memory FAISS index would not see them), runs ``ask``/``retrieve``, and turns the
pipeline's exceptions into HTTP errors: bad input -> 4xx, a failing LLM -> 502/503/504 naming
``/v1/retrieve`` as the way to the evidence, anything else -> the generic 500 handler.

Streaming needs the prompt before generation starts, which ``chronorag.pipeline.ask`` does not expose
(it runs the whole graph), so :func:`start_stream` runs the pipeline's retrieval plan
(``chronorag.pipeline.retrieval``, the same executor ``retrieve`` and the evaluation use), then the
answering components by their contract names, and calls the generator's ``stream``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from haystack import Document, Pipeline
from haystack.core.errors import PipelineRuntimeError
from haystack.errors import FilterError

from chronorag.api.errors import ApiError
from chronorag.api.schemas import AskRequest, RetrieveRequest
from chronorag.api.service import ChronoService
from chronorag.api.settings import ApiSettings
from chronorag.indexers import ChronoStore, StoreMismatchError
from chronorag.pipeline.asking import STAGES
from chronorag.pipeline.errors import GeneratorError
from chronorag.temporal import EmptyQuestionError, QuestionTooLongError
from chronorag.temporal.model import InvalidIntervalError

_RETRY_HINT = "the retrieved passages are still available from POST /v1/retrieve"

logger = logging.getLogger(__name__)


# --- loading -------------------------------------------------------------------------------------
def load_pipeline(source: str | None, store_path: str, settings: ApiSettings) -> Pipeline:
    """The pipeline from a YAML file (its store replaced by ``store_path``) or built from the preset.

    :param source: YAML file path or text, or ``None``.
    :param store_path: the store folder.
    :param settings: preset and pipeline options.
    :returns: the pipeline, not warmed up.
    """
    from chronorag.pipeline import build_pipeline, load

    if source is not None:
        return load(source, store_path=store_path)
    return build_pipeline(store_path, preset=settings.preset, **settings.pipeline_options)


WARM_UP_QUESTION = "Who led the organisation from 2001 to 2005?"


def warm_up(pipeline: Pipeline) -> None:
    """Load every model, then run one retrieval so the first client does not pay first-call costs.

    ``Pipeline.warm_up`` loads the models, but torch's first forward passes and the ranker's first
    passage encodings still take seconds; ``/readyz`` turns true only after they are paid. The LLM is
    not called: a backend that is down must not keep retrieval from being served.

    :param pipeline: the loaded pipeline.
    """
    from chronorag.pipeline import retrieve as retrieve_passages

    pipeline.warm_up()
    retrieve_passages(pipeline, WARM_UP_QUESTION)


def store_of(pipeline: Pipeline) -> ChronoStore:
    """The store instance the pipeline's dense retriever searches.

    :param pipeline: the loaded pipeline.
    :returns: the store.
    :raises ValueError: when the pipeline has no ``retriever`` over a ``ChronoStore``.
    """
    retriever = pipeline.get_component("retriever") if "retriever" in dict(pipeline.graph.nodes) else None
    store = getattr(retriever, "document_store", None)
    if not isinstance(store, ChronoStore):
        raise ValueError("the pipeline has no 'retriever' component over a ChronoStore")
    return store


def embedder_for(store: ChronoStore, backend: str = "auto") -> Callable[[list[str]], Any]:
    """The ingestion embedding function, as ``chronorag index`` builds it, checked against the store's model.

    :param store: the store documents will be written to.
    :param backend: ``auto``, ``openvino``, ``onnx`` or ``torch`` (``ingestion_embedder``'s backends).
    :returns: texts -> unit vectors.
    :raises StoreMismatchError: when the store holds vectors of another model or dimension.
    """
    from chronorag.indexers.onnx_embedder import ingestion_embedder

    embed, model_id, dim, description = ingestion_embedder(backend)
    logger.info("documents written through the API are embedded with %s", description)
    if (store.model_id, store.dim) != (model_id, dim):
        raise StoreMismatchError(
            f"store {store.path!r} holds {store.dim}-d vectors of {store.model_id!r}, but the server embeds "
            f"with {model_id!r} ({dim}-d); set CHRONORAG_EMBEDDING_MODEL to the store's model"
        )
    return embed


# --- error mapping -------------------------------------------------------------------------------
def generator_failure(exc: GeneratorError) -> tuple[int, str]:
    """The HTTP status and message for an LLM failure.

    :param exc: the generator's error.
    :returns: 504 for a timeout, 503 when the backend is unreachable or not configured, else 502.
    """
    if exc.reason == "timeout":
        status = 504
    elif exc.reason in ("connection", "config", "model"):
        status = 503
    else:
        status = 502
    # The error names model files and backend URLs: the server log has it, the client gets its kind.
    logger.warning("the LLM backend failed (%s): %s", exc.reason, exc)
    return status, f"the LLM backend failed ({exc.reason}); {_RETRY_HINT}"


def _root_cause(exc: BaseException) -> BaseException:
    seen: set[int] = set()
    while isinstance(exc, PipelineRuntimeError) and exc.__cause__ is not None and id(exc) not in seen:
        seen.add(id(exc))
        exc = exc.__cause__
    return exc


def translate(exc: Exception) -> Exception:
    """Map a pipeline exception to the ``ApiError`` a client should get; others are returned unchanged.

    :param exc: what the pipeline raised.
    :returns: an ``ApiError`` for known failures, else ``exc`` itself (the 500 handler logs it).
    """
    cause = _root_cause(exc)
    if isinstance(cause, GeneratorError):
        status, message = generator_failure(cause)
        return ApiError(status, message, "llm_unavailable")
    if isinstance(cause, (EmptyQuestionError, QuestionTooLongError, InvalidIntervalError)):
        return ApiError(422, f"body.question: {cause}", "invalid_request")
    if isinstance(cause, FilterError):
        return ApiError(400, f"body.filters: {cause}", "invalid_filters")
    return exc


def _calling(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    try:
        return function(*args, **kwargs)
    except (PipelineRuntimeError, GeneratorError, FilterError, ValueError) as exc:
        mapped = translate(exc)
        if mapped is exc:
            raise
        raise mapped from exc


# --- routes' work ----------------------------------------------------------------------------------
def decompose(question: str, as_of: date | None) -> dict[str, Any]:
    """The question's decomposition, as ``TemporalConstraint.to_dict()``.

    :param question: the question.
    :param as_of: the reference time, or ``None`` for today.
    :returns: the constraint dict.
    """
    from chronorag.temporal import decompose as decompose_question

    return _calling(decompose_question, question, as_of).to_dict()


def _filters(body: RetrieveRequest) -> dict[str, Any] | None:
    return body.filters.model_dump() if body.filters is not None else None


def retrieve(service: ChronoService, body: RetrieveRequest) -> dict[str, Any]:
    """Ranked passages without an answer (``chronorag.pipeline.retrieve``).

    :param service: the app's service.
    :param body: the request.
    :returns: ``{citations, constraint, timings_ms}``.
    """
    from chronorag.pipeline import retrieve as retrieve_passages

    service.require_ready()
    result = _calling(
        retrieve_passages, service.pipeline, body.question, body.as_of, body.top_k, _filters(body)
    )
    result.pop("answer", None)
    return result


def ask(service: ChronoService, body: AskRequest) -> dict[str, Any]:
    """The answer (``chronorag.pipeline.ask``).

    :param service: the app's service.
    :param body: the request.
    :returns: ``{answer, citations, constraint, timings_ms}``.
    """
    from chronorag.pipeline import ask as ask_pipeline

    service.require_ready()
    return _calling(
        ask_pipeline, service.pipeline, body.question, body.as_of, body.top_k, _filters(body), body.choices
    )


# --- streaming -------------------------------------------------------------------------------------
@dataclass
class AnswerStream:
    """A started answer: what to send first, the remaining tokens, and how to build the final body.

    :param head: ``{citations, constraint}``, sent before the first token.
    :param tokens: the answer's pieces (the first one already generated).
    :param finish: the full answer text -> the ``AskResponse`` body.
    """

    head: dict[str, Any]
    tokens: Iterator[str]
    finish: Callable[[str], dict[str, Any]]


class _Stages:
    """Runs named components and times them into ``timings_ms`` stages."""

    stage_of = STAGES  # the pipeline's own component -> stage map, so both report the same stages

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.names = set(dict(pipeline.graph.nodes))
        self.timings: dict[str, float] = {}

    def has(self, name: str) -> bool:
        return name in self.names

    def run(self, name: str, **inputs: Any) -> dict[str, Any]:
        component = self.pipeline.get_component(name)
        started = time.perf_counter()
        output = component.run(**inputs)
        self.add(self.stage_of.get(name, "generate"), started)
        return output

    def add(self, stage: str, started: float) -> None:
        elapsed = (time.perf_counter() - started) * 1000.0
        self.timings[stage] = round(self.timings.get(stage, 0.0) + elapsed, 2)


def _ranked(stages: _Stages, body: AskRequest) -> tuple[Any, list[Document]]:
    """The pipeline's retrieval plan (decomposer to ranker, or summariser), as ``retrieve`` runs it."""
    from chronorag.pipeline.retrieval import run_retrieval

    result = run_retrieval(
        stages.pipeline,
        body.question,
        body.as_of.isoformat() if body.as_of else None,
        body.top_k,
        _filters(body),
    )
    for name, milliseconds in result.timings.items():
        stage = stages.stage_of.get(name, "generate")
        stages.timings[stage] = round(stages.timings.get(stage, 0.0) + milliseconds, 2)
    return result.constraint, result.documents


def _first_and_rest(tokens: Iterator[str]) -> Iterator[str]:
    """Generate the first piece now (so failures surface as an HTTP status), then the rest lazily."""
    try:
        first = next(tokens)
    except StopIteration:
        return iter(())

    def chain() -> Iterator[str]:
        yield first
        yield from tokens

    return chain()


def start_stream(service: ChronoService, body: AskRequest) -> AnswerStream:
    """Retrieve, build the prompt and start generating.

    :param service: the app's service.
    :param body: the request.
    :returns: the started stream.
    :raises ApiError: on bad input, or 502/503/504 when the LLM fails before its first token.
    """
    service.require_ready()
    return _calling(_start_stream, service.pipeline, body)


def _start_stream(pipeline: Pipeline, body: AskRequest) -> AnswerStream:
    from chronorag.pipeline.answering import build_prompt, finish_answer

    started = time.perf_counter()
    stages = _Stages(pipeline)
    constraint, documents = _ranked(stages, body)
    extracted = stages.run("extractor", query=body.question, documents=documents, constraint=constraint)
    question = {
        "pipeline": pipeline,
        "query": body.question,
        "documents": documents,
        "constraint": constraint,
    }
    choices = body.choices or None
    built = build_prompt(**question, extracted=extracted, run=stages.run, choices=choices)
    if built is not None:
        generator = pipeline.get_component("generator")
        generating = time.perf_counter()
        tokens = _first_and_rest(
            generator.stream(
                built["prompt"],
                reply_prefix=built.get("reply_prefix") or None,
                examples=built.get("examples") or None,
            )
        )
    else:
        generating = None
        # Without an LLM (or when the evidence gives no answer) the answer is the builder's own: one token.
        tokens = iter([])
    # What is known before the first token: the citations and the constraint.
    head_answer = finish_answer(**question, extracted=extracted, replies=None, choices=choices)
    head = {"citations": head_answer["citations"], "constraint": head_answer["constraint"]}
    if generating is None:
        tokens = iter([head_answer["answer"]])

    def finish(text: str) -> dict[str, Any]:
        if generating is not None:
            stages.add("generate", generating)  # the whole stream, first token to last
        replies = [text] if generating is not None else None
        # The streamed tokens are the LLM's reply; the final answer is the arbiter's and builder's ruling.
        result = dict(
            finish_answer(**question, extracted=extracted, replies=replies, run=stages.run, choices=choices)
        )
        timings = dict(stages.timings)
        timings["total"] = round((time.perf_counter() - started) * 1000.0, 2)
        result["timings_ms"] = timings
        return result

    return AnswerStream(head, tokens, finish)
