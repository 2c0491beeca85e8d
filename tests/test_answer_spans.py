"""Answer spans: spaCy entities with the pieces of one name joined (the real spaCy model)."""

from __future__ import annotations

import pytest

from chronorag.models import get_spacy
from chronorag.pipeline.answer_spans import merged_entities


@pytest.fixture(scope="module")
def nlp():
    return get_spacy(None)


def _names(nlp, text: str) -> list[tuple[str, str]]:
    return [(span.text, span.label) for span in merged_entities(nlp(text))]


def test_run_organisation_extended_over_untagged_proper_nouns(nlp) -> None:
    # The tagger stops at "United Nations"; the office's name runs on to "Refugees".
    text = (
        "He served as United Nations High Commissioner for Refugees "
        "from 1 January 2001 until 20 February 2005 ."
    )
    names = _names(nlp, text)
    assert ("United Nations High Commissioner for Refugees", "ORG") in names
    assert not any(name == "United Nations" for name, _ in names)


def test_run_name_cut_at_its_joiner_is_joined(nlp) -> None:
    # spaCy reads "the Vale of" as one name and "Rheidol Railway" as another.
    names = _names(nlp, "The locomotive was owned by the Vale of Rheidol Railway from 1902 .")
    assert ("Vale of Rheidol Railway", "ORG") in names


def test_run_name_ends_at_a_capitalised_function_word(nlp) -> None:
    # A sentence that lost its full stop: "In" starts the next clause, it is no part of the name.
    names = [name for name, _ in _names(nlp, "She worked at Google In 2004 she left for Yahoo .")]
    assert "Google" in names
    assert not any(name.startswith("Google In") for name in names)


def test_run_joiner_without_a_following_proper_noun_is_not_taken(nlp) -> None:
    names = [name for name, _ in _names(nlp, "He worked for IBM for three years in Zurich .")]
    assert "IBM" in names
    assert not any(name.startswith("IBM for") for name in names)


def test_run_dangling_joiners_are_dropped(nlp) -> None:
    # spaCy tags "the Chicago Bulls of the" and "NBA" apart: the team is "Chicago Bulls".
    text = (
        "The Stadium hosted the Chicago Blackhawks of the NHL from 1929 to 1994 "
        "and the Chicago Bulls of the NBA from 1967 to 1994 ."
    )
    names = [name for name, _ in _names(nlp, text)]
    assert not any(name.endswith((" of the", " of")) for name in names)
    assert "Chicago Bulls" in names
