"""Corpus readers: JSONL, CSV, folders of .txt/.md, TimeQA pages and RealTimeQA search results.

Every reader yields :class:`SourceDocument` for good records and :class:`RejectedRecord` (with the
file and line) for bad ones, so ingestion can skip and report them without stopping. The readers
only read corpora; question sets are the evaluation's business.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FORMATS = ("auto", "jsonl", "csv", "text", "timeqa", "realtimeqa")
TEXT_SUFFIXES = (".txt", ".md")


@dataclass
class SourceDocument:
    """
    A document to index.

    :param id: a stable id; passages get ``f"{id}#{n}"``.
    :param text: the full text (ignored when ``passages`` is given).
    :param title: page or article title.
    :param date: the publication date as found (parsed later), or ``None``.
    :param meta: extra metadata copied to every passage.
    :param passages: the document already divided into passages (TimeQA paragraphs), kept as they are.
    :param origin: ``file:line`` where the record was read, for reports.
    """

    id: str
    text: str
    title: str = ""
    date: Any = None
    meta: dict[str, Any] = field(default_factory=dict)
    passages: list[str] | None = None
    origin: str = ""

    def content_hash(self) -> str:
        """
        :returns: a hash of everything that shapes the passages, to skip unchanged documents on re-runs:
            the document, and the reading of its time (``SPANS_VERSION``: a new reading re-indexes it).
        """
        from chronorag.temporal.extractor import SPANS_VERSION

        payload = json.dumps(
            [self.title, self.text, self.passages, str(self.date), self.meta, f"spans-v{SPANS_VERSION}"],
            sort_keys=True,
            default=str,
        )
        return hashlib.sha1(payload.encode("utf-8")).hexdigest()


@dataclass
class RejectedRecord:
    """
    A record that could not be read.

    :param origin: ``file:line`` (or the file alone).
    :param reason: what is wrong with it.
    """

    origin: str
    reason: str


SourceItem = SourceDocument | RejectedRecord


def detect_format(path: str | Path) -> str:
    """
    Guess a corpus format from its path.

    :param path: a file or folder.
    :returns: one of ``jsonl``, ``csv``, ``text``, ``timeqa``, ``realtimeqa``.
    :raises ValueError: when the format cannot be told.
    """
    path = Path(path)
    name = path.name.lower()
    if path.is_dir():
        if any(path.rglob("*_gcs.jsonl.gz")):
            return "realtimeqa"
        if any(p.suffix.lower() in TEXT_SUFFIXES for p in path.rglob("*")):
            return "text"
        if any(path.glob("*.json")):
            return "timeqa"
        raise ValueError(
            f"cannot tell the format of folder {path} (no .txt/.md, TimeQA .json or *_gcs.jsonl.gz)"
        )
    if name.endswith("_gcs.jsonl.gz"):
        return "realtimeqa"
    if name.endswith((".jsonl", ".jsonl.gz", ".ndjson")):
        return "jsonl"
    if name.endswith((".csv", ".tsv")):
        return "csv"
    if name.endswith(TEXT_SUFFIXES):
        return "text"
    if name.endswith(".json"):
        return "timeqa"
    raise ValueError(f"cannot tell the format of {path}; pass --format")


def read_source(path: str | Path, fmt: str = "auto") -> Iterator[SourceItem]:
    """
    Read a corpus file or folder.

    :param path: the input.
    :param fmt: a format of :data:`FORMATS`.
    :returns: documents and rejected records, in input order.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, not {fmt!r}")
    if fmt == "auto":
        fmt = detect_format(path)
    readers = {
        "jsonl": read_jsonl,
        "csv": read_csv,
        "text": read_text_folder,
        "timeqa": read_timeqa,
        "realtimeqa": read_realtimeqa,
    }
    return readers[fmt](path)


def _open_text(path: Path) -> Any:
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def _record_to_document(record: Any, origin: str) -> SourceItem:
    """A JSONL/CSV record ``{"id", "title"?, "text"|"content", "date"?, "meta"?}`` as a document."""
    if not isinstance(record, dict):
        return RejectedRecord(origin, f"expected an object, got {type(record).__name__}")
    text = record.get("text", record.get("content"))
    if text is None:
        return RejectedRecord(origin, "missing 'text' (or 'content')")
    if not isinstance(text, str):
        return RejectedRecord(origin, f"'text' must be a string, not {type(text).__name__}")
    if not text.strip():
        return RejectedRecord(origin, "empty text")
    meta = record.get("meta") or {}
    if isinstance(meta, str):
        try:
            meta = json.loads(meta)
        except json.JSONDecodeError:
            return RejectedRecord(origin, "'meta' is not valid JSON")
    if not isinstance(meta, dict):
        return RejectedRecord(origin, "'meta' must be an object")
    extra = {k: v for k, v in record.items() if k not in ("id", "title", "text", "content", "date", "meta")}
    doc_id = record.get("id")
    if doc_id is None or str(doc_id).strip() == "":
        # A content-derived id keeps re-runs stable for records that carry none.
        doc_id = "sha1:" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]
    title = record.get("title") or ""
    return SourceDocument(
        id=str(doc_id),
        text=text,
        title=str(title),
        date=record.get("date") or meta.get("date"),
        meta={**extra, **{k: v for k, v in meta.items() if k != "date"}},
        origin=origin,
    )


def read_jsonl(path: str | Path) -> Iterator[SourceItem]:
    """
    One JSON object a line: ``{"id", "title"?, "text" (or "content"), "date"?, "meta"?}``.

    :param path: a ``.jsonl`` (or ``.jsonl.gz``) file.
    :returns: documents and rejected lines.
    """
    for item in read_jsonl_records(Path(path)):
        yield item if isinstance(item, RejectedRecord) else _record_to_document(item[1], item[0])


def read_csv(path: str | Path) -> Iterator[SourceItem]:
    """
    A CSV (or TSV) file with a header naming the JSONL fields; other columns become meta.

    :param path: the file.
    :returns: documents and rejected rows (line numbers count the header as line 1).
    """
    path = Path(path)
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        for row in reader:
            origin = f"{path}:{reader.line_num}"
            if None in row:
                yield RejectedRecord(origin, "more fields than the header has")
                continue
            record = {k: v for k, v in row.items() if v not in (None, "")}
            yield _record_to_document(record, origin)


def read_text_folder(path: str | Path) -> Iterator[SourceItem]:
    """
    Every ``.txt``/``.md`` file under a folder (or one such file); the id is the relative path.

    :param path: a folder or file.
    :returns: documents (title: the first Markdown heading or the file name) and rejected files.
    """
    root = Path(path)
    files = (
        [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.suffix.lower() in TEXT_SUFFIXES)
    )
    for file in files:
        origin = str(file)
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            yield RejectedRecord(origin, f"cannot read ({exc})")
            continue
        if not text.strip():
            yield RejectedRecord(origin, "empty file")
            continue
        title = file.stem.replace("_", " ")
        heading = re.match(r"\s*#\s+(.+)", text)
        if heading:
            title = heading.group(1).strip()
            text = text[heading.end() :].lstrip()
        doc_id = file.name if root.is_file() else file.relative_to(root).as_posix()
        yield SourceDocument(id=doc_id, text=text, title=title, origin=origin)


def read_timeqa(path: str | Path) -> Iterator[SourceItem]:
    """
    TimeQA page JSON: a list of pages ``{index, type, link, questions, paras}`` (``paras[0]`` is the title).

    Every paragraph is a passage, so passage ``f"{index}#{para}"`` is the gold ``para`` of a question.

    :param path: a TimeQA ``.json`` file or a folder of them.
    :returns: one document per page.
    """
    root = Path(path)
    files = [root] if root.is_file() else sorted(root.glob("*.json"))
    for file in files:
        try:
            with open(file, encoding="utf-8") as handle:
                pages = json.load(handle)
        except (OSError, json.JSONDecodeError) as exc:
            yield RejectedRecord(str(file), f"cannot read TimeQA JSON ({exc})")
            continue
        if not isinstance(pages, list):
            yield RejectedRecord(str(file), "TimeQA file must hold a list of pages")
            continue
        for number, page in enumerate(pages):
            origin = f"{file}:page {number}"
            paras = page.get("paras") if isinstance(page, dict) else None
            if not paras or "index" not in page:
                yield RejectedRecord(origin, "page without 'index' or 'paras'")
                continue
            paras = [str(p) for p in paras]
            yield SourceDocument(
                id=str(page["index"]),
                text="\n\n".join(paras),
                title=paras[0].strip(),
                meta={"link": page.get("link"), "type": page.get("type"), "source": "timeqa"},
                passages=paras,
                origin=origin,
            )


def read_realtimeqa(path: str | Path) -> Iterator[SourceItem]:
    """
    RealTimeQA search results (``*_gcs.jsonl.gz``): articles ``{url, title, text, publish_date, authors}``.

    The article id is its URL; a URL seen in an earlier week is skipped (one copy of each article);
    articles without text are rejected; a missing date is left for dating to infer.

    :param path: a results file or a folder holding them (read in name order, that is by week).
    :returns: one document per distinct article.
    """
    root = Path(path)
    files = [root] if root.is_file() else sorted(root.rglob("*_gcs.jsonl.gz"))
    seen: set[str] = set()
    for file in files:
        for item in read_jsonl_records(file):
            if isinstance(item, RejectedRecord):
                yield item
                continue
            origin, record = item
            for position, article in enumerate(record.get("search_result") or []):
                where = f"{origin} result {position}"
                url = (article or {}).get("url")
                if not url:
                    yield RejectedRecord(where, "article without url")
                    continue
                if url in seen:
                    continue
                seen.add(url)
                text = article.get("text") or ""
                if not text.strip():
                    yield RejectedRecord(where, f"article {url} has no text")
                    continue
                yield SourceDocument(
                    id=url,
                    text=text,
                    title=(article.get("title") or "").strip(),
                    date=article.get("publish_date") or None,
                    meta={
                        "url": url,
                        "authors": article.get("authors") or [],
                        "source": "realtimeqa",
                        "week": file.name.split("_")[0],
                    },
                    origin=where,
                )


def read_jsonl_records(path: Path) -> Iterator[tuple[str, dict[str, Any]] | RejectedRecord]:
    """
    Raw JSON objects of a (gzipped) JSONL file with their origin.

    :param path: the file.
    :returns: ``(origin, record)`` pairs and rejected lines.
    """
    with _open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            origin = f"{path}:{number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                yield RejectedRecord(origin, f"invalid JSON ({exc.msg} at column {exc.colno})")
                continue
            if not isinstance(record, dict):
                yield RejectedRecord(origin, f"expected an object, got {type(record).__name__}")
                continue
            yield origin, record
