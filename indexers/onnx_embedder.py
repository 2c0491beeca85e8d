"""A faster CPU path for ingestion: the bi-encoder exported to ONNX (optionally int8) and run by onnxruntime.

The model is exported once from the local sentence-transformers copy (nothing is downloaded) into a
cache folder (``CHRONORAG_CACHE_DIR``, default ``~/.cache/chronorag``) and reused. Vectors stay in the
fp32 model's space (cosine >= 0.98 to the fp32 vectors for int8), so stores built this way answer
fp32 query embeddings; ``benchmarks/results/ingest.json`` records the measured retrieval cost.
Needs ``pip install onnxruntime onnx``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

EmbedFn = Callable[[list[str]], np.ndarray]
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_export_lock = threading.Lock()


def cache_dir() -> Path:
    """
    :returns: the folder exported models are kept in.
    """
    return Path(os.environ.get("CHRONORAG_CACHE_DIR") or Path.home() / ".cache" / "chronorag") / "onnx"


def _export(model: Any, target: Path) -> None:
    """Export the transformer of a sentence-transformers model to ONNX (atomically)."""
    import torch

    transformer = model[0].auto_model

    class _LastHiddenState(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    sample = model.tokenizer(["an example sentence"], return_tensors="pt")
    axes = {name: {0: "batch", 1: "tokens"} for name in (*_INPUTS, "last_hidden_state")}
    tmp = target.with_name(target.name + ".tmp")
    with torch.no_grad():
        torch.onnx.export(
            _LastHiddenState(transformer).eval(),
            tuple(sample[name] for name in _INPUTS),
            str(tmp),
            input_names=list(_INPUTS),
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
    os.replace(tmp, target)


def _quantize(source: Path, target: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = target.with_name(target.name + ".tmp.onnx")
    quantize_dynamic(str(source), str(tmp), weight_type=QuantType.QInt8, per_channel=True)
    os.replace(tmp, target)


def model_file(model: Any, model_id: str, quantize: str | None) -> Path:
    """
    The ONNX file of ``model``, exported (and quantised) on first use.

    :param model: the loaded sentence-transformers model.
    :param model_id: its stable id (names the cache folder).
    :param quantize: ``"int8"`` or ``None``.
    :returns: the file path.
    """
    folder = cache_dir() / model_id
    fp32 = folder / "model.onnx"
    target = folder / ("model_int8.onnx" if quantize == "int8" else "model.onnx")
    with _export_lock:
        if not target.exists():
            folder.mkdir(parents=True, exist_ok=True)
            if not fp32.exists():
                _export(model, fp32)
            if target != fp32:
                _quantize(fp32, target)
    return target


def onnx_embedder(
    model_name: str | None = None,
    quantize: str | None = "int8",
    batch_size: int = 32,
    max_seq_length: int = 256,
    threads: int | None = None,
) -> tuple[EmbedFn, str, int]:
    """
    An embedding function running the bi-encoder with onnxruntime on CPU (mean pooling, unit vectors).

    :param model_name: ``None``/``"default"`` or a local sentence-transformers folder (mean pooling only).
    :param quantize: ``"int8"`` (dynamic, per channel) or ``None`` for fp32.
    :param batch_size: texts per run; texts are sorted by length first so batches pad little.
    :param max_seq_length: token limit.
    :param threads: onnxruntime intra-op threads (default: ``CHRONORAG_NUM_THREADS`` or torch's).
    :returns: ``(embed, model_id, dimension)``.
    :raises ValueError: for a model whose pooling is not a mean, or an unknown ``quantize``.
    """
    import onnxruntime as ort

    from chronorag.models import embedding_model_id, get_sentence_transformer

    if quantize not in (None, "int8"):
        raise ValueError(f"quantize must be None or 'int8', not {quantize!r}")
    model = get_sentence_transformer(model_name, device="cpu")
    pooling = model[1] if len(model) > 1 else None
    mean = getattr(pooling, "pooling_mode", None) == "mean" or getattr(
        pooling, "pooling_mode_mean_tokens", False
    )
    if not mean:
        raise ValueError("the onnx embedder supports mean-pooling models only; use the torch embedder")
    model_id = embedding_model_id(model_name)
    options = ort.SessionOptions()
    if threads is None:
        import torch

        threads = int(os.environ.get("CHRONORAG_NUM_THREADS") or 0) or torch.get_num_threads()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(
        str(model_file(model, model_id, quantize)), options, providers=["CPUExecutionProvider"]
    )
    tokenizer = model.tokenizer
    limit = min(model.max_seq_length or max_seq_length, max_seq_length)
    dimension = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    dim = int(dimension())

    def embed(texts: list[str]) -> np.ndarray:
        result = np.zeros((len(texts), dim), dtype=np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        for start in range(0, len(texts), batch_size):
            rows = order[start : start + batch_size]
            encoded = tokenizer(
                [texts[i] for i in rows], padding=True, truncation=True, max_length=limit, return_tensors="np"
            )
            feeds = {name: encoded[name].astype(np.int64) for name in _INPUTS}
            hidden = session.run(None, feeds)[0]
            mask = encoded["attention_mask"][..., None].astype(np.float32)
            pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
            result[rows] = pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return result

    return embed, model_id, dim
