"""The built wheel installs one import package, chronorag, with its data and presets."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_holds_only_the_chronorag_package(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(REPO_ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    (wheel,) = tmp_path.glob("chronorag-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names}
    assert top_level == {"chronorag", f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.dist-info"}
    for required in (
        "chronorag/temporal/model.py",
        "chronorag/indexers/store.py",
        "chronorag/pipeline/presets/fast.yaml",
        "chronorag/pipeline/models/timeline_candidates.json",
        "chronorag/data/demo/timeqa_demo_pages.json",
        "chronorag/data/demo/LICENSE-TimeQA.txt",
    ):
        assert required in names
    assert not any(name.startswith(("chronorag/tests/", "chronorag/benchmarks/")) for name in names)
