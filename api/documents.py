"""The web side of ingestion: check each posted document, then hand the good ones to the indexers.

Splitting, dating, embedding and the store transaction are the indexers' code (``build_passages``,
``date_passages``, the shared bi-encoder, ``ChronoStore.write_batch``), the same steps
``chronorag index`` takes. What this module adds is what HTTP needs: a per-document verdict (a bad
document is reported, the rest are written), one ``write_batch`` call per request, and writers
serialised. A reader never sees half a batch because the store commits a batch (rows, spans, vectors)
in one SQLite transaction and applies it to the FAISS index under the same lock its searches take;
the API adds no read lock, so a slow LLM answer never holds up a write (or the reads queued behind it).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from haystack import Document
from haystack.document_stores.types import DuplicatePolicy

from chronorag.api.schemas import DocumentIn, RejectedDocument, WrittenDocument
from chronorag.api.settings import ApiSettings
from chronorag.indexers import ChronoStore, passage_text
from chronorag.indexers.ingest import build_passages, date_passages
from chronorag.indexers.sources import SourceDocument
from chronorag.indexers.validation import PASSAGE_META_FIELDS, source_problem, text_problem
from chronorag.temporal import parse_publication_date

EmbedFn = Callable[[list[str]], np.ndarray]

# Keys the indexers set on every passage (the rest of a passage's meta is the client's own).
PASSAGE_META_KEYS = frozenset(PASSAGE_META_FIELDS)
# Keys the indexers and rankers set on passages: a client's meta must not overwrite them.
RESERVED_META_KEYS = PASSAGE_META_KEYS | {
    "score_semantic",
    "score_temporal",
    "matched_span",
    "temporal_reason",
    "answer_rerank",
    "off_subject",
}


@dataclass
class _Prepared:
    index: int
    doc: SourceDocument
    content_hash: str
    passages: list[Document]
    replaces: bool


@dataclass
class BatchResult:
    """What one ingest request did."""

    written: list[WrittenDocument]
    rejected: list[RejectedDocument]
    passages_written: int
    passages_in_store: int


def to_source_document(
    index: int, item: DocumentIn, settings: ApiSettings
) -> SourceDocument | RejectedDocument:
    """Check one posted document and turn it into the indexers' ``SourceDocument``.

    :param index: its position in the request.
    :param item: the posted document.
    :param settings: the server settings (text length limit).
    :returns: the source document, or the reason it is rejected.
    """
    # Ids are kept exactly as given (one with surrounding whitespace or a control character is rejected by
    # source_problem, never altered); an empty or blank id means "none given".
    doc_id = item.id if item.id.strip() else ""

    def reject(reason: str) -> RejectedDocument:
        # An id with an unpaired surrogate cannot be encoded in the JSON answer: the reason quotes it escaped.
        echoed = doc_id if doc_id and text_problem(doc_id, "id") is None else None
        return RejectedDocument(index=index, id=echoed, reason=reason)

    if not item.text.strip():
        return reject("empty text")
    if len(item.text) > settings.max_document_chars:
        return reject(
            f"text has {len(item.text)} characters, over this server's limit of {settings.max_document_chars}"
        )
    if item.date not in (None, "") and parse_publication_date(item.date) is None:
        return reject(f"date {item.date!r} is not a readable date (use YYYY-MM-DD)")
    reserved = sorted(RESERVED_META_KEYS.intersection(item.meta))
    if reserved:
        return reject(f"meta keys {reserved} are reserved (set by ingestion); rename them")
    problem = source_problem(doc_id or "derived", item.title, item.text, item.meta)
    if problem is not None:
        return reject(problem)
    if not doc_id:
        # The content-derived id `chronorag index` gives records without one: re-posting is idempotent.
        doc_id = "sha1:" + hashlib.sha1(item.text.encode("utf-8")).hexdigest()[:16]
    return SourceDocument(
        id=doc_id,
        text=item.text,
        title=item.title.strip(),
        date=item.date or None,
        meta=dict(item.meta),
        origin=f"documents[{index}]",
    )


class DocumentWriter:
    """Writes validated batches to the store, one at a time, each in a single transaction.

    :param store: the store the pipeline reads.
    :param embed: texts -> unit vectors (the ingestion embedder); ``None`` on a server whose writes are
        refused (deletes still work).
    """

    def __init__(self, store: ChronoStore, embed: EmbedFn | None) -> None:
        self.store = store
        self.embed = embed
        # Serialises whole writes, from reading the stored hashes to the commit, so two batches touching
        # the same document cannot interleave (both would see it absent and each report "created").
        self.mutex = threading.Lock()

    def write(self, items: list[DocumentIn], settings: ApiSettings) -> BatchResult:
        """Validate, split, date, embed and write a batch; bad documents are rejected, not fatal.

        :param items: the posted documents.
        :param settings: the server settings.
        :returns: what was written and what was rejected, with reasons.
        """
        if self.embed is None:
            raise RuntimeError("this server was started with writes disabled; it has no ingestion embedder")
        sources, rejected = self._validate(items, settings)
        with self.mutex:
            stored = self.store.source_hashes()
            prepared, unchanged = self._prepare(sources, stored, rejected)
            passages = self._embed(prepared)
            if passages:
                # One call, one transaction: the whole batch becomes visible at once, or not at all.
                self.store.write_batch(
                    passages,
                    policy=DuplicatePolicy.OVERWRITE,
                    sources={p.doc.id: (p.content_hash, len(p.passages)) for p in prepared},
                    replace_sources=[p.doc.id for p in prepared if p.replaces],
                )
            total = self.store.count_documents()  # inside the mutex: exactly the state this batch left
        written = sorted([*(_written(p) for p in prepared), *unchanged], key=lambda w: w[0])
        rejected.sort(key=lambda r: r.index)
        return BatchResult([w for _, w in written], rejected, len(passages), total)

    def delete(self, doc_id: str) -> int:
        """Delete every passage of a document, serialised with batch writes.

        :param doc_id: the document id.
        :returns: passages deleted (0 when the document is unknown).
        """
        with self.mutex:
            return self.store.delete_source(doc_id)

    @staticmethod
    def _validate(
        items: list[DocumentIn], settings: ApiSettings
    ) -> tuple[list[tuple[int, SourceDocument]], list[RejectedDocument]]:
        sources: list[tuple[int, SourceDocument]] = []
        rejected: list[RejectedDocument] = []
        first_seen: dict[str, int] = {}
        for index, item in enumerate(items):
            outcome = to_source_document(index, item, settings)
            if isinstance(outcome, RejectedDocument):
                rejected.append(outcome)
            elif outcome.id in first_seen:
                reason = f"duplicate id in this batch (first at documents[{first_seen[outcome.id]}])"
                rejected.append(RejectedDocument(index=index, id=outcome.id, reason=reason))
            else:
                first_seen[outcome.id] = index
                sources.append((index, outcome))
        return sources, rejected

    @staticmethod
    def _prepare(
        sources: list[tuple[int, SourceDocument]], stored: dict[str, str], rejected: list[RejectedDocument]
    ) -> tuple[list[_Prepared], list[tuple[int, WrittenDocument]]]:
        prepared: list[_Prepared] = []
        unchanged: list[tuple[int, WrittenDocument]] = []
        for index, doc in sources:
            content_hash = doc.content_hash()
            previous = stored.get(doc.id)
            if previous == content_hash:
                unchanged.append((index, WrittenDocument(id=doc.id, status="unchanged", passages=0)))
                continue
            try:
                passages = build_passages(doc)
                if not passages:
                    rejected.append(RejectedDocument(index=index, id=doc.id, reason="no text to index"))
                    continue
                date_passages(doc, passages, infer=doc.meta.get("source") != "timeqa")
            except (ValueError, TypeError) as exc:
                rejected.append(
                    RejectedDocument(index=index, id=doc.id, reason=f"cannot split or date it ({exc})")
                )
                continue
            prepared.append(_Prepared(index, doc, content_hash, passages, replaces=previous is not None))
        return prepared, unchanged

    def _embed(self, prepared: list[_Prepared]) -> list[Document]:
        passages = [p for entry in prepared for p in entry.passages]
        if not passages:
            return []
        vectors = np.asarray(self.embed([passage_text(p) for p in passages]), dtype=np.float32)
        return [replace(p, embedding=v.tolist()) for p, v in zip(passages, vectors, strict=True)]


def _written(entry: _Prepared) -> tuple[int, WrittenDocument]:
    meta: dict[str, Any] = entry.passages[0].meta if entry.passages else {}
    return entry.index, WrittenDocument(
        id=entry.doc.id,
        status="replaced" if entry.replaces else "created",
        passages=len(entry.passages),
        date=meta.get("date"),
        date_source=meta.get("date_source"),
    )


def stored_document(store: ChronoStore, doc_id: str) -> list[Document]:
    """The passages of one stored document, in passage order.

    :param store: the store.
    :param doc_id: the document id (``meta["doc_id"]``).
    :returns: its passages; empty when unknown.
    """
    passages = store.filter_documents({"field": "meta.doc_id", "operator": "==", "value": doc_id})
    return sorted(passages, key=lambda d: (d.meta.get("passage_index") or 0, d.meta.get("chunk") or 0))
