"""Typed request and response models of the REST API; they are the OpenAPI schema.

Ceilings (question length, ``top_k``, batch size) are stated here so clients see them in the schema;
the server's settings may lower them further (checked in the routes, same 422 error shape).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from chronorag.api.settings import (
    MAX_BATCH_DOCUMENTS,
    MAX_DOCUMENT_CHARS,
    MAX_ID_CHARS,
    MAX_QUESTION_CHARS,
    MAX_TOP_K,
)
from chronorag.temporal.grammar import MAX_YEAR, MIN_YEAR  # the years the temporal parser accepts

Scalar = str | int | float | bool | None
_FIELD_PATTERN = r"^(id|content|meta\.[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*)$"
_META_FIELD_PATTERN = r"^meta\.[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"


class _Strict(BaseModel):
    # Unknown fields are refused: a typo such as "topk" must fail loudly, not be silently ignored.
    model_config = ConfigDict(extra="forbid")


# --- filters --------------------------------------------------------------------------------------
# Haystack filter syntax, typed by operator so that a filter the schema accepts has the right kind of value.
# Whether it applies still depends on the stored values (`meta.title > 5` compares a string with a number):
# such filters are answered 400 `invalid_filters`.
class EqualityFilter(_Strict):
    """``==`` / ``!=``, e.g. ``{"field": "meta.title", "operator": "==", "value": "Chelsea"}``."""

    field: str = Field(
        max_length=200, pattern=_FIELD_PATTERN, description="`id`, `content` or `meta.<name>`."
    )
    operator: Literal["==", "!="]
    value: Scalar


class RangeFilter(_Strict):
    """``>``, ``>=``, ``<``, ``<=`` on a metadata field, with a number or an ISO date."""

    field: str = Field(max_length=200, pattern=_META_FIELD_PATTERN, description="`meta.<name>`.")
    operator: Literal[">", ">=", "<", "<="]
    value: float | Annotated[str, StringConstraints(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}")] = Field(
        description="A number, or an ISO date such as `2015-06-30`."
    )


class MembershipFilter(_Strict):
    """``in`` / ``not in`` a list of values."""

    field: str = Field(
        max_length=200, pattern=_FIELD_PATTERN, description="`id`, `content` or `meta.<name>`."
    )
    operator: Literal["in", "not in"]
    value: list[Scalar] = Field(max_length=100)


class LogicFilter(_Strict):
    """``{"operator": "AND" | "OR" | "NOT", "conditions": [...]}``."""

    operator: Literal["AND", "OR", "NOT"]
    conditions: list[Filter] = Field(min_length=1, max_length=32)


Filter = Annotated[
    EqualityFilter | RangeFilter | MembershipFilter | LogicFilter, Field(discriminator="operator")
]

_FILTER_EXAMPLE = {"field": "meta.title", "operator": "==", "value": "Sabine Hossenfelder"}


# --- questions ------------------------------------------------------------------------------------
class QuestionRequest(_Strict):
    """A question and when it is asked."""

    question: str = Field(
        min_length=1,
        max_length=MAX_QUESTION_CHARS,
        pattern=r"\S",
        description="The question in English, at most 2,000 characters, not only spaces.",
        examples=["Which university did Sabine Hossenfelder work for from 2006 to 2009?"],
    )
    as_of: date | None = Field(
        default=None,
        ge=date(MIN_YEAR, 1, 1),
        le=date(MAX_YEAR, 12, 31),
        description=f"The question's 'now' (ISO date, years {MIN_YEAR}-{MAX_YEAR}); passages published later "
        "are not used. Default: today.",
        examples=["2015-06-30"],
        # JSON Schema cannot bound a date: the pattern states the year range for clients and fuzzers.
        json_schema_extra={"pattern": r"^(1[0-9]{3}|20[0-9]{2}|2100)-"},
    )


class DecomposeRequest(QuestionRequest):
    """``POST /v1/decompose``: a question to split into content and time constraint."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"question": "Who was the coach of Chelsea before 2011?", "as_of": "2020-01-01"}]
        }
    )


class RetrieveRequest(QuestionRequest):
    """``POST /v1/retrieve``: retrieval and ranking only, no LLM."""

    top_k: int | None = Field(default=None, ge=1, le=MAX_TOP_K, description="Passages to return (1-100).")
    filters: Filter | None = Field(default=None, description="A Haystack metadata filter.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "question": "Which university did Sabine Hossenfelder work for from 2006 to 2009?",
                    "top_k": 5,
                    "filters": _FILTER_EXAMPLE,
                }
            ]
        }
    )


class AskRequest(RetrieveRequest):
    """``POST /v1/ask``: retrieval, ranking and an answer; ``stream: true`` answers as server-sent events."""

    stream: bool = Field(default=False, description="Stream the answer's tokens as server-sent events.")
    choices: list[Annotated[str, StringConstraints(min_length=1, max_length=300)]] | None = Field(
        default=None,
        min_length=2,
        max_length=8,
        description="Options of a multiple-choice question: the answer is one of them (the one the "
        "passages support best, else the one the LLM names); `choice` in the answer says which and why.",
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "question": "Which university did Sabine Hossenfelder work for from 2006 to 2009?",
                    "as_of": "2020-01-01",
                    "top_k": 5,
                    "stream": False,
                }
            ]
        }
    )


# --- answers --------------------------------------------------------------------------------------
class IntervalOut(BaseModel):
    """An interval of days (``Interval.to_dict()``)."""

    start: str | None = Field(description="First day (ISO), null when open.")
    end: str | None = Field(description="Last day (ISO), null when open.")
    granularity: str = Field(description="day, week, month, season, quarter, year, decade or century.")


class AnchorOut(BaseModel):
    """The event a question is anchored to instead of a date, and how it was dated.

    ``EventAnchor.to_dict()``.
    """

    text: str = Field(
        description="The event as written in the question.", examples=["the new stadium opened"]
    )
    cue: str = Field(description="The word(s) that introduced it.", examples=["when"])
    resolved: IntervalOut | None = Field(
        default=None, description="The event's interval as found in the store; null when not resolved."
    )
    fallback: IntervalOut | None = Field(
        default=None, description="The date written inside the anchor ('the 2020 crash': 2020), if any."
    )
    source_id: str | None = Field(default=None, description="The passage the event was dated from.")
    evidence: str | None = Field(default=None, description="The sentence that dates the event.")
    how: str | None = Field(default=None, description="How the event was dated, or why it was not.")


class ConstraintOut(BaseModel):
    """The decomposed question: ``TemporalConstraint.to_dict()``."""

    question: str
    content: str = Field(description="The question with its time phrase removed.")
    relation: str = Field(description="before, after, in, between, as_of, since, until, on, around or none.")
    start: str | None = Field(description="First day of the constraint interval (ISO), null when open.")
    end: str | None = Field(description="Last day of the constraint interval (ISO), null when open.")
    granularity: str | None = None
    ordinal: str | None = Field(default=None, description="first, earliest, last, latest or nth.")
    nth: int | None = None
    reference_time: str = Field(description="The question's 'now' (ISO).")
    time_text: str | None = Field(default=None, description="The time phrase removed from the question.")
    notes: list[str] = Field(
        default_factory=list,
        description="What happened on the way that a user should know: no content words, no passage "
        "fitting the asked time, no dated passage, every candidate published after the reference time.",
    )
    anchor: AnchorOut | None = Field(
        default=None,
        description="The event the question is anchored to ('when the new stadium opened'); null when none.",
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "question": "Who was the coach of Chelsea before 2011?",
                    "content": "Who was the coach of Chelsea?",
                    "relation": "before",
                    "start": None,
                    "end": "2010-12-31",
                    "granularity": "year",
                    "ordinal": None,
                    "nth": None,
                    "reference_time": "2020-01-01",
                    "time_text": "before 2011",
                    "anchor": None,
                },
                {
                    "question": "Who chaired the council when the new stadium opened?",
                    "content": "Who chaired the council?",
                    "relation": "in",
                    "start": "2019-05-01",
                    "end": "2019-05-31",
                    "granularity": "month",
                    "ordinal": None,
                    "nth": None,
                    "reference_time": "2024-01-01",
                    "time_text": "when the new stadium opened",
                    "anchor": {
                        "text": "the new stadium opened",
                        "cue": "when",
                        "resolved": {"start": "2019-05-01", "end": "2019-05-31", "granularity": "month"},
                        "fallback": None,
                        "source_id": "stadium#0",
                        "evidence": "The new stadium opened in May 2019 with a friendly match.",
                        "how": "dated by 'May 2019' in the sentence that best describes it "
                        "(similarity 0.72, relevance 0.87)",
                    },
                },
            ]
        }
    )


class MatchedSpan(BaseModel):
    """The time span of a passage that the ranker matched to the question's constraint."""

    text: str | None = Field(default=None, examples=["2016–2018"])
    start: str | None = Field(default=None, description="First day (ISO), null when open.")
    end: str | None = Field(default=None, description="Last day (ISO), null when open.")


class AnswerRerank(BaseModel):
    """Why the answer reranker put a passage first: none of the first passage's candidate answers held
    for the asked time, and this passage, of the same source, holds the timeline's best."""

    from_rank: int = Field(description="Its rank before the move.", examples=[3])
    answer: str = Field(description="The candidate answer it holds.", examples=["Thomas Cook Group"])
    time: str | None = Field(default=None, description="When that answer holds.", examples=["2007 to 2019"])
    fit: float = Field(description="That answer's fit to the asked time.", examples=[1.0])
    first_fit: float = Field(description="The best fit of the first passage's candidates.", examples=[0.6])


class Citation(BaseModel):
    """A passage the answer rests on."""

    id: str = Field(examples=["/wiki/Sabine_Hossenfelder#5"])
    title: str = Field(examples=["Sabine Hossenfelder"])
    date: str | None = Field(description="Publication date (ISO) when known.")
    snippet: str = Field(description="The passage text, shortened.")
    score: float | None = Field(description="Combined semantic-temporal score in [0, 1].")
    semantic_score: float | None = None
    temporal_score: float | None = None
    matched_span: MatchedSpan | None = Field(
        default=None, description="The mentioned time span that fits the question (the date of undated text)."
    )
    answer_rerank: AnswerRerank | None = Field(
        default=None, description="Set when the answer reranker moved this passage first, saying why."
    )


class CitedPassage(BaseModel):
    """A passage the answer text cites as [n]."""

    n: int = Field(description="The number the answer cites it by (its rank among the citations).")
    id: str
    title: str
    date: str | None = None


class TimelineEntryOut(BaseModel):
    """A candidate answer of the evidence with the interval it holds."""

    answer: str
    passage: int = Field(description="The passage ([n]) it is read from.")
    holds: dict[str, str | None] | None = Field(default=None, description="{start, end} (ISO; null = open).")
    time: str | None = Field(default=None, description="The held interval in words.")
    role: str = Field(description="What the written time marks: range, start, end, point, inherited, ...")
    fit: float = Field(description="How well what it holds fits the asked time, in [0, 1].")

    model_config = ConfigDict(extra="ignore")


class ReaderVerdict(BaseModel):
    """What the LLM read in the passages and whether the answer timeline let it stand."""

    reader_answer: str | None = Field(default=None, description="The answer the LLM named, if any.")
    matched: str | None = Field(default=None, description="The timeline candidate it names, if any.")
    accepted: bool = Field(description="True when it holds for the asked time and is the answer.")
    reason: str = Field(description="Why it was accepted or overruled.")

    model_config = ConfigDict(extra="ignore")


class ChoiceOut(BaseModel):
    """The option a multiple-choice answer chose."""

    index: int = Field(description="Its position in `choices`, from 0.")
    letter: str = Field(description="Its letter in the prompt (A, B, ...).")
    option: str = Field(description="The option's text.")
    by: str = Field(
        description="'evidence' (a passage writes it), 'reader' (the LLM named it) or 'timeline' "
        "(the answer timeline's choice)."
    )


class AskResponse(BaseModel):
    """The answer, its citations, the question's decomposition and per-stage timings."""

    answer: str
    short_answer: str | None = Field(default=None, description="The chosen answer alone; null on abstention.")
    abstained: bool = Field(
        default=False, description="True when the evidence gives no answer for the asked time."
    )
    abstention_reason: str | None = Field(default=None, description="Why the answer abstains.")
    cited: list[CitedPassage] = Field(default_factory=list, description="The passages the answer cites.")
    reply_replaced: bool = Field(
        default=False,
        description="True when the LLM's reply was replaced (it dropped the answer, cited "
        "nothing or invented) by the chosen answer with its passage and time.",
    )
    replacement_reason: str | None = None
    reader: ReaderVerdict | None = Field(
        default=None,
        description="With answer_mode 'read': the LLM's own answer and the arbiter's verdict on it.",
    )
    timeline: list[TimelineEntryOut] = Field(
        default_factory=list, description="Candidate answers of the evidence with the intervals they hold."
    )
    choice: ChoiceOut | None = Field(default=None, description="With `choices`: the option chosen.")
    citations: list[Citation]
    constraint: ConstraintOut
    timings_ms: dict[str, float] = Field(description="Milliseconds per stage and in total.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "answer": "Perimeter Institute, Canada",
                    "citations": [
                        {
                            "id": "/wiki/Sabine_Hossenfelder#5",
                            "title": "Sabine Hossenfelder",
                            "date": None,
                            "snippet": "From 2006 to 2009 she was at the Perimeter Institute , Canada ...",
                            "score": 0.82,
                            "semantic_score": 0.71,
                            "temporal_score": 1.0,
                        }
                    ],
                    "constraint": ConstraintOut.model_config["json_schema_extra"]["examples"][0],
                    "timings_ms": {"retrieve": 21.5, "generate": 3.2, "total": 25.1},
                }
            ]
        }
    )


class RetrieveResponse(BaseModel):
    """The evidence without an answer: the ``/v1/ask`` shape minus ``answer`` (no LLM is called)."""

    citations: list[Citation] = Field(description="The ranked passages, best first.")
    constraint: ConstraintOut
    timings_ms: dict[str, float] = Field(description="Milliseconds per stage and in total.")


# --- documents ------------------------------------------------------------------------------------
class DocumentIn(BaseModel):
    """A raw document to ingest: it is split into passages, dated and embedded by the indexers.

    Shape errors (a missing ``text``, a number as ``title``) refuse the whole request with 422;
    content errors (empty text, an unreadable date, a duplicate id) reject only that document.
    """

    model_config = ConfigDict(extra="forbid")

    id: str = Field(
        max_length=MAX_ID_CHARS,
        description="Stable document id; passages get `<id>#<n>`. Empty: derived from the text.",
    )
    title: str = Field(default="", max_length=1_000)
    text: str = Field(max_length=MAX_DOCUMENT_CHARS)
    date: str | None = Field(
        default=None,
        max_length=100,
        description="Publication date (ISO, YYYY/MM/DD, RFC 2822...); inferred from the text when absent.",
    )
    meta: dict[str, Any] = Field(
        default_factory=dict, description="Extra metadata, stored with every passage."
    )


class IngestRequest(_Strict):
    """``POST /v1/documents``: a batch of documents, written atomically."""

    documents: list[DocumentIn] = Field(min_length=1, max_length=MAX_BATCH_DOCUMENTS)

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "documents": [
                        {
                            "id": "news-2022-06-16-fed",
                            "title": "Fed raises rates",
                            "text": "On June 15, 2022 the Federal Reserve raised its rate by 0.75 points.",
                            "date": "2022-06-16",
                            "meta": {"source": "example"},
                        }
                    ]
                }
            ]
        }
    )


class WrittenDocument(BaseModel):
    """A document that was stored."""

    id: str
    status: Literal["created", "replaced", "unchanged"] = Field(
        description="created; replaced (a stored document with this id had other content); unchanged "
        "(the same content is already stored, nothing was written)."
    )
    passages: int = Field(description="Passages written for it (0 when unchanged).")
    date: str | None = Field(default=None, description="Its publication date (ISO), given or inferred.")
    date_source: str | None = Field(default=None, description="metadata, inferred, or null when undated.")


class RejectedDocument(BaseModel):
    """A document that was not stored, and why."""

    index: int = Field(description="Its position in the request's `documents`.")
    id: str | None
    reason: str


class IngestResponse(BaseModel):
    """What a batch wrote and what it rejected."""

    written: list[WrittenDocument]
    rejected: list[RejectedDocument]
    passages_written: int
    passages_in_store: int = Field(description="Passages (Haystack documents) in the store after the write.")


class StoredPassage(BaseModel):
    """One stored passage of a document."""

    id: str
    passage_index: int | None = None
    content: str
    time_spans: list[dict[str, Any]] = Field(default_factory=list)


class DocumentOut(BaseModel):
    """A stored document, as its passages."""

    id: str
    title: str
    date: str | None = None
    date_source: str | None = None
    meta: dict[str, Any] = Field(default_factory=dict)
    passages: list[StoredPassage]


class DeleteResponse(BaseModel):
    """What a delete removed."""

    id: str
    deleted_passages: int
    passages_in_store: int


# --- service --------------------------------------------------------------------------------------
class HealthResponse(BaseModel):
    """Liveness: the process answers."""

    status: Literal["ok"] = "ok"


class ReadyResponse(BaseModel):
    """Readiness: the pipeline is loaded and warmed up."""

    ready: bool = Field(description="True when every worker serves the pipeline.")
    status: Literal["starting", "ready", "failed", "stopping"]
    error: str | None = Field(
        default=None, description="Why loading failed, when it did (its kind; the server log has the rest)."
    )
    passages_in_store: int | None = None
    worker: int | None = Field(
        default=None, description="The answering worker's process id (servers may run several workers)."
    )
    workers: int | None = Field(default=None, description="Worker processes of the server.")
    workers_ready: int | None = Field(default=None, description="Workers that serve the pipeline now.")


class ErrorDetail(BaseModel):
    """One problem with a request."""

    loc: list[str | int] = Field(description="Where in the request, e.g. ['body', 'top_k'].")
    msg: str
    type: str


class ErrorResponse(BaseModel):
    """Every error answer: a stable code, a human message, and field details for invalid input."""

    error: str = Field(examples=["invalid_request"])
    message: str = Field(examples=["body.top_k: Input should be less than or equal to 100"])
    details: list[ErrorDetail] | None = None
