"""Ingestion speed on the TimeQA corpus, with and without embedding, and the retrieval cost of int8.

Run ``python benchmarks/bench_ingest.py [--pages 40] [--threads 2] [--variants fp32 int8]``; results go to
``benchmarks/results/ingest.json``. For each embedding variant it ingests the first ``--pages`` TimeQA pages
(every paragraph a passage, as the evaluation indexes them) into a fresh store, then measures AR@5/ER@5
of the answerable questions of those pages with fp32 query embeddings (what the pipeline uses), and
the embedding throughput on ~100-word passages (TimeQA pages re-split with ``split_text``).
Target on a 2-core CPU: >= 200 passages/s with embedding for ~100-word passages.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import string
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

RESULTS_PATH = Path(__file__).resolve().parent / "results" / "ingest.json"
WORK_DIR = Path(__file__).resolve().parent / "results" / "tmp"
DEFAULT_DATA = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "timeqa" / "human_annotated_test.dev.json"
)


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


def _throughput_100_words(data: Path, pages: int, embed: Any, count: int) -> dict[str, float]:
    from chronorag.indexers.ingest import split_text
    from chronorag.indexers.sources import read_timeqa

    texts = []
    for doc in read_timeqa(data):
        texts.extend(f"{doc.title}. {p}" for p in split_text(doc.text))
        if len(texts) >= count:
            break
    texts = texts[:count]
    started = time.perf_counter()
    embed(texts)
    seconds = time.perf_counter() - started
    return {
        "passages": len(texts),
        "mean_words": round(float(np.mean([len(t.split()) for t in texts])), 1),
        "passages_per_s": round(len(texts) / seconds, 1),
    }


def _embedder(variant: str, threads: int) -> Any:
    """``fp32``/``int8``: sentence-transformers on torch; ``onnx-fp32``/``onnx-int8``: onnxruntime."""
    from chronorag.indexers.ingest import sentence_transformer_embedder

    if variant.startswith("onnx-"):
        from chronorag.indexers.onnx_embedder import onnx_embedder

        quantize = None if variant == "onnx-fp32" else "int8"
        return onnx_embedder(quantize=quantize, threads=threads)[0]
    return sentence_transformer_embedder(device="cpu", quantize=None if variant == "fp32" else variant)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--pages", type=int, default=40, help="TimeQA pages to ingest (163 in the dev split)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--variants", nargs="+", default=["fp32", "int8", "onnx-int8"])
    parser.add_argument("--sample-100w", type=int, default=256)
    args = parser.parse_args()

    import torch

    from chronorag.indexers.ingest import sentence_transformer_embedder

    torch.set_num_threads(args.threads)
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    query_embed, _, _ = sentence_transformer_embedder(device="cpu")
    questions = load_questions(args.data, args.pages)
    load = os.getloadavg()[0]

    excluded, store = _ingest(args.data, args.pages, _hash_embed, "no_model")
    store.close()
    variants: dict[str, Any] = {}
    for variant in args.variants:
        embed = _embedder(variant, args.threads)
        result, store = _ingest(args.data, args.pages, embed, variant)
        result["retrieval_fp32_queries"] = _retrieval(store, questions, query_embed)
        result["embedding_100_words"] = _throughput_100_words(args.data, args.pages, embed, args.sample_100w)
        store.close()
        variants[variant] = result
        print(variant, json.dumps(result), flush=True)
    results = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "torch_threads": args.threads,
            "load_average_at_start": round(load, 2),
        },  # fmt: skip
        "corpus": f"TimeQA dev, first {args.pages} pages (every paragraph a passage, mean ~41 words)",
        "questions": len(questions),
        "without_model": excluded,
        "variants": variants,
    }
    RESULTS_PATH.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    shutil.rmtree(WORK_DIR, ignore_errors=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
