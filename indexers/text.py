"""The text of a passage as the embedder, BM25 and answer matching see it."""

from __future__ import annotations

from haystack import Document

from chronorag.temporal.meta import source_title


def passage_text(doc: Document) -> str:
    """
    The passage with its title prefixed, as DPR and MRAG embed it: ``f"{title}. {content}"``.

    :param doc: a passage (``meta["title"]`` may be absent or empty).
    :returns: the text to embed or match.
    """
    content = doc.content or ""
    title = source_title(doc.meta)
    if not title:
        return content
    return f"{title}. {content}"
