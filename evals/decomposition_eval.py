"""Measure question decomposition on real questions: SituatedQA, TimeBench (TimeQA), TempRAGEval.

Run ``python -m chronorag.evals.decomposition_eval --data-dir ../shared/data``; it prints JSON and writes
``benchmarks/results/decomposition.json``. The gold side of each measure is read from the data set itself
(SituatedQA's ``date`` field, TimeBench's ``question_type`` and the dates written in the question,
TempRAGEval's ``time_specifier``), never from the decomposer.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import string
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from chronorag.temporal import Interval, Relation, decompose, extract_mentions

RESULTS_PATH = Path(__file__).resolve().parent.parent / "benchmarks" / "results" / "decomposition.json"
# Fixed so the relative readings, and so the results, do not depend on the day the evaluation runs.
EVAL_REFERENCE = date(2024, 1, 1)
_MAX_EXAMPLES = 15
_SITUATED_CHECKS = ("relation", "interval", "content")

_MONTHS = {name: index for index, name in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], start=1)
}  # fmt: skip


# --- SituatedQA ------------------------------------------------------------------------------------
def _normalise_text(text: str) -> str:
    """Lower case, no punctuation, single spaces: "up to punctuation/case"."""
    text = text.lower().translate(str.maketrans({c: " " for c in string.punctuation + "’‘“”"}))
    return " ".join(text.split())


def _situatedqa_gold(value: str) -> Interval | None:
    """SituatedQA's ``date``: a year ("2021") or a full date ("March 01, 2015")."""
    value = value.strip()
    if re.fullmatch(r"\d{4}", value):
        return Interval.year(int(value))
    found = re.fullmatch(r"([A-Za-z]+)\s+(\d{1,2}),\s*(\d{4})", value)
    if found:
        return Interval.day(date(int(found[3]), _MONTHS[found[1][:3].lower()], int(found[2])))
    # Other splits may write dates otherwise ("June 2019", "2019-06-01"): read them as the extractor does.
    mentions = extract_mentions(value)
    return mentions[0].interval if len(mentions) == 1 else None


def evaluate_situatedqa(path: str | Path) -> dict[str, Any]:
    """Every ``edited_question`` ends with "as of DATE": relation, interval and content must match.

    :param path: ``qa.temp.dev.jsonl``.
    :returns: counts and accuracies (relation, interval, content, all three), by ``date_type``, and examples
        of failures.
    """
    rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    totals: Counter[str] = Counter()
    by_type: dict[str, Counter[str]] = defaultdict(Counter)
    failures: list[dict[str, Any]] = []
    started = time.perf_counter()
    for row in rows:
        constraint = decompose(row["edited_question"], as_of=EVAL_REFERENCE)
        gold = _situatedqa_gold(str(row["date"]))
        checks = {
            "relation": constraint.relation is Relation.AS_OF,
            "interval": gold is not None and constraint.interval == gold,
            "content": _normalise_text(constraint.content) == _normalise_text(row["question"]),
        }
        checks["all"] = all(checks.values())
        for key, ok in checks.items():
            totals[key] += ok
            by_type[row.get("date_type", "?")][key] += ok
        by_type[row.get("date_type", "?")]["n"] += 1
        if not checks["all"] and len(failures) < _MAX_EXAMPLES:
            failures.append(
                {"question": row["edited_question"], "gold_date": row["date"], **constraint.to_dict()}
            )
    elapsed = time.perf_counter() - started
    n = len(rows)
    return {
        "n": n,
        "relation_accuracy": _share(totals["relation"], n),
        "interval_accuracy": _share(totals["interval"], n),
        "content_accuracy": _share(totals["content"], n),
        "all_accuracy": _share(totals["all"], n),
        "by_date_type": {
            name: {
                "n": c["n"],
                **{f"{k}_accuracy": _share(c[k], c["n"]) for k in ("relation", "interval", "content")},
            }
            for name, c in sorted(by_type.items())
        },
        "questions_per_second": round(n / elapsed, 1) if elapsed else None,
        "failures": failures,
    }


# --- TimeBench (TimeQA easy/hard) --------------------------------------------------------------------
_TB_POINT = (
    r"(?:(?P<{p}part>early|mid|late)\s+)?(?:(?P<{p}mon>[A-Z][a-z]{{2}})[a-z]*\.?\s+)?"
    r"(?P<{p}year>\d{{3,4}})(?P<{p}s>s)?"
)
_TB_RANGE = re.compile(
    r"\b(?:from|between)\s+" + _TB_POINT.format(p="a") + r"\s+(?:to|and|until)\s+" + _TB_POINT.format(p="b")
)
_TB_SINGLE = re.compile(r"\b(?:in|before|after)\s+" + _TB_POINT.format(p="a") + r"\s*\?")


def _tb_point(found: re.Match[str], prefix: str) -> Interval | None:
    """One TimeQA date as written in the question: "1917", "Mar 2011", "late 1980s"."""
    year = int(found[f"{prefix}year"])
    if year < 1000:
        return None  # the data's typos ("from 1977 to 179") have no gold interval
    month = found[f"{prefix}mon"]
    if month:
        return Interval.month(year, _MONTHS[month[:3].lower()])
    if found[f"{prefix}s"]:
        part = found[f"{prefix}part"]
        first, last = {"early": (0, 3), "mid": (4, 6), "late": (7, 9), None: (0, 9)}[part]
        return Interval.years(year + first, year + last)
    return Interval.year(year)


def _timebench_gold(question: str, relation: str) -> Interval | None:
    """The interval the question states, read by a template parser of TimeQA's phrasing."""
    if relation == "between":
        found = _TB_RANGE.search(question)
        if not found:
            return None
        first, last = _tb_point(found, "a"), _tb_point(found, "b")
        if first is None or last is None or last.end < first.start:
            return None
        return Interval(first.start, last.end)
    found = _TB_SINGLE.search(question)
    point = _tb_point(found, "a") if found else None
    if point is None:
        return None
    if relation == "before":
        return Interval(None, point.start - timedelta(days=1))
    if relation == "after":
        return Interval(point.end + timedelta(days=1), None)
    return point


def evaluate_timebench(paths: Iterable[str | Path]) -> dict[str, Any]:
    """Relation from ``question_type`` (between/in/before/after), interval from the dates in the question.

    :param paths: TimeBench TimeQA files (``timeqa_easy_500.jsonl``, ``timeqa_hard_500.jsonl``).
    :returns: relation and interval accuracy overall, per file and per question type, and failures.
    """
    totals: Counter[str] = Counter()
    per_type: dict[str, Counter[str]] = defaultdict(Counter)
    per_file: dict[str, Counter[str]] = defaultdict(Counter)
    failures: list[dict[str, Any]] = []
    for path in paths:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            gold_relation = row["question_type"].split("_")[0]
            constraint = decompose(row["question"], as_of=EVAL_REFERENCE)
            gold = _timebench_gold(row["question"], gold_relation)
            relation_ok = constraint.relation.value == gold_relation
            interval_ok = (
                gold is not None
                and constraint.interval is not None
                and ((constraint.interval.start, constraint.interval.end) == (gold.start, gold.end))
            )
            for counter in (totals, per_type[row["question_type"]], per_file[Path(path).name]):
                counter["n"] += 1
                counter["relation"] += relation_ok
                counter["interval"] += interval_ok
                counter["gold_interval"] += gold is not None
            if not (relation_ok and interval_ok) and len(failures) < _MAX_EXAMPLES:
                failures.append({"question_type": row["question_type"], **constraint.to_dict()})
    return {
        "n": totals["n"],
        "relation_accuracy": _share(totals["relation"], totals["n"]),
        "interval_accuracy": _share(totals["interval"], totals["n"]),
        "with_gold_interval": totals["gold_interval"],
        "by_file": {name: _counts(c) for name, c in sorted(per_file.items())},
        "by_question_type": {name: _counts(c) for name, c in sorted(per_type.items())},
        "failures": failures,
    }


# --- TempRAGEval draft ---------------------------------------------------------------------------------
# time_specifier (time_relation in the final benchmark) -> the relations that agree with it. "when" is an
# event anchor ("when he married Ivatt"): the decomposer reads it as "in" the event (temporal/anchors.py).
_TEMPRAGEVAL_RELATIONS: dict[str, set[str]] = {
    "": {"none"}, "as of": {"as_of"}, "before": {"before"}, "after": {"after"}, "between": {"between"},
    "from": {"between", "since"}, "in": {"in"}, "during": {"in"}, "since": {"since"}, "by": {"until"},
    "until": {"until"}, "around": {"around"}, "on": {"on"}, "when": {"in"},
}  # fmt: skip


def evaluate_temprageval_relations(csv_path: str | Path) -> dict[str, Any]:
    """Agreement of the decomposed relation with TempRAGEval's ``time_relation``/``time_specifier``.

    :param csv_path: the TempRAGEval CSV (the draft has ``time_specifier``; the final file ``time_relation``).
    :returns: agreement overall and per specifier, a confusion table, and disagreements.
    """
    with Path(csv_path).open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    agree = 0
    per_label: dict[str, Counter[str]] = defaultdict(Counter)
    confusion: dict[str, Counter[str]] = defaultdict(Counter)
    disagreements: list[dict[str, Any]] = []
    for row in rows:
        label = (row.get("time_relation") or row.get("time_specifier") or "").strip().lower()
        question = (row.get("question") or "").strip()
        if not question:
            continue
        constraint = decompose(question, as_of=EVAL_REFERENCE)
        ok = constraint.relation.value in _TEMPRAGEVAL_RELATIONS.get(label, {label.replace(" ", "_")})
        agree += ok
        per_label[label or "(none)"]["n"] += 1
        per_label[label or "(none)"]["agree"] += ok
        confusion[label or "(none)"][constraint.relation.value] += 1
        if not ok:
            disagreements.append({"label": label, "question": " ".join(question.split()),
                                  "relation": constraint.relation.value,
                                  "time_text": constraint.time_text})  # fmt: skip
    n = sum(c["n"] for c in per_label.values())
    return {
        "n": n,
        "agreement": _share(agree, n),
        "by_label": {
            k: {"n": c["n"], "agreement": _share(c["agree"], c["n"])} for k, c in sorted(per_label.items())
        },
        "confusion": {k: dict(v) for k, v in sorted(confusion.items())},
        "disagreements": disagreements,
    }


# --- helpers and entry point -------------------------------------------------------------------------
def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _counts(counter: Counter[str]) -> dict[str, Any]:
    return {
        "n": counter["n"],
        "relation_accuracy": _share(counter["relation"], counter["n"]),
        "interval_accuracy": _share(counter["interval"], counter["n"]),
    }


def run_all(data_dir: str | Path) -> dict[str, Any]:
    """Every measure whose data is present under ``data_dir``.

    :param data_dir: the shared data folder (``../shared/data``).
    :returns: one entry per data set (absent data sets are listed under ``missing``).
    """
    data = Path(data_dir)
    results: dict[str, Any] = {"reference_time": EVAL_REFERENCE.isoformat(), "missing": []}
    situated = data / "situatedqa" / "qa.temp.dev.jsonl"
    timebench = [data / "timebench" / f"timeqa_{level}_500.jsonl" for level in ("easy", "hard")]
    temprag = data / "temprageval_draft" / "TempRAGEval_draft_134rows.csv"
    if situated.is_file():
        results["situatedqa"] = evaluate_situatedqa(situated)
    else:
        results["missing"].append(str(situated))
    present = [path for path in timebench if path.is_file()]
    if present:
        results["timebench"] = evaluate_timebench(present)
    results["missing"] += [str(path) for path in timebench if not path.is_file()]
    if temprag.is_file():
        results["temprageval"] = evaluate_temprageval_relations(temprag)
    else:
        results["missing"].append(str(temprag))
    return results


def main(argv: list[str] | None = None) -> int:
    """Command line entry point: print the results as JSON and write them to ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--out", default=str(RESULTS_PATH), help="JSON file to write ('' to skip)")
    args = parser.parse_args(argv)
    if not Path(args.data_dir).is_dir():
        print(f"error: data folder {args.data_dir} does not exist", file=sys.stderr)
        return 2
    results = run_all(args.data_dir)
    text = json.dumps(results, indent=2, ensure_ascii=False)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
