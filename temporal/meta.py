"""The passage meta keys chronorag reads and writes about time, and how a publication date is trusted.

One home for the keys (``docs/ARCHITECTURE.md`` describes their values) and for the policy on
inferred dates:

- A date given in the document's metadata (``date_source == "metadata"``, or a date with no source,
  written by someone else) is *proof* of when the passage was published: the as-of cut drops passages
  published after the question's reference time, and recency prefers the latest.
- A date *inferred* by document dating (``date_source == "inferred"``) is an estimate made from the
  dates the text mentions. It is not proof of publication: it never cuts a passage at the reference
  time (a timeless encyclopedia sentence mentioning 1995 must not vanish for a question as of 1994),
  and it is not added as temporal evidence: the mentioned spans it was inferred from already are, so
  temporal fit and the recency preference read those spans instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping
from datetime import date, datetime
from typing import Any

from chronorag.temporal.extractor import SPANS_VERSION
from chronorag.temporal.model import TimeMention

DATE = "date"
DATE_SOURCE = "date_source"
DATE_CONFIDENCE = "date_confidence"
TIME_SPANS = "time_spans"
# The reading of time (``chronorag.temporal.extractor.SPANS_VERSION``) the passage's spans were found with.
SPANS_VERSION_KEY = "spans_version"
SOURCE_METADATA = "metadata"
SOURCE_INFERRED = "inferred"
# The title of the passage's source (page or article); passages of one title are one source.
TITLE = "title"

__all__ = [
    "DATE",
    "DATE_CONFIDENCE",
    "DATE_SOURCE",
    "SOURCE_INFERRED",
    "SOURCE_METADATA",
    "SPANS_VERSION_KEY",
    "TIME_SPANS",
    "TITLE",
    "is_inferred",
    "older_spans",
    "passage_text",
    "proven_publication_date",
    "publication_date",
    "record_spans",
    "source_title",
]


def source_title(meta: Mapping[str, Any] | None) -> str:
    """
    The title of the passage's source, stripped (`""` when it has none).

    :param meta: the passage's meta.
    :returns: the title.
    """
    return str((meta or {}).get(TITLE) or "").strip()


def passage_text(doc: Any) -> str:
    """
    The passage with its source's title prefixed, as DPR and MRAG embed it: `f"{title}. {content}"`. The
    one text the embedder, BM25, the rankers and answer matching see.

    :param doc: a passage (a Haystack `Document`; `meta["title"]` may be absent or empty).
    :returns: the text to embed or match.
    """
    content = doc.content or ""
    title = source_title(doc.meta)
    return f"{title}. {content}" if title else content


def publication_date(meta: Mapping[str, Any] | None) -> date | None:
    """The passage's publication date, given or inferred.

    :param meta: a passage's meta.
    :returns: the date, or ``None`` when absent or unreadable.
    """
    value = (meta or {}).get(DATE)
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def is_inferred(meta: Mapping[str, Any] | None) -> bool:
    """Whether the passage's date was inferred by document dating rather than given.

    :param meta: a passage's meta.
    :returns: ``True`` for ``date_source == "inferred"``.
    """
    return (meta or {}).get(DATE_SOURCE) == SOURCE_INFERRED


def proven_publication_date(meta: Mapping[str, Any] | None) -> date | None:
    """The publication date when it is proof of publication (given, not inferred).

    :param meta: a passage's meta.
    :returns: the date, or ``None`` when absent, unreadable or inferred.
    """
    return None if is_inferred(meta) else publication_date(meta)


def record_spans(meta: MutableMapping[str, Any], mentions: Iterable[TimeMention]) -> None:
    """Write a passage's spans into its meta with the reading of time that found them.

    :param meta: the passage's meta (changed in place).
    :param mentions: the spans this chronorag found in the passage.
    """
    meta[TIME_SPANS] = [mention.to_dict() for mention in mentions]
    meta[SPANS_VERSION_KEY] = SPANS_VERSION


def older_spans(meta: Mapping[str, Any] | None) -> bool:
    """Whether a passage's recorded spans were read by an older chronorag than this one (a store indexed
    before the reading of time changed; re-running ``chronorag index`` re-reads them). Spans recorded
    without a version count as the first reading.

    :param meta: a passage's meta.
    :returns: ``True`` for recorded spans of an older reading; ``False`` for current ones or none recorded.
    """
    meta = meta or {}
    if meta.get(TIME_SPANS) is None:
        return False
    try:
        return int(meta.get(SPANS_VERSION_KEY) or 1) < SPANS_VERSION
    except (TypeError, ValueError):
        return True
