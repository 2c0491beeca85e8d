"""The question's subject as a relevance check on titled sources.

On a corpus of many topics a titled paragraph about another subject can outscore the evidence by its
wording and its dates ("Fred Hoiberg was the coach of which team between 2016 and 2017?" ranked a page on
FCI Levadia Tallinn first). A question names its subject with capitalised words ("Fred Hoiberg"); a
*source* (all the candidates sharing a title) none of whose candidates writes any of those names, in its
title or text, is about something else. Its passages go after every passage of a source that names the
subject and every untitled passage (an untitled evidence sentence may say "he": nothing is known about its
subject, so it is not judged).

The source, not the passage, is the unit: a page about Helsingin Sanomat whose passage says "editor until
May 2013" does not name "Finland", but another of its passages does, and the page stays on-subject.
The words of the places, nationalities and dates in the question are its setting, not its subject: "the
president of the United States in 1999" asks about a president, and a passage about Bill Clinton need
not repeat the country.
Measured on the shipped rankings, on and off (`benchmarks/subject_check.py` ->
`benchmarks/results/subject_check.json`): TimeQA train over train + dev pages 68.6 -> 69.1 AR@1, the
TempRAGEval-like corpus built from train 65.7 -> 66.4, TimeQA dev level (63.0), the TempRAGEval draft
67.9 -> 75.4; RealTimeQA pooled level (44.6; `chronorag-no-subject-check`), where, before sentence-opening
words were ruled out as names, it cost 0.9.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence

_WORD = re.compile(r"[^\W\d_][\w'’.-]*")
_POSSESSIVE = re.compile(r"['’]s$")
# Capitalised words that name no subject: question words, sentence starts, months and days.
_NOT_NAMES = {
    "who", "what", "which", "when", "where", "how", "why", "whom", "whose", "the", "a", "an", "in", "on",
    "at", "as", "of", "for", "did", "does", "do", "was", "were", "is", "are", "i", "from", "since", "name",
    "during", "after", "before", "until", "between", "by", "to", "list", "give", "tell", "prior",
    "following", "and", "or", "january", "february", "march", "april", "may", "june", "july", "august",
    "september", "october", "november", "december", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep",
    "sept", "oct", "nov", "dec", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
    "sunday",
}  # fmt: skip


@functools.lru_cache(maxsize=4096)
def fold(text: str) -> str:
    """Lower case without accents ("Conceição" -> "conceicao"): names are matched on this form. Cached:
    the ranker folds the same candidate passages question after question.

    :param text: any text.
    :returns: the folded text.
    """
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char)).lower()


def question_names(question: str) -> set[str]:
    """
    The names a question gives its subject: its capitalised words, folded, without possessives, question
    words, months and days ("Where was Kizzmekia Corbett educated in May 2002?" -> {"kizzmekia",
    "corbett"}), and without the words of places, nationalities and dates spaCy finds in it: "Who was the
    president of the United States in 1999?" names a country as the setting, not the subject, and a
    passage about Bill Clinton need not repeat it. A word that opens a sentence is capitalised whatever it
    is: it counts only when spaCy tags it a proper noun or puts it in a naming entity ("Approximately how
    many ...?" names nothing; "Roger Moore had which wife ...?" names {"roger", "moore"}).

    :param question: the question as asked.
    :returns: the folded names (empty for a question in lower case).
    """
    return set(_question_names(question))


@functools.lru_cache(maxsize=1024)
def _question_names(question: str) -> frozenset[str]:
    """`question_names`, cached: the ranker is run again on the same question (streaming, retries, evals)."""
    setting, named = _entity_words(question)
    names = set()
    for match in _WORD.finditer(question):
        word = _POSSESSIVE.sub("", match.group()).strip(".'’-")
        if word in setting or match.group() in setting:
            continue  # "Russia’s": the possessive is cut before the setting is looked up
        if _opens_sentence(question, match.start()) and word not in named:
            continue  # capitalised because it starts a sentence ("Approximately how many ...?")
        folded = fold(word)
        if len(word) > 1 and word[:1].isupper() and folded not in _NOT_NAMES:
            names.add(folded)
    return frozenset(names)


# Entities that set the scene of a question rather than name its subject.
_SETTING_LABELS = {"GPE", "LOC", "NORP", "DATE", "TIME"}
# Entities that name a subject ("Matt Hancock", "Chelsea F.C.", "Lost in Math").
_NAMING_LABELS = {"PERSON", "ORG", "FAC", "PRODUCT", "EVENT", "WORK_OF_ART", "LAW", "LANGUAGE"}
_SENTENCE_END = re.compile(r"[.!?:;]['\"’”)]*\s*$")


def _opens_sentence(text: str, start: int) -> bool:
    """Whether the word at `start` is the first of the text or of a sentence in it (after opening quotes)."""
    before = text[:start].rstrip(" \t\n\"'“‘(")
    return not before or bool(_SENTENCE_END.search(before))


def _entity_words(question: str) -> tuple[set[str], set[str]]:
    """The words of the question's place, nationality and date entities, and the words that name something
    (in a naming entity: people, organisations, works..., or tagged a proper noun), by spaCy's small English
    model. A word that opens a sentence counts as a name only when it is one of the latter: every
    sentence's first word is capitalised ("Approximately how many ...?")."""
    from chronorag.models import get_spacy

    nlp = get_spacy()
    # The entities and the fine-grained tags only: the parser and lemmatizer would cost more for nothing.
    keep = ("tok2vec", "tagger", "ner")
    parsed = nlp(question, disable=[name for name in nlp.pipe_names if name not in keep])
    setting = {token.text for ent in parsed.ents if ent.label_ in _SETTING_LABELS for token in ent}
    named = {token.text for ent in parsed.ents if ent.label_ in _NAMING_LABELS for token in ent}
    named |= {token.text for token in parsed if token.tag_ in ("NNP", "NNPS")}
    return setting, named


def names_any(names: set[str], text: str) -> bool:
    """
    Whether a text writes one of the names (a plural "Lindberghs" is matched by "Lindbergh"; a name inside a
    word, "Borsod" in "BorsodChem", counts).

    :param names: folded names (:func:`question_names`).
    :param text: the text (folded here).
    :returns: whether any is written.
    """
    folded = fold(text)
    return any(name in folded or (name.endswith("s") and name[:-1] in folded) for name in names)


def off_subject_sources(names: set[str], titles: Sequence[str], texts: Sequence[str]) -> set[str]:
    """
    The titles of the candidate sources that name none of the question's names in any of their candidates'
    titles or texts.

    :param names: the question's names (empty: no source is off-subject).
    :param titles: each candidate's title ("" for an untitled one, never judged).
    :param texts: each candidate's text.
    :returns: the off-subject titles.
    """
    if not names:
        return set()
    titled = {title for title in titles if title}
    on = {title for title in titled if names_any(names, title)}
    for title, text in zip(titles, texts, strict=True):
        if title and title not in on and names_any(names, text):
            on.add(title)  # one candidate naming the subject puts its whole source on-subject
    return titled - on
