"""EvidenceSummarizer: LLM summaries of the top passages that keep dates; irrelevant passages dropped."""

from __future__ import annotations

import json
import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from haystack import Document

from chronorag.pipeline.evidence_summarizer import EvidenceSummarizer
from chronorag.pipeline.local_generator import LocalLLMGenerator
from chronorag.pipeline.openai_generator import OpenAICompatibleGenerator
from chronorag.temporal import decompose

CONSTRAINT = decompose("Who managed Chelsea in 2010?", as_of=date(2024, 1, 1))


def _docs() -> list[Document]:
    return [
        Document(
            id="a",
            content="Carlo Ancelotti managed Chelsea from 2009 to 2011 and won the double in 2010.",
            meta={
                "title": "Chelsea F.C.",
                "matched_sentence": "Carlo Ancelotti managed Chelsea from 2009 to 2011.",
            },
        ),
        Document(
            id="b", content="A simple recipe: mix flour, sugar and eggs, then bake.", meta={"title": "Cake"}
        ),
        Document(id="c", content="Chelsea play at Stamford Bridge.", meta={"title": "Stamford Bridge"}),
    ]


class _SummaryServer(BaseHTTPRequestHandler):
    """An OpenAI-compatible server whose 'model' calls recipes irrelevant and drops years from summaries."""

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompt = body["messages"][-1]["content"]
        text = "irrelevant" if "recipe" in prompt else "Carlo Ancelotti managed Chelsea and won the double."
        reply = {"choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def server_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SummaryServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_to_dict_nests_the_generator():
    data = EvidenceSummarizer(generator=LocalLLMGenerator(max_new_tokens=20), top_k=2).to_dict()
    assert data["type"] == "chronorag.pipeline.evidence_summarizer.EvidenceSummarizer"
    params = data["init_parameters"]
    assert params["top_k"] == 2
    assert params["generator"]["type"] == "chronorag.pipeline.local_generator.LocalLLMGenerator"
    assert params["generator"]["init_parameters"]["max_new_tokens"] == 20


def test_from_dict_rebuilds_the_generator():
    summarizer = EvidenceSummarizer(generator=OpenAICompatibleGenerator(model="m"), drop_irrelevant=False)
    restored = EvidenceSummarizer.from_dict(summarizer.to_dict())
    assert isinstance(restored.generator, OpenAICompatibleGenerator)
    assert restored.to_dict() == summarizer.to_dict()


def test_run_summarises_keeps_dates_and_drops_irrelevant(server_url):
    generator = OpenAICompatibleGenerator(api_base_url=server_url, model="m", max_retries=0)
    result = EvidenceSummarizer(generator=generator, top_k=2).run(documents=_docs(), constraint=CONSTRAINT)
    ids = [doc.id for doc in result["documents"]]
    assert ids == ["a", "c"]  # "b" (a recipe) was called irrelevant; "c" is beyond top_k and passes through
    summary = result["documents"][0].meta["summary"]
    assert summary.startswith("Carlo Ancelotti managed Chelsea")
    assert "2009" in summary and "2011" in summary  # the years the summary lost are put back
    assert result["documents"][0].content == _docs()[0].content  # spans still point into the text


def test_run_never_drops_the_best_passage(server_url):
    generator = OpenAICompatibleGenerator(api_base_url=server_url, model="m", max_retries=0)
    docs = [_docs()[1], _docs()[0]]
    result = EvidenceSummarizer(generator=generator, top_k=2).run(documents=docs, constraint=CONSTRAINT)
    assert [doc.id for doc in result["documents"]] == ["b", "a"]
    assert result["documents"][0].meta["summary"] is None


@pytest.mark.slow
def test_run_with_the_local_llm():
    summarizer = EvidenceSummarizer(generator=LocalLLMGenerator(max_new_tokens=32), top_k=1)
    summarizer.warm_up()
    result = summarizer.run(documents=_docs()[:1], constraint=CONSTRAINT)
    summary = result["documents"][0].meta["summary"]
    assert summary and isinstance(summary, str)
    assert "2009" in summary or "2010" in summary or "2011" in summary
