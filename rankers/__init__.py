"""Scoring stage: the semantic-temporal reranker (with MRAG and semantic modes) and the event expander.

Components are imported lazily so that ``import chronorag.rankers`` stays light.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CrossAttentionFusion", "EventExpander", "SemanticTemporalRanker"]

_LOCATIONS = {
    "SemanticTemporalRanker": "chronorag.rankers.semantic_temporal_ranker",
    "EventExpander": "chronorag.rankers.event_expander",
    "CrossAttentionFusion": "chronorag.rankers.cross_attention",
}


def __getattr__(name: str) -> Any:
    if name in _LOCATIONS:
        import importlib

        return getattr(importlib.import_module(_LOCATIONS[name]), name)
    raise AttributeError(f"module 'chronorag.rankers' has no attribute {name!r}")
