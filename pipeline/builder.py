"""``build_pipeline``: the temporal RAG pipeline wired in code from a preset and options."""

from __future__ import annotations

import logging
import os
from importlib import resources
from typing import Any

import yaml
from haystack import Pipeline

logger = logging.getLogger(__name__)

PRESETS = ("fast", "accurate", "reading")
GENERATORS = ("auto", "local", "openai", "extractive")
ANSWER_MODES = ("read", "phrase")
STORE_ENV = "CHRONORAG_STORE"

# Every option build_pipeline understands, with its meaning; presets set a subset, callers override any.
OPTIONS: dict[str, str] = {
    "top_k": "passages the ranker keeps: cited in the answer, the prompt shows the first `prompt_passages`",
    "retriever_top_k": "candidates from each retriever (dense and BM25), before the time-window additions",
    "use_bm25": "fuse BM25 with dense retrieval by reciprocal rank",
    "use_expander": "fuse the question embedding with preceding events (EventExpander) before retrieval",
    "events_path": "a JSONL event file for the expander (default: the store's event index)",
    "ranker_mode": "SemanticTemporalRanker mode: hybrid, mrag or semantic",
    "temporal_scoring": "score temporal fit in the ranker (False: relevance alone orders the candidates)",
    "decompose": "decompose the question (False: the whole question is the content, with no time relation)",
    "resolve_anchors": "date the event a question is anchored to ('when the new stadium opened') from the "
    "store, as of the question's reference time (AnchorResolver), before anything reads the constraint",
    "sentence_candidates": "passages whose sentences the ranker encodes one by one, to pick each one's "
    "matched sentence (0: passage level only; 'auto': only where the ranking reads sentence similarity, "
    "which the hybrid ranker's default relevance does not; sentence encoding dominates cold rerank latency)",
    "subject_check": "the ranker puts candidates of titled sources that name none of the question's "
    "capitalised names after all others (chronorag.rankers.subject)",
    "answer_rerank_passages": "top passages the AnswerFitReranker reads after the ranker: when no candidate "
    "answer of the first fits the asked time, the passage of the timeline's best candidate goes first if it "
    "is of the same source (title); 0 or 1: off",
    "answer_rerank_min_fit": "the time fit from which the first passage's candidate holds for the asked time "
    "(the AnswerFitReranker then leaves the order)",
    "summarize": "summarise the top passages with the LLM (EvidenceSummarizer) before answering",
    "summary_top_k": "how many top passages the summariser reads",
    "generator": "auto (openai when CHRONORAG_LLM_API_BASE is set, else local when the GGUF is installed, "
    "else extractive), local, openai or extractive",
    "llm_model": "the local GGUF: 'default' (CHRONORAG_LLM_GGUF, else chronorag.models.DEFAULT_LLM), a "
    "packaged model's name (chronorag.models.LLM_MODELS) or a file path",
    "max_new_tokens": "the answer's token budget",
    "api_base_url": "OpenAI-compatible server root (None: CHRONORAG_LLM_API_BASE at run time)",
    "api_model": "served model name (None: CHRONORAG_LLM_MODEL, else the server's first model)",
    "api_timeout": "seconds per request to the server",
    "prompt_passages": "passages shown to the LLM (plus the one the chosen answer comes from)",
    "timeline_passages": "top passages the answer timeline reads for candidate answers",
    "abstain": "the answer timeline abstains (says so, `abstained: true`) when no passage holds an answer "
    "for the asked time or two sources disagree; false always answers with the best candidate",
    "prefill_answer": "start the LLM reply with the extracted answer (the small local LLM phrases it)",
    "answer_mode": "read (the LLM reads the passages and names the answer; ReaderArbiter accepts it when the "
    "timeline finds it holds for the asked time, else the timeline's choice stands) or phrase (the timeline "
    "chooses, the LLM phrases the choice)",
    "arbiter_margin": "ReaderArbiter.time_margin: how far below the timeline's best time fit the reader's "
    "answer may fit and still be accepted",
    "prompt_passage_chars": "each prompt passage is cut to about this many characters around its best "
    "sentence",
    "prompt_first_passage_chars": "the first prompt passage's budget instead of prompt_passage_chars (None: "
    "the same)",
    "prompt_focus": "what each prompt passage is cut around: match (the sentence the ranker matched) or "
    "answer (the sentence of its candidate answer that best fits the asked time)",
    "prompt_examples": "read mode: how many worked examples (TemporalPromptBuilder.examples) go before the "
    "question as earlier chat turns (few-shot; the local generator caches them with the preamble)",
    "as_of": "default reference time (ISO date) when a question gives none (None: today)",
    "device": "torch device for every model, 'auto' resolves at warm-up",
}

_DEFAULTS: dict[str, Any] = {
    "top_k": 5,
    "retriever_top_k": 20,
    "use_bm25": True,
    "use_expander": True,
    "events_path": None,
    "ranker_mode": "hybrid",
    "temporal_scoring": True,
    "decompose": True,
    "resolve_anchors": True,
    "sentence_candidates": "auto",
    "subject_check": True,
    "answer_rerank_passages": 3,
    "answer_rerank_min_fit": 0.7,
    "summarize": False,
    "summary_top_k": 3,
    "generator": "auto",
    "llm_model": "default",
    "max_new_tokens": 32,
    "api_base_url": None,
    "api_model": None,
    "api_timeout": 60.0,
    "prompt_passages": 3,
    "timeline_passages": 5,
    "abstain": True,
    "prefill_answer": True,
    "answer_mode": "phrase",
    "arbiter_margin": 0.3,
    "prompt_passage_chars": 400,
    "prompt_first_passage_chars": None,
    "prompt_focus": "match",
    "prompt_examples": 0,
    "as_of": None,
    "device": "auto",
}


def load_preset(name: str) -> dict[str, Any]:
    """
    The options of a preset shipped in `chronorag/pipeline/presets/NAME.yaml`.

    :param name: `"fast"` or `"accurate"`.
    :returns: the preset's options (only those it sets).
    :raises ValueError: for an unknown preset.
    """
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; use one of {', '.join(PRESETS)}")
    text = (
        resources.files("chronorag.pipeline").joinpath("presets", f"{name}.yaml").read_text(encoding="utf-8")
    )
    options = (yaml.safe_load(text) or {}).get("options") or {}
    unknown = set(options) - set(OPTIONS)
    if unknown:
        raise ValueError(f"preset {name!r} sets unknown options: {', '.join(sorted(unknown))}")
    return options


def parse_option_pairs(pairs: list[str]) -> dict[str, Any]:
    """
    Build options written as `KEY=VALUE` (the CLI's `-O`), each value read as YAML (`0.3`, `true`, `read`).

    :param pairs: the `KEY=VALUE` strings.
    :returns: `{key: value}`.
    :raises ValueError: for a pair without `=` or without a key.
    """
    parsed: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--option wants KEY=VALUE, not {pair!r}")
        parsed[key.strip()] = yaml.safe_load(value)
    return parsed


def resolve_options(preset: str = "fast", **options: Any) -> dict[str, Any]:
    """
    Defaults, then the preset, then the caller's options (`None` values leave the preset's).

    :param preset: `"fast"` or `"accurate"`.
    :param options: any of `OPTIONS`.
    :returns: the complete option set.
    :raises ValueError: for unknown options or values.
    """
    unknown = set(options) - set(OPTIONS)
    if unknown:
        raise ValueError(
            f"unknown pipeline options: {', '.join(sorted(unknown))}; known: {', '.join(OPTIONS)}"
        )
    resolved = {**_DEFAULTS, **load_preset(preset)}
    resolved.update({key: value for key, value in options.items() if value is not None})
    if resolved["generator"] not in GENERATORS:
        raise ValueError(f"generator must be one of {', '.join(GENERATORS)}, not {resolved['generator']!r}")
    if resolved["answer_mode"] not in ANSWER_MODES:
        raise ValueError(
            f"answer_mode must be one of {', '.join(ANSWER_MODES)}, not {resolved['answer_mode']!r}"
        )
    if resolved["generator"] == "auto":
        resolved["generator"] = _available_generator(resolved["llm_model"])
    return resolved


def _available_generator(llm_model: str) -> str:
    """`openai` when a server is configured, else `local` when the GGUF is installed, else `extractive`:
    answers always come back, even without any LLM."""
    if os.environ.get("CHRONORAG_LLM_API_BASE"):
        return "openai"
    from chronorag.models import ModelNotInstalledError, resolve_llm_gguf

    try:
        resolve_llm_gguf(None if llm_model == "default" else llm_model)
    except ModelNotInstalledError as exc:
        logger.warning("no LLM configured (%s); answering extractively", exc)
        return "extractive"
    return "local"


def build_pipeline(store_path: str | None = None, preset: str = "fast", **options: Any) -> Pipeline:
    """
    Build the pipeline: QueryDecomposer -> [AnchorResolver] -> ChronoTextEmbedder -> EventExpander ->
    ChronoEmbeddingRetriever (+ ChronoBM25Retriever, ReciprocalRankFusion) -> SemanticTemporalRanker ->
    [AnswerFitReranker] -> [EvidenceSummarizer] -> AnswerTimeline (`extractor`: candidate answers with the
    intervals they hold, the one valid for the asked time, or an abstention) -> TemporalPromptBuilder ->
    generator -> [ReadingDater -> ReaderArbiter] -> ChronoAnswerBuilder. With `answer_mode="read"` the
    generator reads the passages and names the answer, the `reading_dater` has the timeline date it where
    it is none of its candidates, and the `arbiter` accepts it only when the timeline finds it holds for
    the asked time; with `"phrase"` the generator phrases the timeline's choice and the answer builder
    checks the reply against it.

    With `generator="extractive"` the timeline's choice is the answer (no prompt builder, no LLM).
    Component names (`decomposer`, `anchor_resolver`, `embedder`, `expander`, `retriever`, `bm25_retriever`,
    `fusion`, `ranker`, `answer_reranker`, `summarizer`, `extractor`, `prompt_builder`, `generator`,
    `reading_dater`, `arbiter`, `answer_builder`) are part of the contract: `ask` and `retrieve` time and
    feed them by name.
    Retrieval and ranking read the question's constraint and content from the anchor resolver when there
    is one, else the decomposer; the answering stages read the ranker's copy of the constraint (with its
    notes).

    :param store_path: the store: a folder, kept as given (relative paths stay relative in the YAML), or
        a Milvus URI (`milvus:///path/file.db`, `http://host:19530`, `?collection=NAME`; a server's
        token from `CHRONORAG_MILVUS_TOKEN`); `None` reads `CHRONORAG_STORE`.
    :param preset: `"fast"` (no summarisation, small top_k) or `"accurate"` (summaries, larger pool).
    :param options: any of `chronorag.pipeline.builder.OPTIONS`, overriding the preset.
    :returns: the pipeline (not warmed up; `Pipeline.run` warms it).
    :raises ValueError: on unknown options or a missing store path.
    """
    store_path = store_path or os.environ.get(STORE_ENV)
    if not store_path:
        raise ValueError(f"no store given: pass store_path or set {STORE_ENV}")
    opts = resolve_options(preset, **options)
    pipeline = Pipeline(metadata={"chronorag_preset": preset})
    _add_retrieval(pipeline, store_path, opts)
    _add_answering(pipeline, opts)
    return pipeline


def _add_retrieval(pipeline: Pipeline, store_path: str, opts: dict[str, Any]) -> None:
    from chronorag.indexers import ChronoBM25Retriever, ChronoEmbeddingRetriever, ReciprocalRankFusion
    from chronorag.indexers.backend import open_store
    from chronorag.pipeline.text_embedder import ChronoTextEmbedder
    from chronorag.rankers import SemanticTemporalRanker
    from chronorag.temporal import QueryDecomposer

    store = open_store(store_path)
    top_k = opts["retriever_top_k"]
    pipeline.add_component(
        "decomposer", QueryDecomposer(default_as_of=opts["as_of"], decompose=opts["decompose"])
    )
    source = "decomposer"
    if opts["resolve_anchors"] and opts["decompose"]:
        from chronorag.indexers.anchor_resolver import AnchorResolver

        pipeline.add_component("anchor_resolver", AnchorResolver(store, device=opts["device"]))
        pipeline.connect("decomposer.constraint", "anchor_resolver.constraint")
        source = "anchor_resolver"
    pipeline.add_component("embedder", ChronoTextEmbedder(device=opts["device"]))
    pipeline.add_component("retriever", ChronoEmbeddingRetriever(store, top_k=top_k))
    pipeline.add_component(
        "ranker",
        SemanticTemporalRanker(
            top_k=opts["top_k"],
            mode=opts["ranker_mode"],
            device=opts["device"],
            sentence_candidates=opts["sentence_candidates"],
            subject_check=opts["subject_check"],
            **({} if opts["temporal_scoring"] else {"time_weight": 0.0, "recency_weight": 0.0}),
        ),
    )
    # The embedder reads the question without its time phrase: dates in the text mislead dense retrieval.
    pipeline.connect(f"{source}.content", "embedder.text")
    if opts["use_expander"]:
        from chronorag.rankers import EventExpander

        events = opts["events_path"]
        expander = EventExpander(
            events_path=events, store_path=None if events else store_path, device=opts["device"]
        )
        pipeline.add_component("expander", expander)
        pipeline.connect("embedder.embedding", "expander.query_embedding")
        pipeline.connect(f"{source}.constraint", "expander.constraint")
        pipeline.connect("expander.embedding", "retriever.query_embedding")
    else:
        pipeline.connect("embedder.embedding", "retriever.query_embedding")
    pipeline.connect(f"{source}.constraint", "retriever.constraint")
    if opts["use_bm25"]:
        pipeline.add_component("bm25_retriever", ChronoBM25Retriever(store, top_k=top_k))
        pipeline.add_component("fusion", ReciprocalRankFusion())
        pipeline.connect(f"{source}.content", "bm25_retriever.query")
        pipeline.connect(f"{source}.constraint", "bm25_retriever.constraint")
        pipeline.connect("retriever.documents", "fusion.documents")
        pipeline.connect("bm25_retriever.documents", "fusion.documents")
        pipeline.connect("fusion.documents", "ranker.documents")
    else:
        pipeline.connect("retriever.documents", "ranker.documents")
    pipeline.connect(f"{source}.constraint", "ranker.constraint")
    # The ranker reuses the embedder's vector of the content instead of encoding the content again.
    pipeline.connect("embedder.embedding", "ranker.content_embedding")
    if opts["answer_rerank_passages"] >= 2 and opts["temporal_scoring"]:
        from chronorag.pipeline.answer_reranker import AnswerFitReranker

        reranker = AnswerFitReranker(
            passages=opts["answer_rerank_passages"], min_fit=opts["answer_rerank_min_fit"]
        )
        pipeline.add_component("answer_reranker", reranker)
        pipeline.connect("ranker.documents", "answer_reranker.documents")
        pipeline.connect("ranker.constraint", "answer_reranker.constraint")


def _add_answering(pipeline: Pipeline, opts: dict[str, Any]) -> None:
    from chronorag.pipeline.answer_builder import ChronoAnswerBuilder
    from chronorag.pipeline.answer_timeline import AnswerTimeline
    from chronorag.pipeline.prompt_builder import TemporalPromptBuilder

    # The ranked passages, reordered by the answer reranker when there is one.
    ranked = "answer_reranker" if "answer_reranker" in pipeline.graph.nodes else "ranker"
    evidence = f"{ranked}.documents"
    if opts["summarize"] and opts["generator"] != "extractive":
        from chronorag.pipeline.evidence_summarizer import EvidenceSummarizer

        summarizer = EvidenceSummarizer(
            generator=_generator(opts, max_new_tokens=48), top_k=opts["summary_top_k"]
        )
        pipeline.add_component("summarizer", summarizer)
        pipeline.connect(evidence, "summarizer.documents")
        pipeline.connect("ranker.constraint", "summarizer.constraint")
        evidence = "summarizer.documents"
    extractor = AnswerTimeline(max_passages=opts["timeline_passages"], abstain=opts["abstain"])
    pipeline.add_component("extractor", extractor)
    pipeline.add_component("answer_builder", ChronoAnswerBuilder())
    pipeline.connect(evidence, "extractor.documents")
    pipeline.connect("ranker.constraint", "extractor.constraint")
    pipeline.connect(evidence, "answer_builder.documents")
    pipeline.connect("ranker.constraint", "answer_builder.constraint")
    pipeline.connect("extractor.timeline", "answer_builder.timeline")
    reading = opts["generator"] != "extractive" and opts["answer_mode"] == "read"
    if not reading:
        # Reading, the arbiter passes the abstention on: a reading may settle a dispute between sources.
        pipeline.connect("extractor.abstention", "answer_builder.abstention")
    if opts["generator"] == "extractive":
        pipeline.connect("extractor.candidates", "answer_builder.candidates")
        return  # the answer builder phrases the timeline's choice itself
    prefill = opts["prefill_answer"] and opts["generator"] == "local" and not reading
    builder = TemporalPromptBuilder(
        max_passages=opts["prompt_passages"],
        max_passage_chars=opts["prompt_passage_chars"],
        prefill_answer=prefill,
        mode=opts["answer_mode"],
        focus=opts["prompt_focus"],
        examples=opts["prompt_examples"],
        first_passage_chars=opts["prompt_first_passage_chars"],
    )
    pipeline.add_component("prompt_builder", builder)
    pipeline.add_component("generator", _generator(opts))
    pipeline.connect(evidence, "prompt_builder.documents")
    pipeline.connect("ranker.constraint", "prompt_builder.constraint")
    pipeline.connect("extractor.candidates", "prompt_builder.candidates")
    pipeline.connect("extractor.abstention", "prompt_builder.abstention")
    pipeline.connect("prompt_builder.prompt", "generator.prompt")
    pipeline.connect("prompt_builder.reply_prefix", "generator.reply_prefix")
    pipeline.connect("prompt_builder.examples", "generator.examples")
    if not reading:
        pipeline.connect("extractor.candidates", "answer_builder.candidates")
        pipeline.connect("generator.replies", "answer_builder.replies")
        return
    from chronorag.pipeline.reader_arbiter import ReaderArbiter
    from chronorag.pipeline.reading_dater import ReadingDater

    # The LLM reads; the arbiter rules on time; the answer builder phrases the decided candidate.
    pipeline.add_component("arbiter", ReaderArbiter(time_margin=opts["arbiter_margin"]))
    # A reading the timeline did not list is dated by it where a passage writes it, then ruled on.
    pipeline.add_component("reading_dater", ReadingDater(max_passages=opts["timeline_passages"]))
    pipeline.connect(evidence, "reading_dater.documents")
    pipeline.connect("ranker.constraint", "reading_dater.constraint")
    pipeline.connect("generator.replies", "reading_dater.replies")
    pipeline.connect("extractor.candidates", "reading_dater.candidates")
    pipeline.connect("extractor.abstention", "reading_dater.abstention")
    pipeline.connect("generator.replies", "arbiter.replies")
    pipeline.connect("reading_dater.candidates", "arbiter.candidates")
    pipeline.connect("extractor.abstention", "arbiter.abstention")
    for output in ("candidates", "replies", "arbitration", "abstention"):
        pipeline.connect(f"arbiter.{output}", f"answer_builder.{output}")


def question_source(pipeline: Pipeline) -> str:
    """
    The component whose `constraint` and `content` the rest of the pipeline reads.

    :param pipeline: a chronorag pipeline.
    :returns: `"anchor_resolver"` when the pipeline resolves event anchors, else `"decomposer"`.
    """
    return "anchor_resolver" if "anchor_resolver" in pipeline.graph.nodes else "decomposer"


def _generator(opts: dict[str, Any], max_new_tokens: int | None = None) -> Any:
    """The LLM component the options ask for (`local` or `openai`)."""
    budget = max_new_tokens or opts["max_new_tokens"]
    if opts["generator"] == "openai":
        from chronorag.pipeline.openai_generator import OpenAICompatibleGenerator

        return OpenAICompatibleGenerator(
            api_base_url=opts["api_base_url"],
            model=opts["api_model"],
            timeout=opts["api_timeout"],
            max_tokens=budget,
        )
    from chronorag.pipeline.local_generator import LocalLLMGenerator

    return LocalLLMGenerator(model=opts["llm_model"], device=opts["device"], max_new_tokens=budget)
