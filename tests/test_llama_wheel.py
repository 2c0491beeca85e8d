"""scripts/llama_cpp_wheel.sh: the llama-cpp-python wheel is built once per machine and CPU, then reused.

The build itself takes ~16 minutes, so it is not repeated here: these tests check that the folder is
keyed by the version and the CMake flags, and that an install with the wheel already in the cache
installs from it without compiling (a copy of this machine's cached wheel in a temporary cache).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "llama_cpp_wheel.sh"
VERSION = "0.3.36"


def _script(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), sys.executable, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


def test_the_folder_is_keyed_by_version_and_flags(tmp_path):
    env = {"CHRONORAG_WHEEL_CACHE": str(tmp_path)}
    default = _script(VERSION, "--folder", env=env).stdout.strip()
    assert default.startswith(f"{tmp_path}/llama-cpp-python-{VERSION}-")
    assert _script(VERSION, "--folder", env=env).stdout.strip() == default  # stable
    other_flags = _script(VERSION, "--folder", env={**env, "LLAMA_CMAKE_ARGS": "-DGGML_NATIVE=ON"})
    assert other_flags.stdout.strip() != default
    assert _script("0.3.35", "--folder", env=env).stdout.strip() != default
    assert not list(tmp_path.iterdir())  # asking builds nothing


def test_a_cached_wheel_is_installed_without_building(tmp_path):
    machine_folder = Path(_script(VERSION, "--folder").stdout.strip())
    if not (machine_folder / "BUILT").is_file():
        pytest.skip(f"no llama-cpp-python wheel cached on this machine ({machine_folder})")
    env = {"CHRONORAG_WHEEL_CACHE": str(tmp_path)}
    folder = Path(_script(VERSION, "--folder", env=env).stdout.strip())
    shutil.copytree(machine_folder, folder)
    completed = _script(VERSION, env=env)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "building" not in completed.stdout
    assert sorted(path.name for path in tmp_path.iterdir()) == [folder.name, "llama-cpp-python.lock"]
