"""AnchorResolver and anchored questions through the pipeline, on a real store of an original small corpus.

The corpus (written for this test) is a town's encyclopedia pages, undated (their dates are inferred,
never proof of publication), and news items with given publication dates. The real bi-encoder embeds
it through the indexers' ingestion.
"""

from __future__ import annotations

import json
import time
from datetime import date
from pathlib import Path

import httpx
import pytest

from chronorag.api.app import create_app
from chronorag.api.schemas import ConstraintOut
from chronorag.api.server import BackgroundServer
from chronorag.api.settings import ApiSettings
from chronorag.indexers import ChronoDocumentStore
from chronorag.indexers.anchor_resolver import AnchorResolver
from chronorag.pipeline import ask, build_pipeline, dumps, load, retrieve
from chronorag.temporal import Interval, TemporalConstraint, decompose

CORPUS = [
    {"id": "council-ellison", "title": "Riverside Borough Council",
     "text": "Margaret Ellison chaired Riverside Borough Council from 2009 to 2016. Under her the council "
             "rebuilt the town library and merged two primary schools."},
    {"id": "council-varga", "title": "Riverside Borough Council",
     "text": "Tomas Varga chaired Riverside Borough Council from 2016 to 2021. A former schoolteacher, he "
             "sat for the Eastbank ward before his election as chair."},
    {"id": "council-raman", "title": "Riverside Borough Council",
     "text": "Priya Raman has chaired Riverside Borough Council since 2021, the first chair from the "
             "Northgate ward."},
    {"id": "stadium", "title": "Riverside Stadium",
     "text": "Riverside Stadium is a football ground on the east bank of the river Alder. Construction began "
             "in 2017 after a decade of planning disputes. The new stadium opened in May 2019 with a "
             "friendly match against a visiting Dutch side. It holds 24,000 spectators."},
    {"id": "mill-lane", "title": "Mill Lane",
     "text": "Mill Lane was the home ground of Riverside Rovers until 2018. Its old stands were demolished "
             "in 2020 to make way for housing."},
    {"id": "bakery", "title": "Alder Street Bakery",
     "text": "The Alder Street Bakery opened in 1998 and is known for its rye bread. It moved to larger "
             "premises in 2011."},
    {"id": "harbour-bridge", "title": "Riverside Harbour Bridge",
     "text": "The Riverside Harbour Bridge carries the coast road over the harbour mouth. It closed for "
             "repairs in March 2020 and reopened in September 2022."},
    {"id": "fair", "title": "Riverside Town Fair",
     "text": "The town fair was cancelled after heavy rain flooded the meadows. Its founder, the baker Hal "
             "Moss, was born in 1931."},
    {"id": "news-crash", "title": "Shares crash as investors flee", "date": "2020-03-17",
     "text": "Share prices crashed on Monday as investors fled to safety, wiping billions off the value of "
             "the largest listed companies. Traders called it the worst day since 1987."},
    {"id": "news-bank-cut", "title": "Northgate Bank cuts its lending rate", "date": "2020-04-02",
     "text": "Northgate Bank cut its lending rate to a record low and suspended dividend payments, two weeks "
             "after the stock market crash."},
    {"id": "news-bank-rise", "title": "Northgate Bank raises its lending rate", "date": "2019-11-05",
     "text": "Northgate Bank raised its lending rate for the second time this year, citing strong demand "
             "for mortgages."},
    {"id": "news-bridge", "title": "Harbour bridge reopens", "date": "2022-09-12",
     "text": "The Riverside Harbour Bridge reopened to traffic on Saturday after two and a half years of "
             "repairs, ending long detours for commuters."},
    {"id": "news-mayor", "title": "Riverside elects a new mayor", "date": "2021-05-08",
     "text": "Riverside elected Dana Whitfield as mayor on Thursday, succeeding Colin Brae, who had served "
             "since 2014."},
]  # fmt: skip

STADIUM = "Who chaired the council when the new stadium opened?"
CRASH = "What did Northgate Bank do after the 2020 crash?"
BRIDGE = "Who was mayor when the harbour bridge reopened?"


@pytest.fixture(scope="module")
def store_path(tmp_path_factory, embedder) -> str:
    from chronorag.indexers.ingest import ingest, open_store_for, sentence_transformer_embedder

    root = tmp_path_factory.mktemp("anchors")
    source = root / "town.jsonl"
    source.write_text("\n".join(json.dumps(record) for record in CORPUS), encoding="utf-8")
    embed, model_id, dim = sentence_transformer_embedder(device="cpu")
    store = open_store_for(str(root / "store"), model_id, dim)
    report = ingest([str(source)], store, embed, progress=False)
    store.close()
    assert report.documents_written == len(CORPUS)
    return str(root / "store")


@pytest.fixture(scope="module")
def store(store_path):
    opened = ChronoDocumentStore(store_path)
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def resolver(store):
    component = AnchorResolver(store, device="cpu")
    component.warm_up()
    return component


@pytest.fixture(scope="module")
def pipeline(store_path):
    return build_pipeline(store_path, generator="extractive", device="cpu")


def _resolve(resolver: AnchorResolver, question: str, as_of: str) -> TemporalConstraint:
    return resolver.run(constraint=decompose(question, as_of=as_of))["constraint"]


def test_to_dict(store) -> None:
    data = AnchorResolver(store, top_k=5).to_dict()
    assert data["type"] == "chronorag.indexers.anchor_resolver.AnchorResolver"
    params = data["init_parameters"]
    assert params["top_k"] == 5 and params["min_relevance"] == 0.5 and params["use_events"] is True
    assert params["document_store"] == store.to_dict()


def test_from_dict(store) -> None:
    restored = AnchorResolver.from_dict(AnchorResolver(store, events_top_k=2).to_dict())
    assert isinstance(restored.document_store, ChronoDocumentStore)
    assert restored.document_store.path == store.path and restored.events_top_k == 2
    restored.document_store.close()


def test_init_rejects_bad_values(store) -> None:
    with pytest.raises(ValueError):
        AnchorResolver(store, top_k=0)
    with pytest.raises(ValueError, match="ChronoStore"):
        AnchorResolver("not a store")  # type: ignore[arg-type]


def test_run_passes_a_question_without_anchor_through(resolver) -> None:
    constraint = decompose("Who chaired the council before 2011?", as_of="2024-01-01")
    result = resolver.run(constraint=constraint)
    assert result["constraint"] is constraint and result["content"] == "Who chaired the council?"


def test_run_dates_the_event_from_the_sentence_that_states_it(resolver) -> None:
    constraint = _resolve(resolver, STADIUM, "2024-01-01")
    anchor = constraint.anchor
    assert anchor.resolved == Interval.month(2019, 5)
    assert constraint.relation.value == "in" and constraint.interval == Interval.month(2019, 5)
    assert anchor.source_id == "stadium#0"
    assert anchor.evidence.startswith("The new stadium opened in May 2019 with a friendly match")
    assert "'May 2019'" in anchor.how and constraint.content == "Who chaired the council?"
    assert constraint.to_dict()["anchor"]["resolved"] == {"start": "2019-05-01", "end": "2019-05-31",
                                                          "granularity": "month"}  # fmt: skip


def test_run_dates_news_by_its_relative_date_and_keeps_the_relation(resolver) -> None:
    constraint = _resolve(resolver, CRASH, "2021-01-01")
    # "on Monday" in the news published on Tuesday 17 March
    assert constraint.anchor.resolved == Interval.day(date(2020, 3, 16))
    assert constraint.anchor.source_id == "news-crash#0"
    assert constraint.relation.value == "after"
    assert constraint.interval == Interval(date(2020, 3, 17), None, constraint.interval.granularity)


def test_an_event_reported_only_after_the_reference_time_is_not_resolved(resolver) -> None:
    before = _resolve(resolver, BRIDGE, "2022-01-01")
    assert before.anchor.resolved is None and before.interval is None
    assert "after the reference time" in before.anchor.how  # the undated page says September 2022
    assert before.content == BRIDGE  # no interval: the anchor's words stay in the content
    assert any("could not be dated" in note for note in before.notes)
    after = _resolve(resolver, BRIDGE, "2023-01-01")
    assert after.anchor.resolved == Interval.day(date(2022, 9, 10))  # "on Saturday", published Mon 12 Sept
    assert after.anchor.source_id == "news-bridge#0" and "agree" in after.anchor.how


def test_an_unknown_event_falls_back_and_says_why(resolver) -> None:
    question = "Who chaired the council before the floating market was founded?"
    unknown = _resolve(resolver, question, "2024-01-01")
    assert unknown.anchor.resolved is None and unknown.interval is None
    assert unknown.anchor.how.startswith("not resolved: no sentence published by 2024-01-01")
    dated = _resolve(resolver, "What did the council decide after the 2015 flood?", "2024-01-01")
    assert dated.anchor.resolved is None
    assert dated.interval == Interval(date(2016, 1, 1), None, dated.interval.granularity)
    assert "kept the date written in the anchor (2015)" in dated.anchor.how
    assert dated.content == "What did the council decide?"


def test_an_inferred_publication_date_never_dates_an_event(resolver, store) -> None:
    [fair] = store.filter_documents({"field": "meta.doc_id", "operator": "==", "value": "fair"})
    assert fair.meta["date_source"] == "inferred"
    constraint = _resolve(resolver, "Who chaired the council when the town fair was cancelled?", "2024-01-01")
    assert constraint.anchor.resolved is None and "state no date" in constraint.anchor.how


def test_the_event_index_gives_news_leads_dated_by_their_given_day(resolver) -> None:
    query = resolver._embed(["the harbour bridge reopened"])[0]
    leads = {item.source_id: item for item in resolver._event_evidence(query, date(2023, 1, 1))}
    assert leads["news-bridge#0"].published == date(2022, 9, 12)
    assert leads["news-bridge#0"].sentence.startswith("The Riverside Harbour Bridge reopened")
    # pages whose date was inferred are in the event index too, but their date dates no event
    inferred = [item for source, item in leads.items() if not source.startswith("news-")]
    assert inferred and all(item.published is None for item in inferred)
    earlier = resolver._event_evidence(query, date(2022, 1, 1))
    assert "news-bridge#0" not in {item.source_id for item in earlier}


def test_retrieve_ranks_the_passage_of_the_resolved_time_first(pipeline, store_path) -> None:
    result = retrieve(pipeline, STADIUM, as_of="2024-01-01")
    assert result["citations"][0]["id"] == "council-varga#0"
    anchor = result["constraint"]["anchor"]
    assert anchor["resolved"]["start"] == "2019-05-01" and anchor["source_id"] == "stadium#0"
    assert result["timings_ms"]["decompose"] > 0  # the resolver's time is reported with decomposition
    crash = retrieve(pipeline, CRASH, as_of="2021-01-01")
    assert crash["citations"][0]["id"] == "news-bank-cut#0"
    unresolved = build_pipeline(store_path, generator="extractive", device="cpu", resolve_anchors=False)
    assert "anchor_resolver" not in unresolved.graph.nodes
    plain = retrieve(unresolved, STADIUM, as_of="2024-01-01")
    assert plain["constraint"]["anchor"]["resolved"] is None
    assert plain["citations"][0]["id"] != "council-varga#0"  # without the event's date, any chair fits


def test_ask_shows_the_resolved_anchor(pipeline) -> None:
    result = ask(pipeline, STADIUM, as_of="2024-01-01")
    assert result["constraint"]["anchor"]["resolved"]["start"] == "2019-05-01"
    assert result["citations"][0]["id"] == "council-varga#0"
    assert "Varga" in result["answer"]


def test_yaml_round_trip_keeps_the_resolver(pipeline) -> None:
    text = dumps(pipeline)
    assert "chronorag.indexers.anchor_resolver.AnchorResolver" in text
    loaded = load(text)
    assert loaded.get_component("anchor_resolver").min_relevance == 0.5
    result = retrieve(loaded, CRASH, as_of="2021-01-01")
    assert result["constraint"]["anchor"]["resolved"] == {"start": "2020-03-16", "end": "2020-03-16",
                                                          "granularity": "day"}  # fmt: skip


def test_rest_endpoints_show_the_anchor(store_path: str, tmp_path: Path) -> None:
    settings = ApiSettings(pipeline_options={"generator": "extractive", "device": "cpu"})
    with (
        BackgroundServer(create_app(None, store_path, settings)) as server,
        httpx.Client(base_url=server.url, timeout=60) as http,
    ):
        body = {"question": STADIUM, "as_of": "2024-01-01"}
        decomposed = http.post("/v1/decompose", json=body).json()
        assert decomposed["anchor"]["text"] == "the new stadium opened"
        assert decomposed["anchor"]["resolved"] is None  # decomposition alone reads no store
        for _ in range(600):
            if http.get("/readyz").json()["status"] != "starting":
                break
            time.sleep(0.1)
        for route in ("/v1/retrieve", "/v1/ask"):
            response = http.post(route, json=body)
            assert response.status_code == 200, response.text
            anchor = response.json()["constraint"]["anchor"]
            assert anchor["resolved"]["start"] == "2019-05-01" and anchor["source_id"] == "stadium#0"
        with http.stream("POST", "/v1/ask", json={**body, "stream": True}) as streamed:
            text = streamed.read().decode()
        first = json.loads(text.split("\n\n")[0].split("data: ", 1)[1])  # the "retrieval" event
        assert first["constraint"]["anchor"]["resolved"]["start"] == "2019-05-01"


def test_schema_keeps_the_anchor() -> None:
    data = decompose(CRASH, as_of="2021-01-01").to_dict()
    assert ConstraintOut.model_validate(data).model_dump()["anchor"] == data["anchor"]


def test_cli_ask_json_shows_the_resolved_anchor(store_path: str) -> None:
    from typer.testing import CliRunner

    from chronorag import cli

    if not cli.app.registered_commands:
        cli._register_all()
    args = ["ask", "--store", store_path, "-g", "extractive", "--json", "--as-of", "2024-01-01", STADIUM]
    result = CliRunner().invoke(cli.app, args)
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout[result.stdout.index("{") :])
    assert body["constraint"]["anchor"]["resolved"]["start"] == "2019-05-01"
    assert body["citations"][0]["id"] == "council-varga#0"
