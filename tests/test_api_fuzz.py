"""Schemathesis fuzzes the API against its own OpenAPI schema over real HTTP: no input may cause a 500.

Bounded for CI: 60 derandomised examples per mode (valid, invalid) over all operations, no shrinking.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from chronorag.api.app import create_app
from chronorag.api.server import BackgroundServer
from chronorag.api.settings import ApiSettings

API_KEY = "fuzz-key-91ad"
MAX_EXAMPLES = 60  # per mode, over all operations


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory, shared_data: Path, embedder) -> Iterator[str]:
    """One TimeQA page in a store, extractive answers, writes keyed: the API schemathesis explores."""
    from chronorag.indexers.ingest import ingest, open_store_for, sentence_transformer_embedder

    embed, model_id, dim = sentence_transformer_embedder(device="cpu")
    path = tmp_path_factory.mktemp("fuzz") / "store"
    store = open_store_for(str(path), model_id, dim)
    try:
        ingest(
            [str(shared_data / "timeqa" / "human_annotated_test.dev.json")],
            store,
            embed,
            fmt="timeqa",
            limit=1,
            progress=False,
        )
    finally:
        store.close()
    settings_ = ApiSettings(api_key=API_KEY, pipeline_options={"generator": "extractive"})
    with BackgroundServer(create_app(None, str(path), settings_)) as background:
        deadline = time.monotonic() + 120
        while httpx.get(f"{background.url}/readyz").json()["status"] == "starting":
            assert time.monotonic() < deadline, "the server did not become ready"
            time.sleep(0.1)
        yield background.url
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def api_schema(fuzz_server: str):
    """The schema as the server publishes it at /openapi.json."""
    return schemathesis.openapi.from_url(f"{fuzz_server}/openapi.json")


# schemathesis' own pytest integration (`from_fixture` + `parametrize`) reads a private pytest attribute that
# pytest 9 removed, so the test drives the schema's Hypothesis strategy (all operations) itself.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
def test_no_server_errors(api_schema, fuzz_server: str, mode: GenerationMode) -> None:
    """Every generated request, valid or not, is answered below 500, as the schema documents it."""

    @given(case=api_schema.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def check(case) -> None:
        response = case.call(base_url=fuzz_server, headers={"X-API-Key": API_KEY}, timeout=60)
        where = f"{case.method} {case.formatted_path} {case.body!r:.300}"
        assert response.status_code < 500, f"{where}: {response.status_code} {response.text}"
        assert "Traceback" not in response.text
        if mode is GenerationMode.POSITIVE and response.status_code in (400, 422):
            # Schema-valid filters can still not fit the stored data (`meta.title > 5`): that is the one
            # rejection of schema-valid input the API makes, and it says so with its own code.
            assert response.json()["error"] == "invalid_filters", f"{where}: {response.text}"
        case.validate_response(response, excluded_checks=[positive_data_acceptance])

    check()
