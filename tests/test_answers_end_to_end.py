"""Answers users can trust, end to end over REST: dated news items in a real store, a uvicorn server on
loopback, the shipped pipeline (extractive answers: the timeline's choice with its passage and time).

The code chooses which answer holds for the asked time; questions the evidence cannot answer get an
explicit abstention (HTTP 200, ``abstained: true`` and a reason), never a made-up answer or a 500.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from chronorag.api.app import create_app
from chronorag.api.server import BackgroundServer
from chronorag.api.settings import ApiSettings

NEWS = [
    {
        "id": "riverton-election",
        "title": "Okafor wins Riverton mayoral race",
        "date": "2022-11-09",
        "text": "Jane Okafor defeated the incumbent Tom Hale, who had served since 2016, in the November 8 "
        "election. Okafor, a former teacher, takes office in January.",
    },
    {
        "id": "central-bank-cut",
        "title": "Central bank cuts rates",
        "date": "2024-09-19",
        "text": "The central bank cut interest rates by half a point on Wednesday, its first reduction in "
        "four years. Officials said inflation had eased.",
    },
    {
        "id": "riverton-bridge",
        "title": "Riverton bridge reopens",
        "date": "2023-05-02",
        "text": "The Riverton river bridge reopened to traffic after two years of repairs.",
    },
    {
        "id": "harbor-festival",
        "title": "Harbor festival draws crowds",
        "date": "2024-07-14",
        "text": "Thousands of visitors came to the harbor festival, which featured boat races and concerts.",
    },
]


@pytest.fixture(scope="module")
def news_store(tmp_path_factory: pytest.TempPathFactory, embedder) -> str:
    from chronorag.indexers.ingest import ingest, open_store_for, sentence_transformer_embedder

    folder = tmp_path_factory.mktemp("news")
    source = folder / "news.jsonl"
    source.write_text("\n".join(json.dumps(item) for item in NEWS) + "\n", encoding="utf-8")
    embed, model_id, dim = sentence_transformer_embedder(device="cpu")
    store = open_store_for(str(folder / "store"), model_id, dim)
    try:
        report = ingest([str(source)], store, embed, fmt="jsonl", progress=False)
    finally:
        store.close()
    assert report.documents_written == len(NEWS)
    return str(folder / "store")


@pytest.fixture(scope="module")
def client(news_store: str) -> Iterator[httpx.Client]:
    settings = ApiSettings(api_key="k", pipeline_options={"generator": "extractive"})
    app = create_app(None, news_store, settings)
    with BackgroundServer(app) as background, httpx.Client(base_url=background.url, timeout=120) as http:
        deadline = time.monotonic() + 180
        while http.get("/readyz").json()["status"] not in ("ready", "failed") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert http.get("/readyz").json()["status"] == "ready"
        yield http


def _ask(client: httpx.Client, question: str, **extra: object) -> dict:
    response = client.post("/v1/ask", json={"question": question, "as_of": "2024-09-24", **extra})
    assert response.status_code == 200, response.text
    return response.json()


def _streamed(client: httpx.Client, question: str, **extra: object) -> list[tuple[str, dict]]:
    """The server-sent events of a streamed ask, as (event, data) pairs."""
    body = {"question": question, "as_of": "2024-09-24", "stream": True, **extra}
    with client.stream("POST", "/v1/ask", json=body) as response:
        assert response.status_code == 200
        blocks = response.read().decode().strip().split("\n\n")
    return [
        (lines["event"], json.loads(lines["data"]))
        for lines in (dict(line.split(": ", 1) for line in block.splitlines()) for block in blocks)
    ]


def test_run_mayor_in_2019_is_the_incumbent_the_passage_says_was_defeated(client: httpx.Client) -> None:
    result = _ask(client, "Who was mayor of Riverton in 2019?")
    assert result["short_answer"] == "Tom Hale" and result["abstained"] is False
    assert result["answer"].startswith("Tom Hale [1]")
    assert result["cited"][0]["id"] == "riverton-election#0" and result["cited"][0]["date"] == "2022-11-09"
    holds = {entry["answer"]: entry["holds"] for entry in result["timeline"]}
    assert holds["Tom Hale"] == {"start": "2016-01-01", "end": "2022-11-08"}


def test_run_what_the_central_bank_did_last_week_is_the_cut(client: httpx.Client) -> None:
    result = _ask(client, "What did the central bank do last week?")
    assert result["short_answer"] == "cut interest rates by half a point"
    assert result["cited"][0]["id"] == "central-bank-cut#0"


def test_run_a_time_no_passage_covers_is_an_explicit_abstention(client: httpx.Client) -> None:
    result = _ask(client, "Who was mayor of Riverton in 1990?")
    assert result["abstained"] is True and result["short_answer"] is None
    assert "1990" in result["abstention_reason"]
    assert result["answer"].startswith("No answer:") and "Tom Hale" not in result["answer"].split("(")[0]


def test_run_empty_evidence_is_an_abstention_not_an_error(client: httpx.Client) -> None:
    nothing = {"field": "meta.title", "operator": "==", "value": "no such title"}
    result = _ask(client, "Who was mayor of Riverton in 2019?", filters=nothing)
    assert result["citations"] == [] and result["abstained"] is True
    assert "no passage was retrieved" in result["abstention_reason"]


def test_run_streamed_abstention_ends_with_the_same_answer(client: httpx.Client) -> None:
    events = _streamed(client, "Who was mayor of Riverton in 1990?")
    done = events[-1][1]
    assert events[-1][0] == "done" and done["abstained"] is True
    assert done["answer"] == "".join(data["token"] for name, data in events if name == "token")


RATE_OPTIONS = ["raised rates", "cut interest rates", "held rates"]


def test_run_rest_ask_with_options_answers_one_of_them(client: httpx.Client) -> None:
    result = _ask(client, "What did the central bank do last week?", choices=RATE_OPTIONS)
    assert result["choice"] == {"index": 1, "letter": "B", "option": "cut interest rates", "by": "evidence"}
    assert result["short_answer"] == "cut interest rates" and result["cited"][0]["id"] == "central-bank-cut#0"
    events = _streamed(client, "What did the central bank do last week?", choices=RATE_OPTIONS)
    assert events[-1][0] == "done" and events[-1][1]["choice"] == result["choice"]


@pytest.mark.parametrize("choices", [["only one"], [f"option {n}" for n in range(9)], ["a", ""]])
def test_run_rest_refuses_malformed_options(client: httpx.Client, choices: list[str]) -> None:
    body = {"question": "What did the central bank do?", "choices": choices}
    assert client.post("/v1/ask", json=body).status_code == 422


def test_pipeline_yaml_round_trip_keeps_the_timeline(news_store: str, tmp_path: Path) -> None:
    from chronorag.pipeline import build_pipeline, dumps, load

    pipeline = build_pipeline(news_store, generator="extractive")
    restored = load(dumps(pipeline), store_path=news_store)
    extractor = restored.get_component("extractor")
    assert type(extractor).__name__ == "AnswerTimeline" and extractor.max_passages == 5


def test_pipeline_yaml_round_trip_keeps_the_worked_examples_wired_to_the_generator(news_store: str) -> None:
    from chronorag.pipeline import build_pipeline, dumps, load
    from chronorag.pipeline.answering import build_prompt

    options = {"generator": "local", "llm_model": "smollm2-135m", "answer_mode": "read", "prompt_examples": 2}
    restored = load(dumps(build_pipeline(news_store, **options)), store_path=news_store)
    assert restored.get_component("prompt_builder").examples == 2
    edges = {(a, b, data["from_socket"].name) for a, b, data in restored.graph.edges(data=True)}
    assert ("prompt_builder", "generator", "examples") in edges
    # The prompt as `ask` and the REST stream build it: the examples come with it.
    built = build_prompt(restored, "Who was mayor of Riverton in 2019?", [], None, {"candidates": []})
    assert built is not None and len(built["examples"]) == 2 and built["examples"][0]["reply"]


@pytest.fixture(scope="module")
def reader_client(news_store: str) -> Iterator[httpx.Client]:
    # answer_mode "read": the (tiny) LLM reads the passages and names the answer; the arbiter rules on time.
    # Two worked examples go with each reading (few-shot): the plain and streamed paths must both send them.
    options = {"generator": "local", "llm_model": "smollm2-135m", "answer_mode": "read", "prompt_examples": 2}
    settings = ApiSettings(api_key="k", pipeline_options=options)
    app = create_app(None, news_store, settings)
    with BackgroundServer(app) as background, httpx.Client(base_url=background.url, timeout=300) as http:
        deadline = time.monotonic() + 300
        while http.get("/readyz").json()["status"] not in ("ready", "failed") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert http.get("/readyz").json()["status"] == "ready"
        yield http


def test_run_read_mode_the_llm_reads_and_the_timeline_rules_on_2019(reader_client: httpx.Client) -> None:
    result = _ask(reader_client, "Who was mayor of Riverton in 2019?")
    # Whatever the LLM names, the answer is the one the timeline finds holding in 2019.
    assert result["short_answer"] == "Tom Hale" and result["abstained"] is False
    assert result["reader"] is not None and result["reader"]["reason"]
    assert result["answer"].startswith("Tom Hale [1]") and result["cited"][0]["id"] == "riverton-election#0"


def test_run_read_mode_stream_ends_with_the_same_ruling(reader_client: httpx.Client) -> None:
    question = "Who was mayor of Riverton in 2019?"
    plain = _ask(reader_client, question)
    events = _streamed(reader_client, question)
    done = events[-1][1]
    assert events[-1][0] == "done"
    # The streamed tokens are the LLM's reading; the final body is the same ruling as the plain answer.
    streamed = "".join(data["token"] for name, data in events if name == "token")
    assert done["reader"]["reader_answer"] == (plain["reader"]["reader_answer"]) and streamed.strip()
    assert (done["short_answer"], done["answer"]) == (plain["short_answer"], plain["answer"])


def test_run_read_mode_abstention_reports_no_reading(reader_client: httpx.Client) -> None:
    result = _ask(reader_client, "Who was mayor of Riverton in 1990?")
    assert result["abstained"] is True and result["reader"] is None and result["short_answer"] is None


def test_run_read_mode_options_after_an_abstention_answer_alike_plain_and_streamed(
    reader_client: httpx.Client,
) -> None:
    # No passage writes an option and the timeline abstains: the LLM's letter decides (or nothing does),
    # and the graph (the arbiter lets a reply naming an option pass) answers as the stream does.
    question, options = "Who was mayor of Riverton in 1990?", ["Mark Ruiz", "Ann Lee"]
    plain = _ask(reader_client, question, choices=options)
    done = _streamed(reader_client, question, choices=options)[-1][1]
    assert (plain["choice"], plain["answer"], plain["reader"]) == (done["choice"], done["answer"], None)
    assert plain["choice"] is None or plain["choice"]["by"] == "reader"


@pytest.mark.slow
def test_run_reading_preset_with_the_packaged_1_5b(news_store: str) -> None:
    # The shipped `reading` preset: Qwen2.5-Coder-1.5B reads, the arbiter rules; one process, one thread.
    from chronorag.pipeline import ask, build_pipeline

    pipeline = build_pipeline(news_store, preset="reading", generator="local")
    result = ask(pipeline, "Who was mayor of Riverton in 2019?", as_of="2024-09-24")
    assert result["short_answer"] == "Tom Hale" and result["reader"]["reader_answer"]
    assert result["answer"].startswith("Tom Hale [1]") and result["cited"][0]["id"] == "riverton-election#0"
    later = ask(pipeline, "Who was mayor of Riverton in 1990?", as_of="2024-09-24")
    assert later["abstained"] is True and later["reader"] is None  # an abstention asks no LLM


def test_run_ask_with_options_the_passages_choose(news_store: str) -> None:
    from chronorag.pipeline import ask, build_pipeline

    pipeline = build_pipeline(news_store, generator="extractive")
    options = ["raised rates", "cut interest rates", "held rates"]
    result = ask(pipeline, "What did the central bank do last week?", as_of="2024-09-24", choices=options)
    assert result["choice"] == {"index": 1, "letter": "B", "option": "cut interest rates", "by": "evidence"}
    assert result["answer"] == "B. cut interest rates [1]" and result["cited"][0]["id"].startswith("central")


def test_run_ask_with_options_no_passage_writes_the_llm_names_a_letter(news_store: str) -> None:
    from chronorag.pipeline import ask, build_pipeline

    # Pipeline.run itself (the graph), with the tiny packaged LLM: the options reach the prompt builder and
    # the answer builder; where no passage writes an option, the LLM's letter decides or nothing does.
    pipeline = build_pipeline(news_store, generator="local", llm_model="smollm2-135m")
    options = ["a tulip parade", "a jazz week"]
    result = ask(pipeline, "What did the harbor festival feature?", as_of="2024-07-20", choices=options)
    if result["choice"] is None:
        assert result["abstained"] is True and "options" in result["abstention_reason"]
    else:
        assert result["choice"]["by"] == "reader" and result["short_answer"] in options
        assert result["answer"].startswith(f"{result['choice']['letter']}. ")


@pytest.mark.parametrize(
    ("question", "as_of", "choices"),
    [
        ("What did the central bank do last week?", "2024-09-24", ["raised rates", "cut interest rates"]),
        ("Who was mayor of Riverton in 1990?", "2024-09-24", None),
    ],
    ids=["options-the-passages-write", "abstention"],
)
def test_run_graph_skips_the_llm_whose_reply_would_not_be_used(
    news_store: str, question: str, as_of: str, choices: list[str] | None
) -> None:
    from chronorag.pipeline import build_pipeline
    from chronorag.pipeline.retrieval import run_inputs

    # Pipeline.run as `ask` runs it: the prompt builder builds no prompt, so the generator never runs.
    pipeline = build_pipeline(news_store, generator="local", llm_model="smollm2-135m")
    data = run_inputs(pipeline, question, as_of=as_of, choices=choices)
    outputs = pipeline.run(data, include_outputs_from={"prompt_builder", "generator"})
    assert outputs["prompt_builder"] == {} and "generator" not in outputs
    answer = outputs["answer_builder"]["answer"]
    if choices:
        assert answer["choice"]["by"] == "evidence" and answer["short_answer"] == "cut interest rates"
    else:
        assert answer["abstained"] is True and answer["reply_replaced"] is False


RIVAL_NEWS = [
    {
        "id": "rams-lopez",
        "title": "Rams coach looks back",
        "date": "2021-01-05",
        "text": "Maria Lopez coached the Riverton Rams from 2018 to 2020.",
    },
    {
        "id": "rams-brandt",
        "title": "Rams history",
        "date": "2021-02-11",
        "text": "Peter Brandt coached the Riverton Rams from 2018 to 2020.",
    },
]


def test_run_graph_reads_a_dispute_and_answers_as_the_stream(tmp_path: Path, embedder) -> None:
    from chronorag.api.pipeline_bridge import _start_stream
    from chronorag.api.schemas import AskRequest
    from chronorag.indexers.ingest import ingest, open_store_for, sentence_transformer_embedder
    from chronorag.pipeline import build_pipeline
    from chronorag.pipeline.retrieval import run_inputs

    source = tmp_path / "rams.jsonl"
    source.write_text("\n".join(json.dumps(item) for item in RIVAL_NEWS) + "\n", encoding="utf-8")
    embed, model_id, dim = sentence_transformer_embedder(device="cpu")
    store = open_store_for(str(tmp_path / "store"), model_id, dim)
    try:
        ingest([str(source)], store, embed, fmt="jsonl", progress=False)
    finally:
        store.close()
    pipeline = build_pipeline(str(tmp_path / "store"), generator="local", llm_model="smollm2-135m")
    question = "Who coached the Riverton Rams in 2019?"
    data = run_inputs(pipeline, question, as_of="2024-09-24")
    outputs = pipeline.run(data, include_outputs_from={"extractor", "generator", "arbiter"})
    # Two sources disagree for 2019: the timeline abstains, yet the LLM is asked to read the passages.
    assert outputs["extractor"]["abstention"]["disputed"]
    assert outputs["generator"]["replies"]
    answer, verdict = outputs["answer_builder"]["answer"], outputs["arbiter"]
    # The answer reports the arbiter's abstention: settled (one of the two) or standing (with its reason).
    if verdict["arbitration"]:
        assert answer["abstained"] is False and answer["short_answer"] in ("Maria Lopez", "Peter Brandt")
    else:
        assert answer["abstained"] is True and "disagree" in answer["abstention_reason"]
    stream = _start_stream(pipeline, AskRequest(question=question, as_of="2024-09-24"))
    streamed = stream.finish("".join(stream.tokens))
    assert streamed["short_answer"] == answer["short_answer"] and streamed["abstained"] == answer["abstained"]
