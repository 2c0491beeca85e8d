"""Measure document dating on RealTimeQA news articles with their publication dates hidden.

Run ``python -m chronorag.evals.dating_eval --data-dir ../shared/data``; it prints JSON and writes
``benchmarks/results/dating.json``. Each article's text goes through the fast extractor and
:func:`chronorag.temporal.infer_document_date`; the estimate is compared with its ``publish_date``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from chronorag.temporal import extract_mentions, infer_document_date, parse_publication_date

RESULTS_PATH = Path(__file__).resolve().parent.parent / "benchmarks" / "results" / "dating.json"


def iter_articles(paths: Iterable[str | Path]) -> Iterator[dict[str, Any]]:
    """The dated articles with text of RealTimeQA search-result files, each URL once.

    :param paths: ``*_gcs.jsonl.gz`` files.
    :returns: dicts with ``url``, ``title``, ``text`` and ``date`` (the parsed ``publish_date``).
    """
    seen: set[str] = set()
    for path in paths:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            for line in handle:
                if not line.strip():
                    continue
                for result in json.loads(line).get("search_result") or []:
                    url, text = result.get("url") or "", result.get("text") or ""
                    published = parse_publication_date(result.get("publish_date"))
                    if not text.strip() or published is None or url in seen:
                        continue  # 25 articles have no text and 20 no date; 203 URLs repeat across weeks
                    seen.add(url)
                    yield {"url": url, "title": result.get("title") or "", "text": text, "date": published}


def evaluate_dating(paths: Iterable[str | Path], limit: int | None = None) -> dict[str, Any]:
    """Share of articles dated within 30 days and within one year of their hidden publication date.

    Articles the estimator cannot date count as misses in the shares (``coverage`` says how many got
    an estimate).

    :param paths: ``*_gcs.jsonl.gz`` files.
    :param limit: stop after this many articles.
    :returns: counts, shares, error quantiles and the mean confidence of hits and misses.
    """
    errors: list[int] = []
    n = undated = year_mentioned = 0
    confident_hits: list[float] = []
    confident_misses: list[float] = []
    started = time.perf_counter()
    for article in iter_articles(paths):
        if limit is not None and n >= limit:
            break
        n += 1
        text = f"{article['title']}. {article['text']}"
        mentions = extract_mentions(text)
        # A ceiling for any text-only estimator: is the publication year written anywhere?
        year_mentioned += any(
            m.interval.start
            and m.interval.end
            and m.interval.start.year <= article["date"].year <= m.interval.end.year
            and m.interval.granularity.days <= 365
            for m in mentions
        )
        estimate, confidence = infer_document_date(mentions, text)
        if estimate is None:
            undated += 1
            continue
        error = abs((estimate - article["date"]).days)
        errors.append(error)
        (confident_hits if error <= 30 else confident_misses).append(confidence)
    elapsed = time.perf_counter() - started
    within_30 = sum(error <= 30 for error in errors)
    within_365 = sum(error <= 365 for error in errors)
    return {
        "n": n,
        "coverage": _share(n - undated, n),
        "within_30_days": _share(within_30, n),
        "within_1_year": _share(within_365, n),
        "within_7_days": _share(sum(error <= 7 for error in errors), n),
        "publication_year_mentioned": _share(year_mentioned, n),
        "median_error_days": statistics.median(errors) if errors else None,
        "mean_confidence_hits": round(statistics.fmean(confident_hits), 3) if confident_hits else None,
        "mean_confidence_misses": round(statistics.fmean(confident_misses), 3) if confident_misses else None,
        "articles_per_second": round(n / elapsed, 1) if elapsed else None,
    }


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def main(argv: list[str] | None = None) -> int:
    """Command line entry point: print the results as JSON and write them to ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--limit", type=int, default=None, help="stop after this many articles")
    parser.add_argument("--out", default=str(RESULTS_PATH), help="JSON file to write ('' to skip)")
    args = parser.parse_args(argv)
    # Every year folder, so other splits laid out the same way are read too.
    paths = sorted((Path(args.data_dir) / "realtimeqa" / "search_results").glob("*/*_gcs.jsonl.gz"))
    if not paths:
        print(f"error: no RealTimeQA search results under {args.data_dir}", file=sys.stderr)
        return 2
    results = {"data": "realtimeqa/search_results/*/*_gcs.jsonl.gz", "files": len(paths),
               **evaluate_dating(paths, args.limit)}  # fmt: skip
    text = json.dumps(results, indent=2)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
