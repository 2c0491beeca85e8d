"""Answer spans of a parsed passage: the names, dates, numbers and phrases a question can be answered with.

Shared by the readers (`ExtractiveAnswerer`, `AnswerTimeline`): spaCy entities with the pieces of one
name joined, noun chunks where no entity fits, the predicate of "what did X do" questions, and the
clean-ups the answer needs (possessives, surnames completed to full names).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from haystack import default_from_dict

from chronorag.models import get_spacy
from chronorag.pipeline.evidence import ANSWER_LABELS, Sentence, format_interval

_YEAR = re.compile(r"1[0-9]{3}|20[0-9]{2}")
# Prepositions whose object is a time: dropped from an action phrase ("cut rates ... on Wednesday").
_TIME_PREPOSITIONS = {"on", "in", "at", "during", "since", "until", "till", "by", "before", "after", "from"}
_TEXT_KEY = "chronorag_text"  # Doc.user_data key of the cached text (doc_text)


class SpacyPassageReader:
    """What the span readers share: how many top passages they read, their spaCy model (loaded in
    `warm_up`) and deserialisation. Subclasses are Haystack components with their own `to_dict`."""

    def __init__(self, max_passages: int = 3, spacy_model: str = "default") -> None:
        """
        :param max_passages: how many top passages are read for candidates.
        :param spacy_model: `"default"` (`chronorag.models.get_spacy`'s model) or a spaCy package name.
        """
        self.max_passages = max_passages
        self.spacy_model = spacy_model
        self._nlp: Any = None

    def warm_up(self) -> None:
        """Load (or reuse) the spaCy pipeline."""
        if self._nlp is None:
            self._nlp = get_spacy(None if self.spacy_model == "default" else self.spacy_model)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        """
        Deserialise the component.

        :param data: the output of `to_dict`.
        :returns: the component.
        """
        return default_from_dict(cls, data)


@dataclass
class Span:
    """A candidate answer span of a passage: its text, entity label and character offsets."""

    text: str
    label: str
    char_start: int
    char_end: int
    rank: tuple[int, int] = (1, 99)  # (0 when it names the asked noun, the label's preference)


def typed_spans(
    parsed: Any,
    kind: str,
    question_words: set[str],
    sentences: list[Sentence],
    nouns: set[str],
    chunks: str = "fallback",
) -> list[Span]:
    """
    The spans of the asked type, best label first, then in text order; the question's own names skipped.

    :param parsed: the spaCy `Doc` of the passage.
    :param kind: the question type (`chronorag.pipeline.evidence.question_type`).
    :param question_words: lower-case words of the question (its subject is not its answer).
    :param sentences: the passage's sentences (`split_sentences`).
    :param nouns: the question's type nouns (`question_nouns`): a span naming one ranks first.
    :param chunks: for person, organisation and other entity questions, `"fallback"` adds noun chunks
        only when no entity fits, `"always"` lets them compete (ranked after the entities).
    :returns: the spans.
    """
    if kind == "action":
        return [replace(span, rank=(1, 0)) for span in action_spans(parsed, question_words)]
    labels = ANSWER_LABELS[kind]
    if kind == "date":
        found = [
            Span(date_text(parsed, sentence), "DATE", sentence.char_start, sentence.char_end)
            for sentence in sentences
            if sentence.intervals and not sentence.inherited
        ]
        return [span for span in found if span.text]
    spans = []
    for ent in merged_entities(parsed):
        if ent.label not in labels:
            continue
        words = {word.lower() for word in ent.text.replace(",", " ").split()}
        if words and words <= question_words:
            continue  # the question's own subject is not its answer
        spans.append(ent)
    if kind in ("org", "entity", "person") and (chunks == "always" or not spans):
        # Noun phrases answer "what position/title" questions, which name no entity.
        spans.extend(noun_chunks(parsed, question_words, skip=spans))
    for span in spans:
        # "what university" -> "Seoul National University": a span naming the asked noun ranks first.
        span.rank = (0 if nouns & set(span.text.lower().split()) else 1, label_rank(span.label, labels))
    return sorted(spans, key=lambda span: span.rank)


def label_rank(label: str, labels: tuple[str, ...]) -> int:
    """The position of `label` among the asked type's labels (unknown labels last)."""
    return labels.index(label) if label in labels else len(labels)


def span_type_fit(span: Span, kind: str) -> float:
    """How surely a span is of the asked type, in [0, 0.5]: naming the asked noun counts most, then the
    label's rank."""
    names_noun, rank = span.rank
    labels = ANSWER_LABELS.get(kind, ())
    by_label = 1.0 - 0.5 * rank / max(1, len(labels))
    return 0.5 * (1.0 if names_noun == 0 else 0.7 * by_label)


def strip_possessive(answer: str, texts: list[str]) -> str:
    """Strip a possessive: "Chelsea's" -> "Chelsea"; also "Chelseas" where a text lost its apostrophes
    (as TimeQA's did) and the bare name is written elsewhere in the read passages."""
    for suffix in ("'s", "\u2019s"):
        if answer.endswith(suffix):
            return answer[: -len(suffix)]
    words = answer.split()
    if not words or len(words[-1]) < 4 or not words[-1].endswith("s") or not words[-1][0].isupper():
        return answer
    stem = answer[:-1]
    bare = re.compile(rf"\b{re.escape(stem)}\b")
    return stem if any(bare.search(text) for text in texts) else answer


def full_name(answer: str, names: list[str]) -> str:
    """A surname alone ("Henn") becomes the full name the passages give ("Jürgen Henn")."""
    if " " in answer or not answer[:1].isupper():
        return answer
    longer = [name for name in names if name.endswith(" " + answer) and len(name.split()) <= 4]
    return max(longer, key=len) if longer else answer


def doc_text(parsed: Any) -> str:
    """The parsed text, kept with the parse: spaCy's `Doc.text` joins every token again on each read, and
    the timeline slices it hundreds of times a passage (half of a cold answer rerank went to that)."""
    text = parsed.user_data.get(_TEXT_KEY)
    if text is None:
        text = parsed.user_data[_TEXT_KEY] = parsed.text
    return text


def date_text(parsed: Any, sentence: Sentence) -> str:
    """The first DATE entity inside the sentence, else its formatted time span."""
    for ent in parsed.ents:
        if ent.label_ == "DATE" and sentence.char_start <= ent.start_char < sentence.char_end:
            return ent.text
    return format_interval(sentence.intervals[0]) if sentence.intervals else ""


def merged_entities(parsed: Any) -> list[Span]:
    """spaCy entities, with the pieces of one name joined: "University of Arizona , Tucson" (ORG , GPE),
    "Hunter-Lehman College of the City University of New York" (ORG of ORG), "Patrol Squadron 14-F"
    (ORG followed by a code the tagger calls PRODUCT or CARDINAL)."""
    ents = list(parsed.ents)
    merged: list[Span] = []
    index = 0
    while index < len(ents):
        ent = ents[index]
        span = Span(ent.text, ent.label_, ent.start_char, ent.end_char)
        while index + 1 < len(ents) and _joins(span, ents[index + 1], doc_text(parsed)):
            following = ents[index + 1]
            span = Span(
                doc_text(parsed)[span.char_start : following.end_char],
                span.label,
                span.char_start,
                following.end_char,
            )
            index += 1
        merged.append(_closed(_without_article(_without_dangling(_with_name_tail(span, parsed)))))
        index += 1
    return [span for span in merged if span.text]


# Words that join the proper nouns of one name ("High Commissioner for Refugees", "Vale of Rheidol").
_NAME_JOINERS = {"of", "for", "&"}


def _with_name_tail(span: Span, parsed: Any) -> Span:
    """An organisation extended over the untagged proper nouns right after it, which the tagger left out
    of the name: "United Nations" + "High Commissioner for Refugees". Joiners ("of", "for", "&") count only
    between proper nouns; any other word, a tagged token or a lower-case word ends the name."""
    if span.label not in ("ORG", "FAC"):
        return span
    tokens = parsed.char_span(span.char_start, span.char_end, alignment_mode="expand")
    if tokens is None:
        return span
    end, index = None, tokens.end
    while index < len(parsed):
        token = parsed[index]
        if token.ent_type_ or (not token.text[:1].isupper() and token.lower_ not in _NAME_JOINERS):
            break
        if token.lower_ in _NAME_JOINERS:
            if index == tokens.end and not tokens.text.split()[-1][:1].isupper():
                break  # "the Vale of" + joiner: nothing proper to join yet
        elif token.pos_ == "PROPN":
            end = token.idx + len(token.text)
        else:
            break
        index += 1
    if end is None:
        return span
    return Span(doc_text(parsed)[span.char_start : end], span.label, span.char_start, end, span.rank)


def _without_dangling(span: Span) -> Span:
    """The span without the joiners it ends in when nothing was joined after them: the tagger's "the
    Chicago Bulls of the" (before "NBA", a name of its own) -> "the Chicago Bulls"."""
    kept = re.sub(r"(?:\s+(?:of|for|the|and|&))+\s*$", "", span.text, flags=re.IGNORECASE)
    if kept == span.text or not kept:
        return span
    return Span(kept, span.label, span.char_start, span.char_start + len(kept), span.rank)


def _closed(span: Span) -> Span:
    """The span without an unclosed bracket and what follows it: a name joined to a code whose closing
    bracket lies outside ("Patrol Squadron 52 ( VP-52" -> "Patrol Squadron 52")."""
    opened = span.text.rfind("(")
    if opened < 0 or span.text.find(")", opened) >= 0:
        return span
    kept = span.text[:opened].rstrip(" ,;:-–—")
    return Span(kept, span.label, span.char_start, span.char_start + len(kept), span.rank)


def _without_article(span: Span) -> Span:
    """The span without a leading article or list dash: "the Illinois Army National Guard" -> "Illinois
    Army National Guard", "- Andrzej Klesyk" -> "Andrzej Klesyk"."""
    match = re.match(r"(?i)(?:[-–—•*]\s*)?(?:the\s+)?", span.text)
    if not match or not match.end() or len(span.text) <= match.end():
        return span
    return Span(span.text[match.end() :], span.label, span.char_start + match.end(), span.char_end, span.rank)


def _joins(span: Span, following: Any, text: str) -> bool:
    between = text[span.char_end : following.start_char].strip().lower()
    if span.label == "PERSON":
        # "Prince Leopold of Bavaria", "Catherine of Aragon": a title of a place is part of the name.
        return between == "of" and following.label_ in ("GPE", "LOC")
    if span.label == "GPE" and between == ",":
        # "Madison , Indiana", "Dakar, Senegal": a place and the larger place it lies in.
        return following.label_ == "GPE"
    if span.label not in ("ORG", "FAC"):
        return False
    if between == "" and span.text.split()[-1].lower() in _NAME_JOINERS:
        # "the Vale of" + "Rheidol Railway": the tagger cut one name in two at its joiner.
        return following.label_ not in ("DATE", "TIME", "CARDINAL", "ORDINAL", "MONEY", "PERCENT")
    if between == ",":
        return following.label_ == "GPE"
    if between in ("of", "of the"):
        return following.label_ in ("ORG", "GPE", "FAC")
    return between == "" and following.label_ in ("PRODUCT", "CARDINAL")


def noun_chunks(parsed: Any, question_words: set[str], skip: list[Span] | None = None) -> list[Span]:
    """
    Noun phrases not made of question words and not overlapping `skip`: the answer of "what position
    did X hold" questions.

    :param parsed: the spaCy `Doc`.
    :param question_words: lower-case words of the question.
    :param skip: spans already found (entities); chunks overlapping them are left out.
    :returns: the chunks as spans labelled `NOUN_CHUNK`.
    """
    if not parsed.has_annotation("DEP"):
        return []
    taken = [(span.char_start, span.char_end) for span in skip or []]
    chunks = []
    for chunk in parsed.noun_chunks:
        words = {word.lower() for word in chunk.text.split()}
        if chunk.root.pos_ in ("PRON", "NUM") or words <= question_words:
            continue
        if any(token.ent_type_ in ("DATE", "TIME") or _YEAR.fullmatch(token.text) for token in chunk):
            continue
        if any(start < chunk.end_char and chunk.start_char < end for start, end in taken):
            continue
        tokens = [token for token in chunk if token.dep_ not in ("det", "poss")]
        if not tokens:
            continue
        start, end = tokens[0].idx, tokens[-1].idx + len(tokens[-1].text)
        span = _closed(_without_article(Span(doc_text(parsed)[start:end], "NOUN_CHUNK", start, end)))
        if span.text:
            chunks.append(span)
    return chunks


def action_spans(parsed: Any, question_words: set[str]) -> list[Span]:
    """
    The predicates of a passage, for "what did X do" questions: each verb with its objects and
    complements, without its subject and its time phrases ("The central bank cut interest rates by half
    a point on Wednesday" -> "cut interest rates by half a point").

    :param parsed: the spaCy `Doc`.
    :param question_words: lower-case words of the question (a verb the question already uses, such as
        "do", is no answer).
    :returns: spans labelled `ACTION`.
    """
    if not parsed.has_annotation("DEP"):
        return []
    spans = []
    for token in parsed:
        if token.pos_ != "VERB" or token.dep_ not in ("ROOT", "conj", "ccomp", "xcomp"):
            continue
        if token.lemma_.lower() in ("do", "say", "tell", "announce") and token.dep_ == "ROOT":
            continue  # reporting verbs: the action is their complement, a verb of its own
        kept = [token]
        for child in token.children:
            if child.dep_ in ("dobj", "dative", "attr", "prt", "acomp", "oprd", "neg") or (
                child.dep_ in ("prep", "agent") and not _is_time_phrase(child)
            ):
                kept.extend(child.subtree)
        kept = sorted({t.i: t for t in kept}.values(), key=lambda t: t.i)
        start, end = _contiguous(kept, token)
        text = doc_text(parsed)[parsed[start].idx : parsed[end].idx + len(parsed[end].text)]
        if len(text.split()) < 2 or set(text.lower().split()) <= question_words:
            continue
        spans.append(Span(text, "ACTION", parsed[start].idx, parsed[end].idx + len(parsed[end].text)))
    return spans


def _is_time_phrase(prep: Any) -> bool:
    """A prepositional phrase naming a time ("on Wednesday", "in 2019", "last week")."""
    if prep.lower_ not in _TIME_PREPOSITIONS:
        return False
    return any(token.ent_type_ in ("DATE", "TIME") for token in prep.subtree)


def _contiguous(tokens: list[Any], verb: Any) -> tuple[int, int]:
    """The longest run of consecutive token indices around the verb (an action phrase is one stretch)."""
    indices = [token.i for token in tokens]
    position = indices.index(verb.i)
    start = end = position
    while start > 0 and indices[start - 1] == indices[start] - 1:
        start -= 1
    while end + 1 < len(indices) and indices[end + 1] == indices[end] + 1:
        end += 1
    last = end
    while last > position and tokens[last].is_punct:
        last -= 1
    return indices[start], indices[last]
