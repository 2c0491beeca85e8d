"""One set of meta keys: the source title and the passage text every layer reads
(`chronorag.temporal.meta`)."""

from __future__ import annotations

from haystack import Document

from chronorag.temporal import meta


def test_source_title_is_stripped_and_empty_when_absent() -> None:
    assert meta.source_title({"title": "  Sabine Hossenfelder "}) == "Sabine Hossenfelder"
    assert meta.source_title({"title": None}) == ""
    assert meta.source_title(None) == ""


def test_passage_text_prefixes_the_title_once() -> None:
    titled = Document(content="She moved to Tucson.", meta={meta.TITLE: " Sabine Hossenfelder"})
    assert meta.passage_text(titled) == "Sabine Hossenfelder. She moved to Tucson."
    assert meta.passage_text(Document(content="He said so.", meta={})) == "He said so."
    assert meta.passage_text(Document(content=None, meta={meta.TITLE: "Page"})) == "Page. "


def test_the_indexers_and_the_rankers_read_the_same_passage_text() -> None:
    from chronorag.indexers import passage_text as indexed
    from chronorag.rankers.semantic_scoring import passage_text as ranked

    assert indexed is ranked is meta.passage_text
