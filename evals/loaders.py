"""Loaders for the built-in evaluation sets under ``--data-dir`` (default ``../shared/data``).

Each loader reads every file of its format under its folder, so another split laid out the same way
runs with the same command. The known quirks of each set (``data/README.md``) are handled here and
counted in :attr:`EvalDataset.stats`, never silently dropped.
"""

from __future__ import annotations

import glob
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

__all__ = [
    "DatasetNotFoundError",
    "load_realtimeqa",
    "load_situatedqa",
    "load_timebench",
    "load_timeqa",
    "normalize_url",
    "write_timeqa_subset",
]


class DatasetNotFoundError(FileNotFoundError):
    """The data set's folder or files are missing under the data directory."""


# --- shared helpers ---------------------------------------------------------------------------


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


TIMEQA_SPLITS = {"dev": "timeqa", "train": "timeqa_train"}


def load_timeqa(data_dir: str | Path, split: str = "dev") -> EvalDataset:
    """TimeQA in its page format: every ``timeqa/*.json`` (``split="train"``: ``timeqa_train/*.json``).

    All pages' paragraphs form the corpus, read and split by the indexers (:func:`read_timeqa`,
    :func:`build_passages`): passage ``f"{page_index}#{para_idx}"`` is paragraph ``para_idx``
    (``paras[0]``, the title, is passage 0), and a paragraph over 200 words is cut into pieces
    ``f"{page_index}#{para_idx}.{k}"``. A question's gold passages are every piece of its answers'
    ``para``. Questions whose every answer is empty are unanswerable: they are kept without answers,
    so the runner can exclude them from AR/ER and count them.

    :param data_dir: the data folder holding ``timeqa/`` (and ``timeqa_train/``).
    :param split: ``"dev"`` (the reported split) or ``"train"`` (for tuning; other pages).
    :returns: the data set (corpus format ``timeqa``).
    :raises ValueError: for an unknown split.
    """
    from chronorag.indexers.ingest import build_passages
    from chronorag.indexers.sources import SourceDocument, read_timeqa

    if split not in TIMEQA_SPLITS:
        raise ValueError(f"TimeQA split must be one of {', '.join(TIMEQA_SPLITS)}, not {split!r}")
    files = _require_files(str(Path(data_dir) / TIMEQA_SPLITS[split] / "*.json"), "TimeQA page")
    questions: list[EvalQuestion] = []
    stats: dict[str, Any] = {
        "files": [Path(f).name for f in files],
        "pages": 0,
        "paragraphs": 0,
        "passages": 0,
        "split_paragraphs": 0,
        "unanswerable": 0,
        "short_paragraphs": 0,
    }
    for file in files:
        with open(file, encoding="utf-8") as handle:
            pages = {str(page["index"]): page for page in json.load(handle)}
        for document in read_timeqa(file):
            if not isinstance(document, SourceDocument):
                continue
            passages = build_passages(document)
            _count_timeqa_page(document.passages or [], passages, stats)
            questions.extend(_timeqa_page_questions(pages[document.id], passages, Path(file).stem, stats))
    stats["questions"] = len(questions)
    return EvalDataset("timeqa", questions, [str(f) for f in files], "timeqa", stats)


def _count_timeqa_page(paras: list[str], passages: list[Document], stats: dict[str, Any]) -> None:
    stats["pages"] += 1
    stats["paragraphs"] += len(paras)
    stats["passages"] += len(passages)
    stats["split_paragraphs"] += sum(1 for p in passages if p.meta.get("chunk") == 1)
    # Section headings ("History .") are kept: 15 dev questions have their answer in one.
    stats["short_paragraphs"] += sum(1 for text in paras[1:] if len(text.split()) <= 3)


def _timeqa_page_questions(
    page: dict[str, Any], passages: list[Document], split: str, stats: dict[str, Any]
) -> Iterator[EvalQuestion]:
    by_para: dict[int, list[str]] = {}
    for passage in passages:
        by_para.setdefault(int(passage.meta["para"]), []).append(passage.id)
    for number, (question, labels) in enumerate(page["questions"]):
        answers = list(dict.fromkeys(label["answer"] for label in labels if label["answer"].strip()))
        if not answers:
            stats["unanswerable"] += 1
        gold = [pid for label in labels if label["answer"].strip() for pid in by_para.get(label["para"], [])]
        yield EvalQuestion(
            qid=f"{page['index']}#q{number}",
            question=" ".join(question.split()),
            answers=answers,
            gold_ids=list(dict.fromkeys(gold)),
            tags={"source": split, "relation": _timeqa_relation(question), "page": str(page["index"])},
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


def write_timeqa_subset(
    dataset: EvalDataset, questions: list[EvalQuestion], out_file: Path, max_pages: int | None, seed: int
) -> list[str]:
    """Write a smaller TimeQA corpus: the pages of ``questions`` plus seeded distractor pages.

    :param dataset: the loaded TimeQA set (its corpus files are read again).
    :param questions: the questions that will be asked.
    :param out_file: the JSON file to write (TimeQA page format).
    :param max_pages: total pages wanted (at least the questions' own pages); ``None``: every page.
    :param seed: seed for choosing distractor pages.
    :returns: the files to ingest (``out_file``, or the original files when nothing is left out).
    """
    import random

    if max_pages is None:
        return list(dataset.corpus_files)
    pages: list[dict[str, Any]] = []
    for file in dataset.corpus_files:
        with open(file, encoding="utf-8") as handle:
            pages.extend(json.load(handle))
    wanted = {question.tags["page"] for question in questions}
    others = [str(page["index"]) for page in pages if str(page["index"]) not in wanted]
    random.Random(seed).shuffle(others)
    wanted.update(others[: max(0, max_pages - len(wanted))])
    subset = [page for page in pages if str(page["index"]) in wanted]
    text = json.dumps(subset)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    # Rewrite only on change: the file's identity names the store, which a re-run must find again.
    if not out_file.exists() or out_file.read_text(encoding="utf-8") != text:
        out_file.write_text(text, encoding="utf-8")
    return [str(out_file)]


# --- RealTimeQA -------------------------------------------------------------------------------------

_HREF = re.compile(r"""href\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")


def load_realtimeqa(data_dir: str | Path, weeks: set[str] | None = None) -> EvalDataset:
    """RealTimeQA: every ``realtimeqa/qa/*/*_qa.jsonl`` with ``realtimeqa/search_results/*/*_gcs.jsonl.gz``.

    The corpus is every article found for any week, read by the indexers (:func:`read_realtimeqa`:
    one copy per URL, the first in week order; articles without text rejected), dated by its
    ``publish_date``. Each question is asked as of its ``question_date`` (YYYY/MM/DD or YYYY-MM-DD);
    its gold answer is the text of the correct choice. Its gold articles (``gold_doc_ids``: article
    URLs, the passages' ``meta["doc_id"]``) are those its evidence links to (the HTML href) or whose
    text holds the evidence sentence (>= 60% of its tokens in order within a window).

    :param data_dir: the data folder holding ``realtimeqa/``.
    :param weeks: read only these weeks (``"20220617"``...), questions and search results alike.
    :returns: the data set (corpus format ``realtimeqa``).
    """
    root = Path(data_dir) / "realtimeqa"
    qa_files = _keep_weeks(
        _require_files(str(root / "qa" / "*" / "*_qa.jsonl"), "RealTimeQA question"), weeks
    )
    result_files = _keep_weeks(
        _require_files(str(root / "search_results" / "*" / "*_gcs.jsonl.gz"), "RealTimeQA search-result"),
        weeks,
    )
    stats: dict[str, Any] = {"qa_files": len(qa_files), "search_result_files": len(result_files)}
    question_weeks = {Path(f).name.split("_")[0] for f in qa_files}
    result_weeks = {Path(f).name.split("_")[0] for f in result_files}
    stats["weeks_without_results"] = sorted(question_weeks - result_weeks)
    stats["weeks_without_questions"] = sorted(result_weeks - question_weeks)
    articles = _realtimeqa_articles(result_files, stats)
    questions = _realtimeqa_questions(qa_files, stats)
    _attach_gold_articles(questions, articles, stats)
    stats["questions"] = len(questions)
    return EvalDataset("realtimeqa", questions, result_files, "realtimeqa", stats)


def _keep_weeks(files: list[str], weeks: set[str] | None) -> list[str]:
    if weeks is None:
        return files
    return [file for file in files if Path(file).name.split("_")[0] in weeks]


def _read_jsonl(path: str) -> Iterator[dict[str, Any]]:
    """The JSON objects of a (gzipped) JSONL file, read by the indexers' reader; bad lines are logged."""
    from chronorag.indexers.sources import RejectedRecord, read_jsonl_records

    for item in read_jsonl_records(Path(path)):
        if isinstance(item, RejectedRecord):
            logger.warning("skipping %s: %s", item.origin, item.reason)
            continue
        yield item[1]


def normalize_url(url: str) -> str:
    """A URL reduced to host + path, so an evidence link matches the article's URL.

    Drops the scheme, ``www.``/``edition.``/``amp.`` host prefixes, the query, the fragment
    (``#:~:text=...`` highlights) and a trailing slash.

    :param url: a URL.
    :returns: the comparable form.
    """
    url = url.strip().split("#", 1)[0].split("?", 1)[0]
    url = re.sub(r"^[a-z]+://", "", url, flags=re.IGNORECASE)
    url = re.sub(r"^(www|edition|amp)\.", "", url, flags=re.IGNORECASE)
    host, _, path = url.partition("/")
    return f"{host.lower()}/{path}".rstrip("/")


def _realtimeqa_articles(files: list[str], stats: dict[str, Any]) -> list[tuple[str, str]]:
    from chronorag.indexers.sources import SourceDocument, read_realtimeqa

    articles: list[tuple[str, str]] = []
    rejected = 0
    for file in files:
        for item in read_realtimeqa(file):
            if isinstance(item, SourceDocument):
                articles.append((item.id, item.text))
            else:
                rejected += 1
    # read_realtimeqa dedupes within one file; across weeks the first copy (in week order) wins.
    unique = dict(reversed(articles))
    stats["articles_seen"] = sum(
        1 for f in files for row in _read_jsonl(f) for _ in row.get("search_result", [])
    )
    stats["articles_rejected"] = rejected
    stats["duplicate_urls_across_weeks"] = len(articles) - len(unique)
    stats["articles"] = len(unique)
    return [(url, text) for url, text in articles if unique.get(url) is text]


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
            questions.append(_realtimeqa_question(row, stats))
    return questions


def _realtimeqa_question(row: dict[str, Any], stats: dict[str, Any]) -> EvalQuestion:
    qid = str(row["question_id"])
    choices = [str(choice).strip() for choice in row.get("choices", [])]
    index = int(row["answer"][0]) if row.get("answer") else None
    evidence = row.get("evidence") or ""
    if not evidence.strip():
        stats["empty_evidence"] += 1  # USA Today questions carry none
    as_of = _parse_day(row.get("question_date"))
    if as_of is None:
        stats["questions_without_date"] += 1
    # Choices are display strings: "“Squid Game”" must match "Squid Game" in an article.
    answers = [choices[index].strip("\"'“”‘’ ")] if index is not None and 0 <= index < len(choices) else []
    return EvalQuestion(
        qid=qid,
        question=" ".join(str(row["question_sentence"]).split()),
        answers=answers,
        as_of=as_of,
        choices=choices,
        answer_index=index,
        tags={"source": str(row.get("question_source", "")), "week": qid.split("_", 1)[0]},
        extras={
            "evidence_text": " ".join(html.unescape(_TAG.sub(" ", evidence)).split()),
            "evidence_links": _HREF.findall(evidence),
        },
    )


def _attach_gold_articles(
    questions: list[EvalQuestion], articles: list[tuple[str, str]], stats: dict[str, Any]
) -> None:
    from chronorag.evals.evidence import EvidenceMatcher

    by_url = {normalize_url(url): url for url, _ in articles}
    matcher = EvidenceMatcher(articles)
    linked = matched = 0
    for question in questions:
        links = [
            by_url[key] for key in map(normalize_url, question.extras["evidence_links"]) if key in by_url
        ]
        found = matcher.find(question.extras["evidence_text"])
        linked += bool(links)
        matched += bool(found)
        question.gold_doc_ids = list(dict.fromkeys(links + found))
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
        "situatedqa", questions, stats={"files": [Path(f).name for f in files], "questions": len(questions)}
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
                    qid=f"{Path(file).stem}:{number}",
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
        "timebench", questions, stats={"files": [Path(f).name for f in files], "questions": len(questions)}
    )


# --- distractors ------------------------------------------------------------------------------------


def distractor_inputs(
    paths: list[Path], count: int | None, seed: int, work_dir: Path
) -> list[tuple[list[str], str]]:
    """The distractor corpora to add to a data set's corpus, each as ``(files, ingestion format)``.

    Distractors make a corpus mixed: passages of many other topics that the systems must rank below the
    evidence. Without ``count`` every document of every path is added; with it, a seeded sample of
    ``count`` documents (TimeQA pages or JSONL records) is taken from all paths together. Documents that
    are also in the data set's own corpus are ingested once (the store skips unchanged documents).

    :param paths: TimeQA page JSON files or folders, JSONL/CSV/text corpora, RealTimeQA search results.
    :param count: how many documents to sample in all (``None``: all of them).
    :param seed: the sampling seed.
    :param work_dir: where a sample is written.
    :returns: ``[(files, format), ...]``, one entry per format.
    :raises FileNotFoundError: for a path that does not exist.
    :raises ValueError: when ``count`` is asked of a format that cannot be sampled (CSV, text, RealTimeQA).
    """
    from chronorag.indexers.sources import detect_format

    groups: dict[str, list[str]] = {}
    for path in paths:
        if not Path(path).exists():
            raise FileNotFoundError(f"--distractors {path} does not exist")
        groups.setdefault(detect_format(path), []).append(str(path))
    if count is None:
        return [(files, fmt) for fmt, files in groups.items()]
    unsampled = sorted(set(groups) - {"timeqa", "jsonl"})
    if unsampled:
        raise ValueError(
            f"--distractor-docs samples TimeQA pages and JSONL records, not {', '.join(unsampled)} corpora"
        )
    records = [(fmt, item) for fmt, files in groups.items() for item in _distractor_records(fmt, files)]
    import random

    random.Random(seed).shuffle(records)
    chosen = records[:count]
    return [
        _write_sample(work_dir, fmt, [item for kind, item in chosen if kind == fmt], count, seed)
        for fmt in sorted(groups)
        if any(kind == fmt for kind, _ in chosen)
    ]


def _distractor_records(fmt: str, files: list[str]) -> list[Any]:
    """Every TimeQA page (dict) or JSONL line (str) of ``files``, in file order."""
    records: list[Any] = []
    for path in files:
        root = Path(path)
        if fmt == "timeqa":
            for file in [root] if root.is_file() else sorted(root.glob("*.json")):
                with open(file, encoding="utf-8") as handle:
                    records.extend(json.load(handle))
        else:
            import gzip

            opener = gzip.open if root.name.endswith(".gz") else open
            with opener(root, "rt", encoding="utf-8") as handle:
                records.extend(line for line in handle if line.strip())
    return records


def _write_sample(work_dir: Path, fmt: str, items: list[Any], count: int, seed: int) -> tuple[list[str], str]:
    suffix = "json" if fmt == "timeqa" else "jsonl"
    out = Path(work_dir) / f"distractors-{fmt}-{count}-seed{seed}.{suffix}"
    text = json.dumps(items) if fmt == "timeqa" else "".join(line.rstrip("\n") + "\n" for line in items)
    out.parent.mkdir(parents=True, exist_ok=True)
    # Rewrite only on change: the file's identity names the store, which a re-run must find again.
    if not out.exists() or out.read_text(encoding="utf-8") != text:
        out.write_text(text, encoding="utf-8")
    return [str(out)], fmt
