"""Ingestion speed (news passages, TimeQA) per embedding backend, and the fast backends' retrieval cost.

Run ``python benchmarks/bench_ingest.py [--sections news quality timeqa] [--threads 2]``; each section updates
its part of ``benchmarks/results/ingest.json`` (the others are kept), so sections can run separately.

- ``news``: ~100-word news passages: RealTimeQA articles of one week (``--news-week``) split by the
  project's own splitter (``build_passages``) with the title prefixed (``passage_text``). Pure embedding
  rate on ``--sample`` passages, variants interleaved (A, B, C, A, B, C...) so CPU contention hits all
  alike, with the load average and the CPU-time rate (passages per CPU second, which contention distorts
  less) of each run; then the end-to-end ``chronorag index`` rate (a subprocess: read, split, date,
  embed, write) for the whole week, variants interleaved again.
- ``quality``: the whole TimeQA dev split (163 pages), every answerable question: AR@1/5/20 (DPR
  has_answer on title + text) and ER@5 of exact dense search, document vectors from each variant, query
  vectors from fp32 sentence-transformers as the pipeline computes them (both the full question and the
  decomposer's content, which the pipeline embeds). Two corpora: the paragraphs as the evaluation indexes
  them (~43 words), and the same pages re-split into ~100-word passages (where a token limit truncates).
- ``timeqa``: the first ``--pages`` TimeQA pages ingested into a fresh store per variant (the original
  benchmark: ``without_model``, ``variants``).

Target on a 2-core CPU: >= 200 passages/s with embedding for ~100-word news passages, within 1 point AR@5.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

RESULTS_PATH = Path(__file__).resolve().parent / "results" / "ingest.json"
WORK_DIR = Path(__file__).resolve().parent / "results" / "tmp"
DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"
DEFAULT_DATA = DATA_DIR / "timeqa" / "human_annotated_test.dev.json"

# name -> (backend, quantize, max_seq_length), as `chronorag index --backend --quantize --max-seq-length`.
VARIANTS: dict[str, tuple[str, str, int]] = {
    "fp32": ("torch", "none", 256),
    "int8": ("torch", "int8", 256),
    "onnx-int8": ("onnx", "int8", 256),
    "openvino-bf16": ("openvino", "bf16", 256),
    "openvino-int8": ("openvino", "int8", 256),
    "fp32-128": ("torch", "none", 128),
    "onnx-int8-128": ("onnx", "int8", 128),
    "openvino-bf16-128": ("openvino", "bf16", 128),
}


def _tokens(text: str) -> list[str]:
    """SQuAD/DPR normalisation: lower case, no punctuation, no articles."""
    text = "".join(c for c in text.lower() if c not in set(string.punctuation))
    return re.sub(r"\b(a|an|the)\b", " ", text).split()


def has_answer(answers: list[str], text: str) -> bool:
    """DPR's token-level has_answer: an answer's token sequence occurs in the text."""
    words = _tokens(text)
    for answer in answers:
        target = _tokens(answer)
        if target and any(words[i : i + len(target)] == target for i in range(len(words) - len(target) + 1)):
            return True
    return False


def load_questions(path: Path, pages: int) -> list[dict[str, Any]]:
    """Answerable questions of the first ``pages`` pages with their gold passage ids."""
    raw = json.loads(path.read_text(encoding="utf-8"))[:pages]
    questions = []
    for page in raw:
        for question, notes in page["questions"]:
            answers = [a["answer"] for a in notes if a.get("answer")]
            if answers:
                gold = {f"{page['index']}#{a['para']}" for a in notes if a.get("answer")}
                questions.append({"question": question, "answers": answers, "gold": gold})
    return questions


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _embedder(variant: str) -> Any:
    """The variant's embedding function, built as ``chronorag index`` builds it."""
    from chronorag.indexers.onnx_embedder import ingestion_embedder

    backend, quantize, limit = VARIANTS[variant]
    return ingestion_embedder(backend, quantize, device="cpu", max_seq_length=limit)[0]


# ---------------------------------------------------------------------- news passages
def news_passages(week: str) -> tuple[Path, list[str]]:
    """The week's RealTimeQA results file and its passages as ingestion embeds them."""
    from chronorag.indexers.ingest import build_passages
    from chronorag.indexers.sources import SourceDocument, read_realtimeqa
    from chronorag.indexers.text import passage_text

    path = DATA_DIR / "realtimeqa" / "search_results" / week[:4] / f"{week}_gcs.jsonl.gz"
    texts = [
        passage_text(p)
        for doc in read_realtimeqa(path)
        if isinstance(doc, SourceDocument)
        for p in build_passages(doc)
    ]
    return path, texts


def _token_stats(texts: list[str]) -> dict[str, float]:
    from chronorag.models import get_sentence_transformer

    lengths = np.array(
        [len(ids) for ids in get_sentence_transformer(device="cpu").tokenizer(texts)["input_ids"]]
    )
    return {
        "mean_tokens": round(float(lengths.mean()), 1),
        "share_over_128_tokens": round(float((lengths > 128).mean()), 3),
        "share_over_256_tokens": round(float((lengths > 256).mean()), 3),
    }


def bench_news(args: argparse.Namespace) -> dict[str, Any]:
    path, texts = news_passages(args.news_week)
    sample = texts[: args.sample]
    embedders = {variant: _embedder(variant) for variant in args.variants}
    for embed in embedders.values():  # warm-up (first-call allocations, kernel compilation)
        embed(sample[:32])
    runs: dict[str, list[dict[str, float]]] = {variant: [] for variant in args.variants}
    for _ in range(args.repeats):
        for variant, embed in embedders.items():
            load = _load()
            wall, cpu = time.perf_counter(), time.process_time()
            embed(sample)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            runs[variant].append(
                {
                    "passages_per_s": round(len(sample) / wall, 1),
                    "passages_per_cpu_s": round(len(sample) / cpu, 1),
                    "load_average": load,
                }
            )
            print("news embed", variant, runs[variant][-1], flush=True)
    del embedders
    end_to_end: dict[str, list[dict[str, Any]]] = {variant: [] for variant in args.variants}
    for _ in range(args.e2e_repeats):
        for variant in args.variants:
            end_to_end[variant].append(_cli_index(path, variant, args.threads))
            print("news chronorag index", variant, end_to_end[variant][-1], flush=True)
    words = [len(t.split()) for t in sample]
    return {
        "corpus": f"RealTimeQA search results of week {args.news_week} ({path.name}), split by "
        "build_passages, embedded as passage_text (title. text)",
        "passages": len(texts),
        "mean_words_all": round(float(np.mean([len(t.split()) for t in texts])), 1),
        "sample": len(sample),
        "mean_words": round(float(np.mean(words)), 1),
        **_token_stats(sample),
        "threads": args.threads,
        "embedding_only": {
            variant: {
                "median_passages_per_s": float(np.median([r["passages_per_s"] for r in result])),
                "best_passages_per_s": max(r["passages_per_s"] for r in result),
                "median_passages_per_cpu_s": float(np.median([r["passages_per_cpu_s"] for r in result])),
                "runs": result,
            }
            for variant, result in runs.items()
        },
        "chronorag_index": end_to_end,
    }


def _cli_index(path: Path, variant: str, threads: int) -> dict[str, Any]:
    """One ``chronorag index`` run over the week into a fresh store (a subprocess, as a user runs it)."""
    backend, quantize, limit = VARIANTS[variant]
    store = Path(tempfile.mkdtemp(dir=WORK_DIR)) / "store"
    env = {**os.environ, "CHRONORAG_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)}
    command = [
        sys.executable,
        "-m",
        "chronorag.cli",
        "index",
        str(path),
        "--store",
        str(store),
        "--backend",
        backend,
        "--quantize",
        quantize,
        "--max-seq-length",
        str(limit),
        "--no-progress",
        "--json",
    ]
    load = _load()
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - started
    shutil.rmtree(store.parent, ignore_errors=True)
    if done.returncode != 0:
        return {"error": done.stderr[-2000:], "load_average": load}
    summary = json.loads(done.stdout)
    return {
        "passages": summary["passages_written"],
        "passages_per_s": summary["passages_per_s"],
        "embed_seconds": summary["embed_seconds"],
        "seconds": summary["seconds"],
        "process_seconds_with_start_up": round(wall, 1),
        "load_average": load,
    }


# ---------------------------------------------------------------------- quality
def bench_quality(args: argparse.Namespace) -> dict[str, Any]:
    from chronorag.evals.loaders import load_timeqa
    from chronorag.indexers.ingest import build_passages, split_text
    from chronorag.indexers.sources import SourceDocument, read_timeqa
    from chronorag.indexers.text import passage_text
    from chronorag.models import get_sentence_transformer
    from chronorag.temporal import decompose

    cache = args.vector_cache
    cache.mkdir(parents=True, exist_ok=True)
    dataset = load_timeqa(DATA_DIR)
    questions = [q for q in dataset.questions if q.answers]
    corpora: dict[str, tuple[list[str], list[str] | None]] = {"paragraphs": ([], []), "split100": ([], None)}
    for doc in read_timeqa(dataset.corpus_files[0]):
        if not isinstance(doc, SourceDocument):
            continue
        for passage in build_passages(doc):
            corpora["paragraphs"][0].append(passage_text(passage))
            corpora["paragraphs"][1].append(passage.id)  # type: ignore[union-attr]
        corpora["split100"][0].extend(f"{doc.title}. {p}" for p in split_text(doc.text))
    queries_file = cache / "queries.npy"
    if queries_file.exists():
        queries = np.load(queries_file)
    else:  # as the pipeline: fp32 sentence-transformers, the question and the decomposer's content
        texts = [q.question for q in questions] + [decompose(q.question).content for q in questions]
        queries = get_sentence_transformer(device="cpu").encode(
            texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True
        )
        np.save(queries_file, queries)
    by_query = {"question_queries": queries[: len(questions)], "content_queries": queries[len(questions) :]}
    results: dict[str, Any] = {}
    reference_hits: dict[tuple[str, str], dict[str, np.ndarray]] = {}
    for variant in ["fp32", *[v for v in args.variants if v != "fp32"]]:
        for corpus, (texts, ids) in corpora.items():
            vectors = _vectors(cache, variant, corpus, texts)
            reference = np.load(cache / f"fp32_{corpus}.npy")
            cosine = (vectors * reference).sum(axis=1)
            entry: dict[str, Any] = {
                "passages": len(texts),
                "mean_words": round(float(np.mean([len(t.split()) for t in texts])), 1),
                "cosine_to_fp32_min": round(float(cosine.min()), 4),
                "cosine_to_fp32_mean": round(float(cosine.mean()), 5),
            }
            for name, matrix in by_query.items():
                entry[name], hits = _recall(matrix @ vectors.T, questions, texts, ids)
                if variant == "fp32":
                    reference_hits[(corpus, name)] = hits
                else:  # paired against fp32: questions gained and lost at each cut-off
                    entry[name]["vs_fp32"] = {
                        key: {
                            "delta_points": round(100 * float(hits[key].mean() - base.mean()), 2),
                            "gained": int((hits[key] & ~base).sum()),
                            "lost": int((~hits[key] & base).sum()),
                        }
                        for key, base in reference_hits[(corpus, name)].items()
                    }
            results.setdefault(variant, {})[corpus] = entry
            print("quality", variant, corpus, json.dumps(entry), flush=True)
    return {
        "data": "TimeQA dev split (human_annotated_test.dev.json), all 163 pages",
        "questions": len(questions),
        "unanswerable_excluded": len(dataset.questions) - len(questions),
        "search": "exact inner product over every passage (what a flat store returns without filters)",
        "queries": "fp32 sentence-transformers (max 256 tokens), as ChronoTextEmbedder: question_queries "
        "embed the question, content_queries the decomposer's content (what the pipeline embeds)",
        "variants": results,
    }


def _vectors(cache: Path, variant: str, corpus: str, texts: list[str]) -> np.ndarray:
    path = cache / f"{variant}_{corpus}.npy"
    if path.exists():
        vectors = np.load(path)
        if len(vectors) == len(texts):
            return vectors
    started = time.perf_counter()
    vectors = np.asarray(_embedder(variant)(texts), dtype=np.float32)
    print(
        f"embedded {corpus} with {variant}: {len(texts) / (time.perf_counter() - started):.0f}/s", flush=True
    )
    np.save(path, vectors)
    return vectors


def _recall(
    scores: np.ndarray, questions: list[Any], texts: list[str], ids: list[str] | None
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """AR@1/5/20 (and ER@5 with passage ids) in points, and the per-question AR@1/AR@5 hits."""
    from chronorag.evals.metrics import has_answer as dpr_has_answer

    top = np.argsort(-scores, axis=1)[:, :20]
    out: dict[str, float] = {}
    hits: dict[str, np.ndarray] = {}
    for k in (1, 5, 20):
        found = np.array(
            [any(dpr_has_answer(q.answers, texts[j]) for j in top[i, :k]) for i, q in enumerate(questions)]
        )
        out[f"AR@{k}"] = round(100 * float(found.mean()), 2)
        if k in (1, 5):
            hits[f"AR@{k}"] = found
    if ids is not None:
        found = np.array(
            [any(ids[j] in set(q.gold_ids) for j in top[i, :5]) for i, q in enumerate(questions)]
        )
        out["ER@5"] = round(100 * float(found.mean()), 2)
    return out, hits


# ---------------------------------------------------------------------- TimeQA pages (the original benchmark)
def _hash_embed(texts: list[str]) -> np.ndarray:
    """Stand-in vectors to time everything but the model (splitting, dating, SQLite, FAISS)."""
    rng = np.random.default_rng(len(texts))
    vectors = rng.standard_normal((len(texts), 384)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _ingest(data: Path, pages: int, embed: Any, name: str) -> tuple[dict[str, Any], Any]:
    from chronorag.indexers import ChronoDocumentStore
    from chronorag.indexers.ingest import ingest

    path = WORK_DIR / f"ingest_{name}"
    shutil.rmtree(path, ignore_errors=True)
    store = ChronoDocumentStore(str(path), embedding_dim=384)
    report = ingest([str(data)], store, embed, fmt="timeqa", limit=pages, progress=False)
    summary = report.to_dict()
    return {
        "documents": summary["documents_written"],
        "passages": summary["passages_written"],
        "seconds": summary["seconds"],
        "embed_seconds": summary["embed_seconds"],
        "passages_per_s": summary["passages_per_s"],
        "passages_per_s_without_embedding": round(
            summary["passages_written"] / max(summary["seconds"] - summary["embed_seconds"], 1e-9), 1
        ),
    }, store


def _retrieval(store: Any, questions: list[dict[str, Any]], query_embed: Any, k: int = 5) -> dict[str, float]:
    from chronorag.indexers import passage_text

    vectors = query_embed([q["question"] for q in questions])
    answer_hits = evidence_hits = 0
    for question, vector in zip(questions, vectors, strict=True):
        found = store.search(vector, top_k=k)
        answer_hits += any(has_answer(question["answers"], passage_text(d)) for d in found)
        evidence_hits += any(d.id.split(".")[0] in question["gold"] for d in found)
    return {
        f"AR@{k}": round(100 * answer_hits / len(questions), 2),
        f"ER@{k}": round(100 * evidence_hits / len(questions), 2),
    }


def bench_timeqa(args: argparse.Namespace) -> dict[str, Any]:
    from chronorag.indexers.ingest import sentence_transformer_embedder

    query_embed, _, _ = sentence_transformer_embedder(device="cpu")
    questions = load_questions(args.data, args.pages)
    excluded, store = _ingest(args.data, args.pages, _hash_embed, "no_model")
    store.close()
    variants: dict[str, Any] = {}
    for variant in args.variants:
        load = _load()
        result, store = _ingest(args.data, args.pages, _embedder(variant), variant)
        result["load_average"] = load
        result["retrieval_fp32_queries"] = _retrieval(store, questions, query_embed)
        store.close()
        variants[variant] = result
        print("timeqa", variant, json.dumps(result), flush=True)
    return {
        "corpus": f"TimeQA dev, first {args.pages} pages (every paragraph a passage, mean ~41 words)",
        "questions": len(questions),
        "without_model": excluded,
        "variants": variants,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sections", nargs="+", default=["news", "quality", "timeqa"])
    parser.add_argument(
        "--variants", nargs="+", default=["fp32", "onnx-int8", "openvino-bf16", "openvino-bf16-128"]
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--pages", type=int, default=40, help="TimeQA pages for the timeqa section")
    parser.add_argument("--news-week", default="20220617")
    parser.add_argument("--sample", type=int, default=512, help="news passages per embedding-only run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--e2e-repeats", type=int, default=1)
    parser.add_argument("--vector-cache", type=Path, default=WORK_DIR / "quality_vectors")
    parser.add_argument("--out", type=Path, default=RESULTS_PATH)
    args = parser.parse_args()
    unknown = set(args.variants) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants {sorted(unknown)}; known: {sorted(VARIANTS)}")

    import torch

    os.environ["CHRONORAG_NUM_THREADS"] = str(args.threads)
    torch.set_num_threads(args.threads)
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    results["machine"] = {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch_threads": args.threads,
        "load_average_at_start": _load(),
    }
    for section in args.sections:
        if section == "news":  # variants measured in an earlier run and not now are kept
            previous = results.get("news_passages", {})
            news = bench_news(args)
            for key in ("embedding_only", "chronorag_index"):
                news[key] = {**previous.get(key, {}), **news[key]}
            results["news_passages"] = {**previous, **news}  # notes of earlier runs stay
        elif section == "quality":
            results["quality_timeqa_dev"] = bench_quality(args)
        elif section == "timeqa":
            results.update(bench_timeqa(args))
        else:
            parser.error(f"unknown section {section!r}")
        results["machine"]["load_average_at_end"] = _load()
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    for path in WORK_DIR.glob("ingest_*"):
        shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    main()
