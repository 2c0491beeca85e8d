"""Ingestion: read corpora, split into ~100-word passages, date them, embed them, write them in transactions.

Each source document is written with all its passages and its content hash in one store
transaction, so an interrupted run leaves whole documents, and a re-run skips every document
whose hash is already stored (and re-indexes the ones whose content changed).
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

import numpy as np
from haystack import Document
from haystack.document_stores.types import DuplicatePolicy

from chronorag.indexers.backend import ChronoStore, open_store
from chronorag.indexers.sources import RejectedRecord, SourceDocument, SourceItem, read_source
from chronorag.indexers.text import passage_text
from chronorag.indexers.validation import source_problem

logger = logging.getLogger(__name__)

EmbedFn = Callable[[list[str]], np.ndarray]

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")


@dataclass
class IngestReport:
    """What an ingestion run did."""

    documents_seen: int = 0
    documents_written: int = 0
    documents_unchanged: int = 0
    documents_replaced: int = 0
    passages_written: int = 0
    rejected: list[RejectedRecord] = field(default_factory=list)
    seconds: float = 0.0
    embed_seconds: float = 0.0

    @property
    def passages_per_s(self) -> float:
        """Passages written per second of wall time."""
        return self.passages_written / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        """
        :returns: the report as JSON-ready data (rejections grouped by reason, with examples).
        """
        reasons: dict[str, list[str]] = {}
        for item in self.rejected:
            reasons.setdefault(_reason_kind(item.reason), []).append(f"{item.origin}: {item.reason}")
        return {
            "documents_seen": self.documents_seen,
            "documents_written": self.documents_written,
            "documents_unchanged": self.documents_unchanged,
            "documents_replaced": self.documents_replaced,
            "passages_written": self.passages_written,
            "rejected": len(self.rejected),
            "rejected_by_reason": {k: {"count": len(v), "examples": v[:5]} for k, v in reasons.items()},
            "seconds": round(self.seconds, 3),
            "embed_seconds": round(self.embed_seconds, 3),
            "passages_per_s": round(self.passages_per_s, 1),
        }


def _reason_kind(reason: str) -> str:
    return re.sub(r"\(.*\)|https?://\S+", "", reason).strip()


# ---------------------------------------------------------------------- splitting
def split_text(text: str, target_words: int = 100, max_words: int = 200) -> list[str]:
    """
    Split a text into passages of about ``target_words`` words, at sentence ends where possible.

    :param text: the text.
    :param target_words: a passage closes at the first sentence end past this many words.
    :param max_words: no passage is longer; longer sentences are cut at word boundaries.
    :returns: the passages (none empty).
    """
    sentences: list[str] = []
    for block in re.split(r"\n\s*\n", text):
        block = " ".join(block.split())
        if block:
            sentences.extend(s for s in _SENTENCE_END.split(block) if s)
    passages: list[str] = []
    current: list[str] = []
    count = 0
    for sentence in sentences:
        words = sentence.split()
        while len(words) > max_words:  # one over-long "sentence" (tables, transcripts)
            if current:
                passages.append(" ".join(current))
                current, count = [], 0
            passages.append(" ".join(words[:target_words]))
            words = words[target_words:]
        if count and count + len(words) > max_words:
            passages.append(" ".join(current))
            current, count = [], 0
        current.extend(words)
        count += len(words)
        if count >= target_words:
            passages.append(" ".join(current))
            current, count = [], 0
    if current:
        # A short tail joins the previous passage when that stays under the maximum.
        if passages and count < target_words // 3 and len(passages[-1].split()) + count <= max_words:
            passages[-1] = passages[-1] + " " + " ".join(current)
        else:
            passages.append(" ".join(current))
    return passages


def build_passages(doc: SourceDocument, target_words: int = 100, max_words: int = 200) -> list[Document]:
    """
    The passages of a document (undated, without embeddings).

    Pre-split documents (TimeQA) keep one passage per paragraph with id ``f"{doc.id}#{i}"``; a paragraph
    over ``max_words`` is cut, its later pieces getting ``f"{doc.id}#{i}.{k}"``, and every piece
    records its paragraph in ``meta["para"]``.

    :param doc: the source document.
    :param target_words: passage size for free text.
    :param max_words: the longest passage.
    :returns: Haystack documents with ``meta`` title, doc_id, passage_index and the document's meta.
    """
    base = {**doc.meta, "title": doc.title, "doc_id": doc.id}
    passages: list[Document] = []
    if doc.passages is not None:
        for para, text in enumerate(doc.passages):
            text = " ".join(text.split())
            pieces = split_text(text, target_words, max_words) if len(text.split()) > max_words else [text]
            for chunk, piece in enumerate(pieces):
                suffix = f"{para}" if chunk == 0 else f"{para}.{chunk}"
                meta = {**base, "passage_index": para, "para": para}
                if chunk:
                    meta["chunk"] = chunk
                passages.append(Document(id=f"{doc.id}#{suffix}", content=piece, meta=meta))
        return passages
    for index, piece in enumerate(split_text(doc.text, target_words, max_words)):
        passages.append(
            Document(id=f"{doc.id}#{index}", content=piece, meta={**base, "passage_index": index})
        )
    return passages


# ---------------------------------------------------------------------- dating
def _temporal() -> tuple[Callable, Callable, Callable]:
    """The temporal API, imported late so the store works without it being loaded."""
    try:
        from chronorag.temporal import extract_mentions, infer_document_date, parse_publication_date
    except ImportError:
        from chronorag.temporal.dating import infer_document_date, parse_publication_date
        from chronorag.temporal.extractor import extract_mentions
    return extract_mentions, parse_publication_date, infer_document_date


def date_passages(doc: SourceDocument, passages: list[Document], infer: bool = True) -> None:
    """
    Set ``date``, ``date_source``, ``date_confidence``, ``time_spans`` and ``spans_version`` on a document's
    passages.

    The publication date comes from the document's metadata; failing that (and when ``infer``), it is
    estimated from the dates the text mentions. Spans are found in each passage (fast mode), with
    relative expressions resolved against the publication date when there is one.

    :param doc: the source document.
    :param passages: its passages (changed in place).
    :param infer: estimate a date for undated documents. Encyclopedic pages (TimeQA) turn this off:
        the dates they mention are their subject's history, not when they were written.
    """
    from chronorag.temporal.meta import record_spans

    extract_mentions, parse_publication_date, infer_document_date = _temporal()
    published: date | None = parse_publication_date(doc.date) if doc.date not in (None, "") else None
    mentions_per_passage = [
        extract_mentions(p.content or "", reference=published, mode="fast") for p in passages
    ]
    source, confidence = ("metadata", None) if published else (None, None)
    if published is None and infer:
        every = [m for mentions in mentions_per_passage for m in mentions]
        inferred, score = infer_document_date(every, doc.text)
        if inferred is not None:
            published, source, confidence = inferred, "inferred", round(float(score), 4)
    for passage, mentions in zip(passages, mentions_per_passage, strict=True):
        record_spans(passage.meta, mentions)
        if published is not None:
            passage.meta["date"] = published.isoformat()
            passage.meta["date_source"] = source
            if confidence is not None:
                passage.meta["date_confidence"] = confidence


# ---------------------------------------------------------------------- embedding
def sentence_transformer_embedder(
    model_name: str | None = None,
    device: str | None = None,
    batch_size: int = 64,
    max_seq_length: int = 256,
    quantize: str | None = None,
) -> tuple[EmbedFn, str, int]:
    """
    The embedding function of the shared bi-encoder (GPU when present).

    :param model_name: ``None``/``"default"`` or a local sentence-transformers folder.
    :param device: torch device or ``None`` for auto.
    :param batch_size: texts per forward pass; sentence-transformers sorts each call's texts by length,
        so passing a few hundred texts at a time keeps padding low.
    :param max_seq_length: token limit; ~100-word passages need ~140 tokens, and longer limits only add
        padding cost.
    :param quantize: ``"int8"`` for a CPU copy with per-channel dynamic int8 linear layers (about twice as
        fast on CPU; see ``benchmarks/results/ingest.json`` for its measured retrieval cost), or ``None``.
    :returns: ``(embed, model_id, dimension)``.
    """
    from chronorag.models import embedding_model_id, get_sentence_transformer, int8_copy

    if quantize not in (None, "int8"):
        raise ValueError(f"quantize must be None or 'int8', not {quantize!r}")
    model = get_sentence_transformer(model_name, device="cpu" if quantize else device)
    if quantize:
        model = int8_copy(model)
    model.max_seq_length = min(model.max_seq_length or max_seq_length, max_seq_length)

    def embed(texts: list[str]) -> np.ndarray:
        return model.encode(
            texts,
            batch_size=batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )

    dimension = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return embed, embedding_model_id(model_name), int(dimension())


# ---------------------------------------------------------------------- the run
def open_store_for(store_path: str, model_id: str, dim: int, index_type: str | None = None) -> ChronoStore:
    """
    Open (or create) a store for vectors of ``model_id``; raises ``StoreMismatchError`` for another model.

    :param store_path: the store folder or Milvus URI.
    :param model_id: the embedding model's id.
    :param dim: its dimension.
    :param index_type: index type (``None``: the store's recorded one, ``flat`` for a new store).
    :returns: the store.
    """
    return open_store(store_path, embedding_model=model_id, embedding_dim=dim, index_type=index_type)


@dataclass
class Pending:
    """A document read, split and dated, ready to embed and write (``replaces``: an older version exists)."""

    doc: SourceDocument
    content_hash: str
    passages: list[Document]
    replaces: bool


def ingest(
    inputs: Sequence[str],
    store: ChronoStore,
    embed: EmbedFn | None,
    fmt: str = "auto",
    batch_passages: int = 256,
    target_words: int = 100,
    max_words: int = 200,
    limit: int | None = None,
    progress: bool = True,
    on_batch: Callable[[IngestReport], None] | None = None,
) -> IngestReport:
    """
    Index every input into ``store``.

    :param inputs: files or folders.
    :param store: the open store.
    :param embed: texts -> unit vectors (``None`` stores passages without vectors: BM25 only).
    :param fmt: input format, ``"auto"`` to guess per input.
    :param batch_passages: passages per embedding call and transaction (whole documents per transaction).
    :param target_words: passage size.
    :param max_words: the longest passage.
    :param limit: stop after this many documents (all inputs together).
    :param progress: show a progress bar with passages/s on stderr.
    :param on_batch: called after each committed transaction with the report so far (for progress
        reporting: every document counted in ``documents_written`` is durable when it is called).
    :returns: the report; bad records are in ``report.rejected`` with file:line and reason.
    """
    from tqdm import tqdm

    report = IngestReport()
    started = time.perf_counter()
    stored = store.source_hashes()
    seen_ids: dict[str, str] = {}
    pending: list[Pending] = []
    pending_passages = 0
    bar = tqdm(unit=" passages", disable=not progress, file=sys.stderr, dynamic_ncols=True, mininterval=0.5)
    writer = _OneBatchInFlight(report, on_batch)
    try:
        for item in _items(inputs, fmt, report):
            verdict = screen_item(item, report, seen_ids, limit)
            if verdict == STOP:
                break
            if verdict == SKIP:
                continue
            entry = prepare_document(item, stored, report, target_words, max_words)
            if entry is None:
                continue
            pending.append(entry)
            pending_passages += len(entry.passages)
            if pending_passages >= batch_passages:
                writer.submit(_flush, pending, store, embed, report, bar)
                pending, pending_passages = [], 0
        if pending:
            writer.submit(_flush, pending, store, embed, report, bar)
        writer.wait()
        store.flush()
    finally:
        writer.close()
        bar.close()
        report.seconds = time.perf_counter() - started
    return report


class _OneBatchInFlight:
    """Embeds and writes one batch in a worker thread while the caller reads, splits and dates the next.

    The embedding backends compute outside the GIL, so preparing the next batch fills the gaps the model
    leaves (measured ~5% more passages/s end to end on 2 cores). At most one batch is in flight and
    batches are written in order; a batch's error is raised at the next submit or wait.
    """

    def __init__(self, report: IngestReport, on_batch: Callable[[IngestReport], None] | None) -> None:
        self._report = report
        self._on_batch = on_batch
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chronorag-ingest")
        self._future: Future[None] | None = None

    def submit(self, flush: Callable[..., None], *args: Any) -> None:
        """Wait for the batch in flight, then start ``flush(*args)``."""
        self.wait()
        self._future = self._pool.submit(flush, *args)

    def wait(self) -> None:
        """Wait for the batch in flight (raising its error) and report it to ``on_batch``."""
        future, self._future = self._future, None
        if future is None:
            return
        future.result()
        if self._on_batch is not None:
            self._on_batch(self._report)

    def close(self) -> None:
        """Let a started batch finish its transaction (even when the caller failed), then stop the thread."""
        self._pool.shutdown(wait=True)


def _items(inputs: Sequence[str], fmt: str, report: IngestReport) -> Iterable[SourceItem]:
    for path in inputs:
        try:
            yield from read_source(path, fmt)
        except (OSError, ValueError) as exc:
            report.rejected.append(RejectedRecord(str(path), f"cannot read input ({exc})"))


TAKE, SKIP, STOP = "take", "skip", "stop"


def screen_item(item: SourceItem, report: IngestReport, seen_ids: dict[str, str], limit: int | None) -> str:
    """What an ingestion does with the next input item, counting it in ``report`` (shared by the local and
    the Ray paths, so both reject and count alike).

    :param item: a source document or a record rejected while reading.
    :param report: the run's report (rejections, documents seen).
    :param seen_ids: ``{doc_id: origin}`` of the documents taken so far; updated.
    :param limit: stop after this many documents (``None``: no limit).
    :returns: ``TAKE``, ``SKIP`` (rejected: a read error or a repeated id) or ``STOP`` (the limit is reached).
    """
    if isinstance(item, RejectedRecord):
        report.rejected.append(item)
        return SKIP
    if limit is not None and report.documents_seen >= limit:
        return STOP
    report.documents_seen += 1
    if item.id in seen_ids:
        report.rejected.append(
            RejectedRecord(item.origin, f"duplicate document id (first at {seen_ids[item.id]})")
        )
        return SKIP
    seen_ids[item.id] = item.origin
    return TAKE


def prepare_document(
    doc: SourceDocument, stored: dict[str, str], report: IngestReport, target_words: int, max_words: int
) -> Pending | None:
    """
    Split and date a document unless its content is stored already.

    :param doc: the document.
    :param stored: ``{doc_id: content_hash}`` of the store.
    :param report: counts an unchanged document and records a rejected one.
    :param target_words: passage size.
    :param max_words: the longest passage.
    :returns: the prepared document, or ``None`` (unchanged or rejected).
    """
    problem = source_problem(doc.id, doc.title, doc.text, doc.meta)
    if problem is not None:
        report.rejected.append(RejectedRecord(doc.origin, problem))
        return None
    content_hash = doc.content_hash()
    previous = stored.get(doc.id)
    if previous == content_hash:
        report.documents_unchanged += 1
        return None
    try:
        passages = build_passages(doc, target_words, max_words)
        if not passages:
            report.rejected.append(RejectedRecord(doc.origin, "no text to index"))
            return None
        date_passages(doc, passages, infer=doc.meta.get("source") != "timeqa")
    except (ValueError, TypeError) as exc:
        report.rejected.append(RejectedRecord(doc.origin, f"cannot split or date ({exc})"))
        return None
    return Pending(doc, content_hash, passages, replaces=previous is not None)


def _flush(
    pending: list[Pending], store: ChronoStore, embed: EmbedFn | None, report: IngestReport, bar: Any
) -> None:
    passages = [p for entry in pending for p in entry.passages]
    vectors = None
    if embed is not None:
        started = time.perf_counter()
        vectors = embed_passages(passages, embed)
        report.embed_seconds += time.perf_counter() - started
    write_pending(pending, vectors, store, report, bar)


def embed_passages(passages: list[Document], embed: EmbedFn) -> np.ndarray:
    """
    :param passages: passages.
    :param embed: texts -> unit vectors.
    :returns: their vectors (float32, one row each), embedded from :func:`passage_text`.
    """
    return np.asarray(embed([passage_text(p) for p in passages]), dtype=np.float32)


def write_pending(
    pending: list[Pending], vectors: np.ndarray | None, store: ChronoStore, report: IngestReport, bar: Any
) -> None:
    """
    Write prepared documents (their passages with ``vectors``, in order) and their source records in one
    ``write_batch``, and count them in the report.

    :param pending: the prepared documents.
    :param vectors: one row per passage of ``pending`` (``None``: passages without vectors).
    :param store: the store.
    :param report: the run's report.
    :param bar: the progress bar.
    """
    passages = [p for entry in pending for p in entry.passages]
    if vectors is not None:
        passages = [replace(p, embedding=v.tolist()) for p, v in zip(passages, vectors, strict=True)]
    store.write_batch(
        passages,
        policy=DuplicatePolicy.OVERWRITE,
        sources={e.doc.id: (e.content_hash, len(e.passages)) for e in pending},
        replace_sources=[e.doc.id for e in pending if e.replaces],
    )
    report.documents_written += len(pending)
    report.documents_replaced += sum(e.replaces for e in pending)
    report.passages_written += len(passages)
    bar.update(len(passages))
