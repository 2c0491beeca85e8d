"""Loaders for the built-in evaluation sets under ``--data-dir`` (default ``../shared/data``).

Each loader reads every file of its format under its folder, so another split laid out the same way
runs with the same command. The known quirks of each set (``data/README.md``) are handled here and
counted in :attr:`EvalDataset.stats`, never silently dropped.
"""

from __future__ import annotations

import glob
import gzip
import hashlib
import html
import json
import logging
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

from haystack import Document

from chronorag.evals.types import EvalDataset, EvalQuestion

logger = logging.getLogger(__name__)

MAX_PASSAGE_WORDS = 200  # TimeQA paragraphs and news articles are split to at most this many words

__all__ = [
    "MAX_PASSAGE_WORDS",
    "load_realtimeqa",
    "load_situatedqa",
    "load_timebench",
    "load_timeqa",
    "split_words",
]


class DatasetNotFoundError(FileNotFoundError):
    """The data set's folder or files are missing under the data directory."""


# --- shared helpers ---------------------------------------------------------------------------

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def split_words(text: str, max_words: int = MAX_PASSAGE_WORDS) -> list[str]:
    """Split a text into parts of at most ``max_words`` words, at sentence ends where possible.

    :param text: the text.
    :param max_words: the most words a part may hold.
    :returns: the parts, in order (one part when the text is short enough; never empty for non-empty text).
    """
    words = text.split()
    if len(words) <= max_words:
        return [text]
    parts: list[list[str]] = [[]]
    for sentence in _SENTENCE_END.split(text):
        sentence_words = sentence.split()
        # A sentence longer than a part is cut by words: no part may exceed the limit.
        while len(sentence_words) > max_words:
            if parts[-1]:
                parts.append([])
            parts[-1].extend(sentence_words[:max_words])
            parts.append([])
            sentence_words = sentence_words[max_words:]
        if len(parts[-1]) + len(sentence_words) > max_words:
            parts.append([])
        parts[-1].extend(sentence_words)
    return [" ".join(part) for part in parts if part]


def _require_files(pattern: str, what: str) -> list[str]:
    files = sorted(glob.glob(pattern))
    if not files:
        raise DatasetNotFoundError(f"no {what} files match {pattern}")
    return files


def _parse_day(value: Any) -> date | None:
    # RealTimeQA writes dates as YYYY/MM/DD or YYYY-MM-DD; anything else is treated as unknown.
    match = re.match(r"^\s*(\d{4})[/-](\d{1,2})[/-](\d{1,2})", str(value or ""))
    if not match:
        return None
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


# --- TimeQA ---------------------------------------------------------------------------------------


def load_timeqa(data_dir: str | Path, max_words: int = MAX_PASSAGE_WORDS) -> EvalDataset:
    """TimeQA in its page format: every ``timeqa/*.json`` under ``data_dir``.

    All pages' paragraphs form the corpus (``paras[0]`` is the page title, used as every passage's
    title). Passage ids are ``f"{page_index}#{para_idx}"``; a paragraph over ``max_words`` words is split
    into parts ``f"{page_index}#{para_idx}.{part}"``. A paragraph repeated within a page is kept once
    and the repeat's index maps to the kept copy. A question's gold passages are its answers' ``para``
    (every part of it); a ``para`` of 0 (the title) maps to every passage of the page, since each
    passage carries the title. Questions whose every answer is empty are unanswerable: they are kept,
    with no answers, so the runner can exclude and count them.

    :param data_dir: the data folder holding ``timeqa/``.
    :param max_words: split paragraphs longer than this.
    :returns: the data set.
    """
    files = _require_files(str(Path(data_dir) / "timeqa" / "*.json"), "TimeQA page")
    passages: list[Document] = []
    questions: list[EvalQuestion] = []
    stats = {
        "files": [Path(f).name for f in files],
        "pages": 0,
        "paragraphs": 0,
        "split_paragraphs": 0,
        "duplicate_paragraphs": 0,
        "unanswerable": 0,
        "title_gold": 0,
    }
    for file in files:
        with open(file, encoding="utf-8") as handle:
            pages = json.load(handle)
        for page in pages:
            page_passages, para_ids = _timeqa_page_passages(page, max_words, stats)
            passages.extend(page_passages)
            questions.extend(_timeqa_page_questions(page, para_ids, page_passages, Path(file).stem, stats))
    stats["passages"] = len(passages)
    stats["questions"] = len(questions)
    return EvalDataset("timeqa", questions, passages, stats)


def _timeqa_page_passages(
    page: dict[str, Any], max_words: int, stats: dict[str, Any]
) -> tuple[list[Document], dict[int, list[str]]]:
    paras: list[str] = page["paras"]
    title = paras[0] if paras else ""
    page_index = page["index"]
    stats["pages"] += 1
    passages: list[Document] = []
    para_ids: dict[int, list[str]] = {}
    first_seen: dict[str, int] = {}
    for para_idx, text in enumerate(paras[1:], start=1):
        stats["paragraphs"] += 1
        key = " ".join(text.split())
        if key in first_seen:
            stats["duplicate_paragraphs"] += 1
            para_ids[para_idx] = para_ids[first_seen[key]]
            continue
        first_seen[key] = para_idx
        parts = split_words(text, max_words)
        if len(parts) > 1:
            stats["split_paragraphs"] += 1
        ids = [
            f"{page_index}#{para_idx}" if len(parts) == 1 else f"{page_index}#{para_idx}.{n}"
            for n in range(len(parts))
        ]
        para_ids[para_idx] = ids
        for passage_id, part in zip(ids, parts, strict=True):
            meta = {"title": title, "doc_id": page_index, "passage_index": para_idx, "source": "timeqa"}
            passages.append(Document(id=passage_id, content=part, meta=meta))
    return passages, para_ids


def _timeqa_page_questions(
    page: dict[str, Any],
    para_ids: dict[int, list[str]],
    page_passages: list[Document],
    split: str,
    stats: dict[str, Any],
) -> Iterator[EvalQuestion]:
    for number, (question, labels) in enumerate(page["questions"]):
        answers = list(dict.fromkeys(label["answer"] for label in labels if label["answer"].strip()))
        gold: list[str] = []
        if not answers:
            stats["unanswerable"] += 1
        for label in labels:
            if not label["answer"].strip():
                continue
            if label["para"] == 0:
                stats["title_gold"] += 1
                gold.extend(doc.id for doc in page_passages)
            else:
                gold.extend(para_ids.get(label["para"], []))
        yield EvalQuestion(
            qid=f"{page['index']}#q{number}",
            question=" ".join(question.split()),
            answers=answers,
            gold_ids=list(dict.fromkeys(gold)),
            tags={"source": split, "relation": _timeqa_relation(question), "property": page.get("type", "")},
        )


_TIMEQA_BETWEEN = re.compile(
    r"\b(from|between)\b.+\b(to|and|until|till)\b|\b\d{4}\s*[-–]\s*\d{4}\b", re.IGNORECASE
)
_TIMEQA_RELATIONS = (
    ("before", "before"),
    ("after", "after"),
    ("as of", "as_of"),
    ("since", "since"),
    ("until", "until"),
    ("in", "in"),
    ("during", "in"),
)


def _timeqa_relation(question: str) -> str:
    # TimeQA has no relation field: label the slice from the wording (561 between, 53 in of 617 in dev).
    if _TIMEQA_BETWEEN.search(question):
        return "between"
    lowered = question.lower()
    for phrase, relation in _TIMEQA_RELATIONS:
        if re.search(rf"\b{phrase}\b[^?]*\d", lowered):
            return relation
    return "other"


# --- RealTimeQA -------------------------------------------------------------------------------------

_HREF = re.compile(r"""href\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")


def load_realtimeqa(data_dir: str | Path, max_words: int = MAX_PASSAGE_WORDS) -> EvalDataset:
    """RealTimeQA: every ``realtimeqa/qa/*/*_qa.jsonl`` with ``realtimeqa/search_results/*/*_gcs.jsonl.gz``.

    The corpus is every article found for any week (one copy per URL: the first one, in file order,
    that has text), split into passages of at most ``max_words`` words, each dated by its
    ``publish_date`` (``meta["date"]``; absent when the article has none). Articles without text are
    dropped and counted. Each question is asked as of its ``question_date``; its gold answer is the
    text of the correct choice. Its gold articles are those whose URL the evidence links to (the HTML
    href) or whose text holds the evidence sentence (>= 60% of its tokens in order within a window).

    :param data_dir: the data folder holding ``realtimeqa/``.
    :param max_words: split articles into passages of at most this many words.
    :returns: the data set.
    """
    root = Path(data_dir) / "realtimeqa"
    qa_files = _require_files(str(root / "qa" / "*" / "*_qa.jsonl"), "RealTimeQA question")
    result_files = _require_files(
        str(root / "search_results" / "*" / "*_gcs.jsonl.gz"), "RealTimeQA search-result"
    )
    stats: dict[str, Any] = {"qa_files": len(qa_files), "search_result_files": len(result_files)}
    articles = _realtimeqa_articles(result_files, stats)
    passages = _article_passages(articles, max_words)
    questions = _realtimeqa_questions(qa_files, stats)
    _attach_gold_articles(questions, articles, passages, stats)
    stats["passages"] = len(passages)
    stats["questions"] = len(questions)
    return EvalDataset("realtimeqa", questions, passages, stats)


def _read_jsonl(path: str) -> Iterator[dict[str, Any]]:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def normalize_url(url: str) -> str:
    """A URL reduced to host + path, so an evidence link matches the article's URL.

    Drops the scheme, ``www.``/``edition.`` host prefixes, the query, the fragment (``#:~:text=...``
    highlights) and a trailing slash.

    :param url: a URL.
    :returns: the comparable form.
    """
    url = url.strip().split("#", 1)[0].split("?", 1)[0]
    url = re.sub(r"^[a-z]+://", "", url, flags=re.IGNORECASE)
    url = re.sub(r"^(www|edition|amp)\.", "", url, flags=re.IGNORECASE)
    host, _, path = url.partition("/")
    return f"{host.lower()}/{path}".rstrip("/")


def _realtimeqa_articles(files: list[str], stats: dict[str, Any]) -> dict[str, dict[str, Any]]:
    articles: dict[str, dict[str, Any]] = {}
    stats.update(
        {
            "articles_seen": 0,
            "duplicate_urls": 0,
            "duplicate_urls_different_text": 0,
            "articles_without_text": 0,
            "articles_without_date": 0,
        }
    )
    for file in files:
        for row in _read_jsonl(file):
            for article in row.get("search_result", []):
                stats["articles_seen"] += 1
                key = normalize_url(article.get("url", ""))
                text = (article.get("text") or "").strip()
                if key in articles:
                    stats["duplicate_urls"] += 1
                    # The same URL crawled in another week may hold different text: the first copy wins.
                    if text and " ".join(text.split()) != " ".join(articles[key]["text"].split()):
                        stats["duplicate_urls_different_text"] += 1
                    continue
                if not text:
                    stats["articles_without_text"] += 1
                    continue
                day = _parse_day(article.get("publish_date"))
                if day is None:
                    stats["articles_without_date"] += 1
                articles[key] = {
                    "url": article["url"],
                    "title": (article.get("title") or "").strip(),
                    "text": text,
                    "date": day,
                    "doc_id": "rtqa-" + hashlib.sha1(key.encode()).hexdigest()[:16],
                }
    stats["articles"] = len(articles)
    return articles


def _article_passages(articles: dict[str, dict[str, Any]], max_words: int) -> list[Document]:
    passages = []
    for article in articles.values():
        paragraphs = " ".join(article["text"].split())
        for index, part in enumerate(split_words(paragraphs, max_words)):
            meta = {
                "title": article["title"],
                "doc_id": article["doc_id"],
                "passage_index": index,
                "url": article["url"],
                "source": "realtimeqa",
            }
            if article["date"] is not None:
                meta["date"] = article["date"].isoformat()
                meta["date_source"] = "metadata"
            passages.append(Document(id=f"{article['doc_id']}#{index}", content=part, meta=meta))
    return passages


def _realtimeqa_questions(files: list[str], stats: dict[str, Any]) -> list[EvalQuestion]:
    questions: list[EvalQuestion] = []
    seen: set[str] = set()
    stats.update({"duplicate_questions": 0, "empty_evidence": 0, "questions_without_date": 0})
    for file in files:
        for row in _read_jsonl(file):
            qid = str(row["question_id"])
            if qid in seen:
                stats["duplicate_questions"] += 1
                continue
            seen.add(qid)
            choices = [str(choice).strip() for choice in row.get("choices", [])]
            index = int(row["answer"][0]) if row.get("answer") else None
            evidence = row.get("evidence") or ""
            if not evidence.strip():
                stats["empty_evidence"] += 1
            as_of = _parse_day(row.get("question_date"))
            if as_of is None:
                stats["questions_without_date"] += 1
            answers = [choices[index]] if index is not None and 0 <= index < len(choices) else []
            questions.append(
                EvalQuestion(
                    qid=qid,
                    question=" ".join(str(row["question_sentence"]).split()),
                    answers=answers,
                    as_of=as_of,
                    choices=choices,
                    answer_index=index,
                    tags={"source": str(row.get("question_source", "")), "week": qid.split("_", 1)[0]},
                    extras={
                        "evidence_html": evidence,
                        "evidence_text": " ".join(html.unescape(_TAG.sub(" ", evidence)).split()),
                        "evidence_links": _HREF.findall(evidence),
                    },
                )
            )
    return questions


def _attach_gold_articles(
    questions: list[EvalQuestion],
    articles: dict[str, dict[str, Any]],
    passages: list[Document],
    stats: dict[str, Any],
) -> None:
    from chronorag.evals.evidence import EvidenceMatcher

    by_url = {key: article["doc_id"] for key, article in articles.items()}
    matcher = EvidenceMatcher([(a["doc_id"], a["text"]) for a in articles.values()])
    passages_by_doc: dict[str, list[str]] = {}
    for passage in passages:
        passages_by_doc.setdefault(passage.meta["doc_id"], []).append(passage.id)
    linked = matched = 0
    for question in questions:
        gold = [by_url[key] for key in map(normalize_url, question.extras["evidence_links"]) if key in by_url]
        linked += bool(gold)
        found = matcher.find(question.extras["evidence_text"])
        matched += bool(found)
        question.gold_doc_ids = list(dict.fromkeys(gold + found))
        question.gold_ids = [
            pid for doc_id in question.gold_doc_ids for pid in passages_by_doc.get(doc_id, [])
        ]
    stats["gold_by_link"] = linked
    stats["gold_by_evidence_match"] = matched
    stats["questions_with_gold_article"] = sum(bool(q.gold_doc_ids) for q in questions)


# --- SituatedQA ---------------------------------------------------------------------------------------


def load_situatedqa(data_dir: str | Path) -> EvalDataset:
    """SituatedQA temporal questions: every ``situatedqa/qa.temp.*.jsonl`` (no corpus: decomposition only).

    Each question is the ``edited_question`` ("... as of DATE"); gold labels are its ``date`` and
    ``date_type`` (kept in ``extras``) and its answers.

    :param data_dir: the data folder holding ``situatedqa/``.
    :returns: the data set (no passages).
    """
    files = _require_files(str(Path(data_dir) / "situatedqa" / "qa.temp.*.jsonl"), "SituatedQA")
    questions = []
    for file in files:
        for number, row in enumerate(_read_jsonl(file)):
            answers = list(dict.fromkeys(a for a in row.get("answer", []) if str(a).strip()))
            questions.append(
                EvalQuestion(
                    qid=f"{Path(file).stem}:{number}",
                    question=row["edited_question"],
                    answers=answers,
                    tags={"source": Path(file).stem, "date_type": row.get("date_type", "")},
                    extras={
                        "date": row.get("date"),
                        "date_type": row.get("date_type"),
                        "original_question": row.get("question"),
                        "id": row.get("id"),
                    },
                )
            )
    return EvalDataset(
        "situatedqa", questions, [], {"files": [Path(f).name for f in files], "questions": len(questions)}
    )


# --- TimeBench (TimeQA easy/hard with contexts) --------------------------------------------------------


def load_timebench(data_dir: str | Path) -> EvalDataset:
    """TimeBench's TimeQA samples: every ``timebench/*.jsonl`` (question, context, answer, question_type).

    There is no retrieval corpus: each question comes with its reading context. ``question_type`` is
    ``"{relation}_{explicit|implicit}"``; the relation and the explicitness are kept as tags.

    :param data_dir: the data folder holding ``timebench/``.
    :returns: the data set (no passages).
    """
    files = _require_files(str(Path(data_dir) / "timebench" / "*.jsonl"), "TimeBench")
    questions = []
    for file in files:
        for number, row in enumerate(_read_jsonl(file)):
            answer = row.get("answer")
            answers = [
                str(a) for a in (answer if isinstance(answer, list) else [answer]) if str(a or "").strip()
            ]
            kind = str(row.get("question_type", ""))
            relation, _, explicitness = kind.partition("_")
            questions.append(
                EvalQuestion(
                    qid=f"{Path(file).stem}:{row.get('idx', number)}",
                    question=row["question"],
                    answers=answers,
                    context=row.get("context"),
                    tags={
                        "source": Path(file).stem,
                        "relation": relation,
                        "question_type": kind,
                        "explicitness": explicitness,
                    },
                    extras={"idx": row.get("idx")},
                )
            )
    return EvalDataset(
        "timebench", questions, [], {"files": [Path(f).name for f in files], "questions": len(questions)}
    )
