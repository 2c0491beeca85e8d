"""Schemathesis fuzzes the API against its own OpenAPI schema over real HTTP: no input may cause a 500.

Bounded for CI: 60 derandomised examples per mode (valid, invalid) over all operations, no shrinking.
A second property test aims at filters (issue 16): fields x operators x value types in AND/OR/NOT trees,
over passages whose client meta changes type from one to the next, sent to /v1/retrieve and /v1/ask.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from filter_strategies import FIELDS, MIXED_META, filters, leaves
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
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


@pytest.fixture(scope="module")
def mixed_meta(fuzz_server: str) -> str:
    """Documents whose meta.k, meta.tags and meta.when hold a number here, a list there, text elsewhere."""
    text = "In {} the harbour master logged storms."
    documents = [
        {"id": f"mixed-{i}", "title": "Harbour log", "text": text.format(2001 + i), "meta": meta}
        for i, meta in enumerate(MIXED_META)
    ]
    response = httpx.post(
        f"{fuzz_server}/v1/documents",
        json={"documents": documents},
        headers={"X-API-Key": API_KEY},
        timeout=120,
    )
    assert response.status_code == 200 and not response.json()["rejected"], response.text
    return fuzz_server


def test_unfit_filter_is_400_naming_field_and_operator(mixed_meta: str) -> None:
    body = {"question": "who in 2019?", "filters": {"field": "meta.time_spans", "operator": ">", "value": 3}}
    for route in ("/v1/retrieve", "/v1/ask"):
        response = httpx.post(f"{mixed_meta}{route}", json=body, timeout=60)
        assert response.status_code == 400, response.text
        error = response.json()
        assert error["error"] == "invalid_filters"
        assert "field 'meta.time_spans' with operator '>'" in error["message"]
    on_data = {"question": "who logged storms?", "filters": {"field": "meta.k", "operator": ">", "value": 2}}
    response = httpx.post(f"{mixed_meta}/v1/retrieve", json=on_data, timeout=60)  # a list among the values
    assert response.status_code == 400 and "field 'meta.k' with operator '>'" in response.json()["message"]


@settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(flt=filters(FIELDS, max_leaves=4), route=st.sampled_from(["/v1/retrieve", "/v1/retrieve", "/v1/ask"]))
def test_fuzzed_filters_never_get_a_500(mixed_meta: str, flt: dict, route: str) -> None:
    body = {"question": "Who logged storms at the harbour in 2003?", "top_k": 3, "filters": flt}
    response = httpx.post(f"{mixed_meta}{route}", json=body, timeout=60)  # NaN/Infinity go as JSON tokens
    assert response.status_code in (200, 400, 422), f"{flt}: {response.status_code} {response.text}"
    assert "Traceback" not in response.text
    if response.status_code == 400:
        error = response.json()
        assert error["error"] == "invalid_filters", response.text
        assert any(
            f"field {leaf['field']!r} with operator {leaf['operator']!r}" in error["message"]
            for leaf in leaves(flt)
        ), error["message"]
