"""The text of a passage as the embedder, BM25 and answer matching see it (its home is
:func:`chronorag.temporal.meta.passage_text`, which the rankers read too)."""

from __future__ import annotations

from chronorag.temporal.meta import passage_text

__all__ = ["passage_text"]
