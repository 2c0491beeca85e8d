"""The QueryDecomposer Haystack component."""

from __future__ import annotations

from datetime import date

import pytest
from haystack import Pipeline, component

from chronorag.temporal import EmptyQuestionError, QueryDecomposer, Relation, TemporalConstraint


def test_to_dict():
    data = QueryDecomposer(default_as_of="2022-06-15").to_dict()
    assert data == {"type": "chronorag.temporal.query_decomposer.QueryDecomposer",
                    "init_parameters": {"default_as_of": "2022-06-15", "decompose": True}}  # fmt: skip
    assert QueryDecomposer().to_dict()["init_parameters"] == {"default_as_of": None, "decompose": True}


def test_from_dict():
    decomposer = QueryDecomposer.from_dict(
        {
            "type": "chronorag.temporal.query_decomposer.QueryDecomposer",
            "init_parameters": {"default_as_of": "2020-01-01"},
        }
    )
    assert decomposer.default_as_of == "2020-01-01"
    assert decomposer.run(query="Who won last year?")["constraint"].interval.start == date(2019, 1, 1)


def test_init_accepts_a_date():
    decomposer = QueryDecomposer(default_as_of=date(2021, 5, 1))
    assert decomposer.to_dict()["init_parameters"] == {"default_as_of": "2021-05-01", "decompose": True}
    assert decomposer.run(query="Who won?")["constraint"].reference_time == date(2021, 5, 1)


def test_run_without_decomposition_keeps_the_whole_question():
    decomposer = QueryDecomposer(default_as_of="2022-06-15", decompose=False)
    constraint = decomposer.run(query="Who coached Chelsea before 2011?")["constraint"]
    assert constraint.content == "Who coached Chelsea before 2011?"
    assert constraint.relation == Relation.NONE and constraint.interval is None
    assert constraint.reference_time == date(2022, 6, 15)
    again = QueryDecomposer.from_dict(decomposer.to_dict())
    assert again.decompose is False


def test_init_rejects_bad_default():
    with pytest.raises(ValueError, match="not a date"):
        QueryDecomposer(default_as_of="someday")


def test_run_decomposes():
    result = QueryDecomposer(default_as_of="2022-06-15").run(query="Who coached Chelsea before 2011?")
    constraint = result["constraint"]
    assert isinstance(constraint, TemporalConstraint)
    assert result["content"] == "Who coached Chelsea?" == constraint.content
    assert constraint.relation is Relation.BEFORE
    assert constraint.interval.end == date(2010, 12, 31)
    assert constraint.reference_time == date(2022, 6, 15)


def test_run_as_of_overrides_default():
    decomposer = QueryDecomposer(default_as_of="2022-06-15")
    assert decomposer.run(query="Who won?", as_of="2019-03-01")["constraint"].reference_time == date(
        2019, 3, 1
    )
    assert QueryDecomposer().run(query="Who won?")["constraint"].reference_time == date.today()


def test_run_without_time():
    result = QueryDecomposer().run(query="Who coached Chelsea?")
    assert result["constraint"].relation is Relation.NONE
    assert result["constraint"].interval is None


def test_run_bad_input():
    decomposer = QueryDecomposer()
    with pytest.raises(EmptyQuestionError):
        decomposer.run(query="  ")
    with pytest.raises(ValueError, match="not a date"):
        decomposer.run(query="Who won?", as_of="never")


@component
class _Sink:
    @component.output_types(relation=str, content=str)
    def run(self, constraint: TemporalConstraint, content: str) -> dict:
        return {"relation": constraint.relation.value, "content": content}


def test_run_in_a_pipeline_and_round_trip():
    pipeline = Pipeline()
    pipeline.add_component("decomposer", QueryDecomposer(default_as_of="2022-06-15"))
    pipeline.add_component("sink", _Sink())
    pipeline.connect("decomposer.constraint", "sink.constraint")
    pipeline.connect("decomposer.content", "sink.content")
    result = pipeline.run({"decomposer": {"query": "Who won the league as of 2016?"}})
    assert result["sink"] == {"relation": "as_of", "content": "Who won the league?"}
    again = Pipeline.from_dict(pipeline.to_dict(), allowed_modules=["chronorag.*", "test_query_decomposer"])
    assert again.get_component("decomposer").default_as_of == "2022-06-15"
