"""The retrieval plan: the part of a pipeline's graph that turns a question into ranked passages.

There is one definition of how a question becomes ranked passages: the pipeline's graph, as
``build_pipeline`` or a YAML made it. ``Pipeline.run`` executes the whole graph (``ask``); this module
executes the sub-graph that ends at the ranker (and the summariser, when there is one), following the
graph's own edges, so ``retrieve``, the REST streaming path and the evaluation's ``chronorag`` system
run the very components a user's ``ask`` runs, wired the same way, without loading or calling the LLM.

Components run in Haystack's order for an acyclic graph (lexicographic topological order), and a
variadic socket (``fusion.documents``) receives its senders' values in the order they ran, as in
``Pipeline.run``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import networkx
from haystack import Document, Pipeline
from haystack.core.errors import PipelineRuntimeError

from chronorag.pipeline.builder import question_source

# Component names are the builder's contract (see build_pipeline): the first one found ends the plan.
EVIDENCE_ENDS = ("summarizer", "answer_reranker", "ranker")
# The end of ranking (what `retrieve` returns): the answer reranker when there is one, else the ranker.
RANKING_ENDS = ("answer_reranker", "ranker")


@dataclass
class RetrievalResult:
    """What the retrieval plan produced for one question.

    :param constraint: the decomposed question (``TemporalConstraint``), its event anchor resolved when the
        pipeline has an ``anchor_resolver``.
    :param content: the question without its time phrase.
    :param documents: the ranked (or summarised) passages, best first.
    :param outputs: every component's outputs, by component name.
    :param timings: milliseconds per component, in the order they ran.
    """

    constraint: Any
    content: str
    documents: list[Document]
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


def evidence_end(pipeline: Pipeline) -> str:
    """The component whose ``documents`` are the evidence: the summariser when present, else the answer
    reranker, else the ranker.

    :param pipeline: a chronorag pipeline.
    :returns: the component name.
    :raises ValueError: when the pipeline has no ranker.
    """
    return _first_of(pipeline, EVIDENCE_ENDS)


def ranking_end(pipeline: Pipeline) -> str:
    """The component whose ``documents`` are the ranked passages (``retrieve``'s): the answer reranker when
    present, else the ranker.

    :param pipeline: a chronorag pipeline.
    :returns: the component name.
    :raises ValueError: when the pipeline has no ranker.
    """
    return _first_of(pipeline, RANKING_ENDS)


def _first_of(pipeline: Pipeline, names: tuple[str, ...]) -> str:
    present = set(pipeline.graph.nodes)
    for name in names:
        if name in present:
            return name
    raise ValueError("the pipeline has no 'ranker' component: it is not a chronorag retrieval pipeline")


def run_inputs(
    pipeline: Pipeline,
    question: str,
    as_of: date | str | None = None,
    top_k: int | None = None,
    filters: dict[str, Any] | None = None,
    choices: list[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """The per-component inputs of one question, for ``Pipeline.run`` and :func:`run_retrieval` alike.

    The question goes to every open ``query`` socket, ``as_of`` to the decomposer, ``filters`` and the
    candidate depth to the retrievers, ``top_k`` to the ranker.

    :param pipeline: a chronorag pipeline.
    :param question: the question.
    :param as_of: the reference time (ISO string or date); ``None``: the decomposer's default.
    :param top_k: passages the ranker keeps (``None``: the pipeline's).
    :param filters: Haystack metadata filters for the retrievers.
    :param choices: the question's options (multiple choice), for the prompt builder, the arbiter (which
        lets a reply naming an option pass) and the answer builder.
    :returns: ``{component: {socket: value}}``.
    """
    data: dict[str, dict[str, Any]] = {}
    for name, sockets in pipeline.inputs().items():
        if "query" in sockets:
            data.setdefault(name, {})["query"] = question
    data.setdefault("decomposer", {})["as_of"] = _iso(as_of)
    depth = candidate_depth(pipeline, top_k)
    for name in ("retriever", "bm25_retriever"):
        if _has(pipeline, name):
            data.setdefault(name, {}).update(filters=filters, top_k=depth)
    if top_k is not None and _has(pipeline, "ranker"):
        data.setdefault("ranker", {})["top_k"] = top_k
    if choices:
        for name in ("prompt_builder", "reading_dater", "arbiter", "answer_builder"):
            if _has(pipeline, name):
                data.setdefault(name, {})["choices"] = list(choices)
    return data


def candidate_depth(pipeline: Pipeline, top_k: int | None) -> int | None:
    """Retriever depth: the configured one, raised so that the ranker can return ``top_k`` passages.

    :param pipeline: a chronorag pipeline.
    :param top_k: passages asked for.
    :returns: the depth, or ``None`` to keep the retriever's own.
    """
    if not _has(pipeline, "retriever"):
        return None
    configured = getattr(pipeline.get_component("retriever"), "top_k", None)
    if top_k is None or configured is None:
        return configured
    return max(configured, top_k)


def run_retrieval(
    pipeline: Pipeline,
    question: str,
    as_of: date | str | None = None,
    top_k: int | None = None,
    filters: dict[str, Any] | None = None,
    end: str | None = None,
) -> RetrievalResult:
    """Run the pipeline's components up to the evidence, as ``Pipeline.run`` would run them.

    :param pipeline: a chronorag pipeline (from ``build_pipeline`` or ``load``).
    :param question: the question.
    :param as_of: the reference time; ``None``: the decomposer's default (today).
    :param top_k: passages the ranker keeps (``None``: the pipeline's).
    :param filters: Haystack metadata filters for the retrievers.
    :param end: the last component to run (default: :func:`evidence_end`).
    :returns: the constraint, content, evidence passages, every output and the timings.
    :raises PipelineRuntimeError: when a component fails (its cause is ``__cause__``), as ``Pipeline.run``.
    """
    end = end or evidence_end(pipeline)
    outputs = run_components(pipeline, run_inputs(pipeline, question, as_of, top_k, filters), [end])
    # The constraint every stage read: the anchor resolver's when the pipeline resolves event anchors.
    decomposed = outputs.get(question_source(pipeline), outputs.get("decomposer", {}))
    # The ranker returns the constraint with notes on what the ranking could not do; prefer it.
    constraint = outputs.get("ranker", {}).get("constraint") or decomposed.get("constraint")
    return RetrievalResult(
        constraint=constraint,
        content=decomposed.get("content", question),
        documents=list(outputs[end]["documents"]),
        outputs=outputs,
        timings=outputs.pop("__timings__"),
    )


def run_components(
    pipeline: Pipeline, data: dict[str, dict[str, Any]], targets: Iterable[str]
) -> dict[str, dict[str, Any]]:
    """Run ``targets`` and everything upstream of them, feeding each component along the graph's edges.

    :param pipeline: the pipeline.
    :param data: run inputs, ``{component: {socket: value}}`` (as ``Pipeline.run`` takes them).
    :param targets: the components to reach.
    :returns: outputs by component name, plus ``"__timings__"``: milliseconds by component.
    """
    graph = pipeline.graph
    needed: set[str] = set()
    for target in targets:
        needed |= networkx.ancestors(graph, target) | {target}
    order = [name for name in networkx.lexicographical_topological_sort(graph) if name in needed]
    outputs: dict[str, dict[str, Any]] = {}
    timings: dict[str, float] = {}
    ran: list[str] = []
    for name in order:
        inputs = _inputs_of(pipeline, name, data.get(name, {}), outputs, ran)
        component = pipeline.get_component(name)
        if hasattr(component, "warm_up"):
            component.warm_up()  # outside the timer: loading is not query latency
        started = time.perf_counter()
        try:
            outputs[name] = dict(component.run(**inputs))
        except Exception as error:
            raise PipelineRuntimeError.from_exception(name, type(component), error) from error
        timings[name] = (time.perf_counter() - started) * 1000.0
        ran.append(name)
    outputs["__timings__"] = timings  # type: ignore[assignment]
    return outputs


def _inputs_of(
    pipeline: Pipeline,
    name: str,
    given: dict[str, Any],
    outputs: dict[str, dict[str, Any]],
    ran: list[str],
) -> dict[str, Any]:
    """One component's inputs: the run inputs, then its senders' outputs (variadic: in the order they ran)."""
    inputs = dict(given)
    edges = sorted(
        pipeline.graph.in_edges(name, data=True),
        key=lambda edge: ran.index(edge[0]) if edge[0] in ran else len(ran),
    )
    for sender, _, edge in edges:
        socket = edge["to_socket"]
        value = outputs.get(sender, {}).get(edge["from_socket"].name)
        if socket.is_variadic:
            inputs.setdefault(socket.name, []).append(value)
        else:
            inputs[socket.name] = value
    return inputs


def _has(pipeline: Pipeline, name: str) -> bool:
    return name in pipeline.graph.nodes


def _iso(value: date | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return value.isoformat()
