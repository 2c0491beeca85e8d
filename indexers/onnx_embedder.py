"""Faster CPU ingestion: the bi-encoder exported to ONNX, run by OpenVINO (bf16) or onnxruntime (int8).

The model is exported once from the local sentence-transformers copy (nothing is downloaded) into a
cache folder (``CHRONORAG_CACHE_DIR``, default ``~/.cache/chronorag``) and reused; the folder name
carries a fingerprint of the model files, so a changed model is exported again.

- :func:`openvino_embedder` runs the fp32 ONNX graph with OpenVINO; on a CPU with bf16 dot products
  (AVX512_BF16 or AMX) it computes in bf16 (cosine >= 0.9999 to the fp32 vectors). With ``precision="int8"``
  it runs a copy statically quantised by NNCF (SmoothQuant, calibrated once on the passages shipped in
  ``data/calibration_passages.jsonl``; cosine ~0.997 to fp32, ~1.4x bf16's speed on a CPU with VNNI).
  ``pip install openvino onnx nncf`` (the ``openvino`` extra).
- :func:`onnx_embedder` runs it with onnxruntime, optionally dynamically quantised to int8
  (cosine ~0.99 to fp32). ``pip install onnxruntime onnx`` (the ``onnx`` extra).
- :func:`ingestion_embedder` builds the embedder ``chronorag index`` asks for; ``auto`` is OpenVINO when
  installed (int8 where the CPU has it: a store built so keeps chronorag's TimeQA dev AR@5 within 0.2;
  else bf16, measured lossless), else torch fp32.

Vectors stay in the fp32 model's space, so stores built this way answer fp32 query embeddings and record the
same model id; ``benchmarks/results/ingest.json`` records the measured speed and retrieval cost.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import importlib.util
import json
import logging
import os
import threading
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

EmbedFn = Callable[[list[str]], np.ndarray]
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_EXPORT_VERSION = 2  # 2: eager attention (a graph onnxruntime's transformer optimizer and OpenVINO fuse)
_INT8_VERSION = 1  # bump when the quantisation settings change
_export_lock = threading.Lock()
CALIBRATION_FILE = Path(__file__).resolve().parents[1] / "data" / "calibration_passages.jsonl"
BACKENDS = ("auto", "openvino", "onnx", "torch")
# Passage token limit for ingestion (sentence-transformers' default for all-MiniLM-L6-v2 is 256).
DEFAULT_MAX_SEQ_LENGTH = 256


def cache_dir() -> Path:
    """
    :returns: the folder exported models are kept in.
    """
    from chronorag.models import cache_root

    return cache_root() / "onnx"


def _fingerprint(model: Any) -> str:
    """A short hash of the export version and the model folder's files (names, sizes, config)."""
    digest = hashlib.sha1(f"v{_EXPORT_VERSION}".encode())
    folder = Path(getattr(model[0].auto_model.config, "name_or_path", "") or "")
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            if path.is_file():
                digest.update(f"{path.name}:{path.stat().st_size}".encode())
                if path.name == "config.json":
                    digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def _export(model: Any, target: Path) -> None:
    """Export the transformer of a sentence-transformers model to ONNX (atomically), with eager attention."""
    import torch

    transformer = copy.deepcopy(model[0].auto_model).to("cpu").eval()
    try:
        transformer.set_attn_implementation("eager")
    except (AttributeError, ValueError):
        transformer.config._attn_implementation = "eager"

    class _LastHiddenState(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    sample = model.tokenizer(["an example sentence", "another one"], padding=True, return_tensors="pt")
    axes = {name: {0: "batch", 1: "tokens"} for name in (*_INPUTS, "last_hidden_state")}
    tmp = target.with_name(target.name + ".tmp")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _LastHiddenState(transformer),
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
    The ONNX file of ``model``, exported (and quantised) on first use; later calls reuse the file.

    :param model: the loaded sentence-transformers model.
    :param model_id: its stable id (names the cache folder, with a fingerprint of the model files).
    :param quantize: ``"int8"`` (onnxruntime dynamic, per channel) or ``None`` for fp32.
    :returns: the file path.
    """
    folder = cache_dir() / f"{model_id}-{_fingerprint(model)}"
    fp32 = folder / "model.onnx"
    target = folder / ("model_int8.onnx" if quantize == "int8" else "model.onnx")
    with _export_lock:
        if not target.exists():
            folder.mkdir(parents=True, exist_ok=True)
            logger.warning(
                "building the %s%s ONNX model once (a few seconds); cached in %s",
                model_id,
                " int8" if quantize == "int8" else "",
                folder,
            )
            if not fp32.exists():
                _export(model, fp32)
            if target != fp32:
                _quantize(fp32, target)
    return target


def calibration_texts(path: Path = CALIBRATION_FILE) -> list[str]:
    """
    The passages int8 quantisation is calibrated on: original news and encyclopedia-style text written for
    this purpose (no evaluation data), as ingestion embeds it (``title. text``).

    :param path: a JSONL file of ``{"title", "text"}`` rows.
    :returns: the texts.
    """
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [f"{row['title']}. {row['text']}" for row in rows]


def _quantize_openvino(model: Any, source: Path, target: Path) -> None:
    """Quantise the fp32 ONNX graph to int8 with NNCF (SmoothQuant for transformers), atomically."""
    try:
        import nncf
    except ImportError as exc:
        raise ImportError(
            "OpenVINO int8 needs NNCF: pip install 'chronorag[openvino]' (or pip install nncf)"
        ) from exc
    import openvino as ov

    texts = calibration_texts(CALIBRATION_FILE)
    if not texts:
        raise RuntimeError(f"no calibration passages in {CALIBRATION_FILE}")
    batches = []
    for start in range(0, len(texts), 8):
        encoded = model.tokenizer(
            texts[start : start + 8],
            padding=True,
            truncation=True,
            max_length=DEFAULT_MAX_SEQ_LENGTH,
            return_tensors="np",
        )
        batches.append({name: encoded[name].astype(np.int64) for name in _INPUTS})
    try:
        quantized = nncf.quantize(
            ov.Core().read_model(str(source)),
            nncf.Dataset(batches),
            model_type=nncf.ModelType.TRANSFORMER,
            subset_size=len(batches),
        )
    except Exception as exc:  # NNCF raises its own error types; callers see one
        raise RuntimeError(f"NNCF could not quantise {source}: {exc}") from exc
    # Unique temporary names: another process may be building the same file; the .xml lands last.
    tmp = target.with_name(f"{target.stem}.{os.getpid()}.tmp.xml")
    ov.save_model(quantized, str(tmp))
    os.replace(tmp.with_suffix(".bin"), target.with_suffix(".bin"))
    os.replace(tmp, target)


def openvino_int8_file(model: Any, model_id: str) -> Path:
    """
    The OpenVINO int8 model (``.xml`` beside its ``.bin``) of ``model``, quantised on first use and cached.

    :param model: the loaded sentence-transformers model.
    :param model_id: its stable id.
    :returns: the ``.xml`` path.
    :raises ImportError: when NNCF is missing and the file is not cached yet.
    """
    fp32 = model_file(model, model_id, None)
    # The name changes with the settings' version and the calibration passages, so an edit rebuilds it.
    calibration = hashlib.sha1(CALIBRATION_FILE.read_bytes()).hexdigest()[:8]
    target = fp32.with_name(f"openvino_int8_v{_INT8_VERSION}_{calibration}.xml")
    with _export_lock:
        if not target.exists():
            logger.warning("calibrating the %s int8 model once (~10 s); in %s", model_id, target.parent)
            _quantize_openvino(model, fp32, target)
    return target


def _load(model_name: str | None) -> tuple[Any, str, int]:
    """The shared sentence-transformers model (CPU), its id and dimension; mean pooling is required."""
    from chronorag.models import embedding_model_id, get_sentence_transformer

    model = get_sentence_transformer(model_name, device="cpu")
    pooling = model[1] if len(model) > 1 else None
    mean = getattr(pooling, "pooling_mode", None) == "mean" or getattr(
        pooling, "pooling_mode_mean_tokens", False
    )
    if not mean:
        raise ValueError("the ONNX embedders support mean-pooling models only; use the torch embedder")
    dimension = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return model, embedding_model_id(model_name), int(dimension())


def _threads(threads: int | None) -> int:
    if threads:
        return threads
    import torch

    return int(os.environ.get("CHRONORAG_NUM_THREADS") or 0) or torch.get_num_threads()


def _length_sorted_batches(
    tokenizer: Any, texts: list[str], limit: int, batch_size: int
) -> Iterator[tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]]:
    """
    The texts tokenised once, longest first, in padded batches: ``(rows, feeds, mask)`` with the texts'
    positions, the model inputs and the attention mask as float32 (batch, tokens, 1) for mean pooling.

    Sorting by token count wastes ~3% on padding on news passages, against ~15% when sorting by characters.
    """
    encoded = tokenizer(texts, truncation=True, max_length=limit)
    ids, types = encoded["input_ids"], encoded.get("token_type_ids")
    lengths = np.fromiter((len(row) for row in ids), dtype=np.int64, count=len(ids))
    order = np.argsort(-lengths, kind="stable")
    pad = tokenizer.pad_token_id or 0
    for start in range(0, len(texts), batch_size):
        rows = order[start : start + batch_size]
        width = int(lengths[rows[0]])
        input_ids = np.full((len(rows), width), pad, dtype=np.int64)
        attention = np.zeros((len(rows), width), dtype=np.int64)
        token_types = np.zeros((len(rows), width), dtype=np.int64)
        for slot, row in enumerate(rows):
            size = int(lengths[row])
            input_ids[slot, :size] = ids[row]
            attention[slot, :size] = 1
            if types is not None:
                token_types[slot, :size] = types[row]
        feeds = {"input_ids": input_ids, "attention_mask": attention, "token_type_ids": token_types}
        yield rows, feeds, attention[..., None].astype(np.float32)


def _mean_pooled(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Unit mean-pooled vectors of a batch's token states."""
    pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
    return pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)


def _pooled_embedder(
    run: Callable[[dict[str, np.ndarray]], np.ndarray],
    tokenizer: Any,
    limit: int,
    batch_size: int,
    dim: int,
) -> EmbedFn:
    """Texts -> unit mean-pooled vectors, in length-sorted batches that pad little."""

    def embed(texts: list[str]) -> np.ndarray:
        result = np.zeros((len(texts), dim), dtype=np.float32)
        if texts:
            for rows, feeds, mask in _length_sorted_batches(tokenizer, texts, limit, batch_size):
                result[rows] = _mean_pooled(run(feeds), mask)
        return result

    return embed


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
    :param max_seq_length: token limit (the model's own limit caps it).
    :param threads: onnxruntime intra-op threads (default: ``CHRONORAG_NUM_THREADS`` or torch's).
    :returns: ``(embed, model_id, dimension)``.
    :raises ValueError: for a model whose pooling is not a mean, or an unknown ``quantize``.
    """
    import onnxruntime as ort

    if quantize not in (None, "int8"):
        raise ValueError(f"quantize must be None or 'int8', not {quantize!r}")
    model, model_id, dim = _load(model_name)
    options = ort.SessionOptions()
    options.intra_op_num_threads = _threads(threads)
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(
        str(model_file(model, model_id, quantize)), options, providers=["CPUExecutionProvider"]
    )
    limit = min(model.max_seq_length or max_seq_length, max_seq_length)

    def run(feeds: dict[str, np.ndarray]) -> np.ndarray:
        return session.run(None, feeds)[0]

    return _pooled_embedder(run, model.tokenizer, limit, batch_size, dim), model_id, dim


@functools.cache
def _cpu_capabilities() -> frozenset[str]:
    """What OpenVINO's CPU plugin can compute in (asked once per process; empty without OpenVINO)."""
    if importlib.util.find_spec("openvino") is None:
        return frozenset()
    import openvino as ov

    return frozenset(ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))


def openvino_bf16_supported() -> bool:
    """
    :returns: whether OpenVINO is installed and the CPU has native bf16 dot products (AVX512_BF16 or AMX).
    """
    return "BF16" in _cpu_capabilities()


def openvino_float_precision() -> str:
    """
    :returns: the floating precision OpenVINO runs in here: ``"bf16"`` where the CPU has it, else ``"f32"``.
    """
    return "bf16" if openvino_bf16_supported() else "f32"


def openvino_int8_supported() -> bool:
    """
    :returns: whether OpenVINO and NNCF are installed and OpenVINO reports int8 for this CPU.
    """
    return "INT8" in _cpu_capabilities() and importlib.util.find_spec("nncf") is not None


def openvino_embedder(
    model_name: str | None = None,
    precision: str = "auto",
    batch_size: int = 16,
    max_seq_length: int = 256,
    threads: int | None = None,
) -> tuple[EmbedFn, str, int]:
    """
    An embedding function running the fp32 ONNX graph with OpenVINO on CPU (mean pooling, unit vectors).

    :param model_name: ``None``/``"default"`` or a local sentence-transformers folder (mean pooling only).
    :param precision: ``"int8"`` (NNCF-quantised matrix products, the rest bf16 or f32), ``"bf16"``,
        ``"f32"``, or ``"auto"``: bf16 where the CPU computes it natively, else f32.
    :param batch_size: texts per inference; texts are sorted by length first so batches pad little.
    :param max_seq_length: token limit (the model's own limit caps it).
    :param threads: inference threads (default: ``CHRONORAG_NUM_THREADS`` or torch's).
    :returns: ``(embed, model_id, dimension)``.
    :raises ValueError: for a model whose pooling is not a mean, or an unknown ``precision``.
    """
    import openvino as ov

    if precision not in ("auto", "int8", "bf16", "f32"):
        raise ValueError(f"precision must be 'auto', 'int8', 'bf16' or 'f32', not {precision!r}")
    floating = openvino_float_precision()
    model, model_id, dim = _load(model_name)
    if precision == "int8":
        source, hint = openvino_int8_file(model, model_id), floating  # ops left unquantised run in bf16
    else:
        source, hint = model_file(model, model_id, None), floating if precision == "auto" else precision
    streams = _threads(threads)
    core = ov.Core()
    # One single-threaded stream per thread, fed batches asynchronously: the next batch is tokenised while
    # the others run, and no batch waits on a thread barrier (measured ~10% more passages per CPU second
    # than one two-thread stream, and steadier when the CPU is shared).
    compiled = core.compile_model(
        core.read_model(str(source)),
        "CPU",
        {
            "INFERENCE_PRECISION_HINT": hint,
            "INFERENCE_NUM_THREADS": streams,
            "NUM_STREAMS": streams,
            "PERFORMANCE_HINT": "THROUGHPUT",
        },
    )
    names = [port.get_any_name() for port in compiled.inputs]
    queue = ov.AsyncInferQueue(compiled, streams)
    lock = threading.Lock()
    tokenizer = model.tokenizer
    limit = min(model.max_seq_length or max_seq_length, max_seq_length)

    def embed(texts: list[str]) -> np.ndarray:
        result = np.zeros((len(texts), dim), dtype=np.float32)

        errors: list[BaseException] = []

        def done(request: Any, userdata: tuple[np.ndarray, np.ndarray]) -> None:
            try:
                rows, mask = userdata
                result[rows] = _mean_pooled(request.get_output_tensor(0).data, mask)
            except BaseException as exc:  # raised below: a lost batch must not leave zero vectors
                errors.append(exc)

        if not texts:
            return result
        with lock:  # the queue serves one call at a time
            queue.set_callback(done)
            for rows, feeds, mask in _length_sorted_batches(tokenizer, texts, limit, batch_size):
                queue.start_async({name: feeds[name] for name in names}, (rows, mask))
            queue.wait_all()
        if errors:
            raise RuntimeError("OpenVINO embedding failed") from errors[0]
        return result

    return embed, model_id, dim


def default_openvino_precision() -> str:
    """
    What ``--quantize auto`` runs OpenVINO in: int8 where NNCF is installed and the CPU has int8, else bf16
    where the CPU has it, else f32.

    :returns: ``"int8"``, ``"bf16"`` or ``"f32"``.
    """
    return "int8" if openvino_int8_supported() else openvino_float_precision()


def best_cpu_backend() -> str:
    """
    The CPU backend ``auto`` picks: ``openvino`` when it (and ``onnx``) is installed, else ``torch``.

    onnxruntime int8 is not picked: on the TimeQA dev split it moved AR@5 by more than a point
    (``benchmarks/results/ingest.json``); ``--backend onnx`` still selects it.

    :returns: a backend name.
    """
    has = {name: importlib.util.find_spec(name) is not None for name in ("openvino", "onnx")}
    return "openvino" if all(has.values()) else "torch"


def ingestion_embedder(
    backend: str = "auto",
    quantize: str = "auto",
    device: str | None = None,
    max_seq_length: int | None = None,
    model_name: str | None = None,
) -> tuple[EmbedFn, str, int, str]:
    """
    The passage embedder ``chronorag index`` uses: the fastest installed CPU backend unless told otherwise.

    ``auto`` takes torch on a GPU, else OpenVINO (bf16 where the CPU has it), else torch fp32. Every backend
    gives vectors of the same model (the store records the same model id).

    :param backend: ``auto``, ``openvino``, ``onnx`` or ``torch``.
    :param quantize: ``auto`` (for OpenVINO :func:`default_openvino_precision`, int8 for onnxruntime, none
        for torch), ``none`` (fp32 everywhere), ``int8`` (every backend) or ``bf16`` (openvino).
    :param device: torch device (``None``: auto); a GPU makes ``auto`` pick torch.
    :param max_seq_length: token limit (``None``: :data:`DEFAULT_MAX_SEQ_LENGTH`).
    :param model_name: ``None``/``"default"`` or a local sentence-transformers folder.
    :returns: ``(embed, model_id, dimension, description)``, the description naming backend and precision.
    :raises ValueError: for an unknown backend or a quantisation the backend does not offer.
    :raises ImportError: when the backend asked for is not installed.
    """
    from chronorag.models import resolve_device

    limit = max_seq_length or DEFAULT_MAX_SEQ_LENGTH
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    if backend == "auto":
        backend = "torch" if resolve_device(device) != "cpu" else best_cpu_backend()
        if backend == "torch" and resolve_device(device) == "cpu":
            logger.warning(
                "embedding with torch fp32 on CPU; `pip install 'chronorag[openvino]'` makes ingestion "
                "several times faster"
            )
    if quantize in ("", None):
        quantize = "none"
    if backend == "openvino":
        precisions = {"auto": "auto", "none": "f32", "f32": "f32", "bf16": "bf16", "int8": "int8"}
        if quantize not in precisions:
            raise ValueError(f"the openvino backend computes in int8, bf16 or f32 (none), not {quantize!r}")
        precision = precisions[quantize]
        chosen = default_openvino_precision() if precision == "auto" else precision
        try:
            embed, model_id, dim = openvino_embedder(model_name, precision=chosen, max_seq_length=limit)
        except RuntimeError as exc:
            if precision != "auto" or chosen != "int8":
                raise
            # auto must not fail on a model NNCF cannot quantise: it falls back to the float path.
            chosen = openvino_float_precision()
            logger.warning("int8 quantisation failed (%s); embedding with openvino %s", exc, chosen)
            embed, model_id, dim = openvino_embedder(model_name, precision=chosen, max_seq_length=limit)
        return embed, model_id, dim, f"openvino {chosen}, max {limit} tokens"
    if quantize not in ("auto", "none", "int8"):
        raise ValueError(f"the {backend} backend takes --quantize auto, none or int8, not {quantize!r}")
    if backend == "onnx":
        level = None if quantize == "none" else "int8"
        embed, model_id, dim = onnx_embedder(model_name, quantize=level, max_seq_length=limit)
        return embed, model_id, dim, f"onnxruntime {level or 'fp32'}, max {limit} tokens"
    from chronorag.indexers.ingest import sentence_transformer_embedder

    level = "int8" if quantize == "int8" else None
    embed, model_id, dim = sentence_transformer_embedder(
        model_name, device=device, batch_size=64, max_seq_length=limit, quantize=level
    )
    return embed, model_id, dim, f"torch {level or 'fp32'}, max {limit} tokens"
