"""Haystack wiring: the pipeline, its answering components, presets, YAML loading and ``ask``.

- ``build_pipeline(store_path, preset="fast", **options)``: the pipeline in code (options:
  ``chronorag.pipeline.builder.OPTIONS``; presets: ``pipeline/presets/{fast,accurate}.yaml``).
- ``load(yaml_text_or_path, store_path=None)`` / ``dumps(pipeline)``: Haystack YAML in and out.
- ``ask(pipeline, question, as_of=None, top_k=None, filters=None)``: the REST ``/v1/ask`` object;
  ``retrieve(...)``: the same evidence without the LLM.

Components (one per module): ``ChronoTextEmbedder``, ``LocalLLMGenerator``,
``OpenAICompatibleGenerator``, ``ExtractiveAnswerer``, ``TemporalPromptBuilder``,
``ChronoAnswerBuilder``, ``EvidenceSummarizer``. Imports are lazy so that ``import chronorag.pipeline``
stays light (no torch, no store).
"""

from __future__ import annotations

import importlib
from typing import Any

from chronorag.pipeline.errors import GeneratorError

_LOCATIONS = {
    "build_pipeline": "chronorag.pipeline.builder",
    "resolve_options": "chronorag.pipeline.builder",
    "OPTIONS": "chronorag.pipeline.builder",
    "PRESETS": "chronorag.pipeline.builder",
    "load": "chronorag.pipeline.loading",
    "dumps": "chronorag.pipeline.loading",
    "ask": "chronorag.pipeline.asking",
    "retrieve": "chronorag.pipeline.asking",
    "ChronoTextEmbedder": "chronorag.pipeline.text_embedder",
    "LocalLLMGenerator": "chronorag.pipeline.local_generator",
    "OpenAICompatibleGenerator": "chronorag.pipeline.openai_generator",
    "ExtractiveAnswerer": "chronorag.pipeline.extractive_answerer",
    "TemporalPromptBuilder": "chronorag.pipeline.prompt_builder",
    "ChronoAnswerBuilder": "chronorag.pipeline.answer_builder",
    "EvidenceSummarizer": "chronorag.pipeline.evidence_summarizer",
}

__all__ = ["GeneratorError", *_LOCATIONS]


def __getattr__(name: str) -> Any:
    if name in _LOCATIONS:
        return getattr(importlib.import_module(_LOCATIONS[name]), name)
    raise AttributeError(f"module 'chronorag.pipeline' has no attribute {name!r}")
