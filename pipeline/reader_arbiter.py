"""``ReaderArbiter``: the LLM reads, the code rules on time.

The LLM reads the passages and names the answer in a few words; small LLMs find the right entity in a
passage far more often than a span heuristic does, but they are unreliable at before/after and "as of"
reasoning. The ``AnswerTimeline`` knows, for each candidate answer of the same passages, the interval it
holds and how well that fits the asked time. The arbiter accepts the reader's answer only when it is one
of the timeline's candidates and fits the asked time nearly as well as the timeline's own choice, or when
nothing dates it at all (no time in its sentence, the sentence before or the passage's publication: no
time contradicts it, so there is nothing for the code to rule on), or when the timeline's choice is
another kind of answer (the time ruling compares like with like); otherwise the timeline's choice
stands. A reading the timeline did not list is dated first by ``ReadingDater`` where a passage writes it.
An abstention of the timeline always stands, unless the reading settles a dispute.
"""

from __future__ import annotations

import re
from typing import Any

from haystack import component, default_from_dict, default_to_dict

from chronorag.pipeline.evidence import answer_overlap, normalize_answer
from chronorag.pipeline.timeline import UNDATED

_CITATION = re.compile(r"\s*\[\d{1,2}\]")
# "Answer: X", "The answer is X", and a list bullet ("- X") the small readers sometimes start with.
_LEAD = re.compile(
    r"^\s*(?:[-*•]\s+)?(?:(?:the\s+)?(?:short\s+|final\s+)?answer\s*(?:is)?\s*[:\-]?\s*)?", re.IGNORECASE
)
# Replies that say the passages do not answer: the reader names no answer, the timeline's choice stands.
_NO_ANSWER = re.compile(
    r"^(?:unknown|none|n/?a|no answer|not (?:mentioned|stated|given|known|specified)|"
    r"(?:the )?(?:passages?|text|context) (?:do|does)n?'?t?|i (?:do not|don'?t) know|cannot|"
    r"there is no)\b",
    re.IGNORECASE,
)


# What follows a name in a list of names: "A, B", "A and B", "A & B".
_LISTED = re.compile(r"^\s*(?:,|and\b|&)\s*\S")


@component
class ReaderArbiter:
    """
    Rules between the LLM's reading of the passages and the answer timeline's choice.

    The reader's short answer is matched to the timeline's candidates (same normalised answer, or token
    F1 of at least `min_overlap`). It is accepted when the matched candidate's time fit is at most
    `time_margin` below that of the timeline's best candidate, or, with `undated_stands`, when the matched
    candidate is undated (its fit of 0 then says nothing against it), or, with `same_kind`, when the
    timeline's best candidate has another label (a candidate `ReadingDater` located is always ruled on
    time): the matched candidate then comes first.
    A reply that matches no candidate, names no answer, or matches one that fits the asked time worse is
    overruled by the timeline. The timeline's abstention stands, unless it is a dispute between two sources
    (`abstention["disputed"]`) and the reply names one of the two: that one is then the answer, and the
    `abstention` passed on says the dispute was settled. The outputs feed `ChronoAnswerBuilder`, which
    phrases the first candidate with its passages and time (`replies` is empty: the wording is the code's,
    the choice the arbiter's).

    ### Usage example

    ```python
    arbiter = ReaderArbiter()
    result = arbiter.run(replies=["Tom Hale"], candidates=timeline["candidates"],
                         abstention=timeline["abstention"])
    result["candidates"][0]["answer"], result["arbitration"]["accepted"]
    ```
    """

    def __init__(
        self,
        time_margin: float = 0.3,
        min_overlap: float = 0.5,
        reader_words: bool = True,
        undated_stands: bool = True,
        same_kind: bool = True,
    ) -> None:
        """
        Create the arbiter.

        :param time_margin: how far below the timeline's best time fit the reader's candidate may fit and
            still be accepted (0: only an answer that fits as well; 1: any candidate).
        :param min_overlap: the least token F1 between the reply and a candidate for them to be the same
            answer.
        :param reader_words: an accepted answer keeps the reader's words ("UN High Commissioner for
            Refugees") rather than the candidate's span ("High Commissioner"), when the reply is no longer
            than the span plus four words; else the span.
        :param undated_stands: accept a reading whose candidate no time dates (role `undated`) whatever
            the best candidate's fit: on TimeQA train (450 questions) 36.7 EM against 35.6 without.
        :param same_kind: the timeline overrules a reading on time only when its choice is the same kind
            of answer (the same entity label) as the reading's candidate. Where the kinds differ the reader
            has usually named the asked kind and the timeline not (a region where a racing series is asked,
            a person where a department is): on TimeQA train (450 questions) 38.9 EM against 37.8.
        """
        if not 0.0 <= time_margin <= 1.0:
            raise ValueError(f"time_margin must be within [0, 1], not {time_margin}")
        if not 0.0 < min_overlap <= 1.0:
            raise ValueError(f"min_overlap must be within (0, 1], not {min_overlap}")
        self.time_margin = time_margin
        self.min_overlap = min_overlap
        self.reader_words = reader_words
        self.undated_stands = undated_stands
        self.same_kind = same_kind

    def to_dict(self) -> dict[str, Any]:
        """
        Serialise the component.

        :returns: the init parameters.
        """
        return default_to_dict(
            self,
            time_margin=self.time_margin,
            min_overlap=self.min_overlap,
            reader_words=self.reader_words,
            undated_stands=self.undated_stands,
            same_kind=self.same_kind,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReaderArbiter:
        """
        Deserialise the component.

        :param data: the output of `to_dict`.
        :returns: the component.
        """
        return default_from_dict(cls, data)

    @component.output_types(
        candidates=list[dict[str, Any]],
        replies=list[str],
        arbitration=dict[str, Any],
        abstention=dict[str, Any],
    )
    def run(
        self,
        replies: list[str] | None = None,
        candidates: list[dict[str, Any]] | None = None,
        abstention: dict[str, Any] | None = None,
        choices: list[str] | None = None,
    ) -> dict[str, Any]:
        """
        Decide between the reader's answer and the timeline's choice.

        :param replies: the reader's replies (the first is read); `None` or empty: the timeline decides.
        :param candidates: the timeline's candidates, best first (each with `answer` and `fit`).
        :param abstention: the timeline's `{abstained, reason, disputed}`: an abstention stands unless the
            reply settles its dispute.
        :param choices: the question's options (multiple choice): the reply names an option, not a
            candidate, so it passes through unruled for the answer builder to read its letter.
        :returns: `candidates` (the decided answer first), `replies` (empty: the answer builder phrases the
            first candidate; the reply itself with options), `arbitration` (`{reader_answer, matched,
            accepted, reason}`, for the answer object; `{}` when the timeline's abstention stands or with
            options) and `abstention` (the timeline's, or, for a settled dispute, `{abstained: False,
            reason: None, settled: the dispute}`).
        """
        candidates = list(candidates or [])
        abstention = dict(abstention or {"abstained": False, "reason": None})
        if choices:
            return {
                "candidates": candidates,
                "replies": list(replies or []),
                "arbitration": {},
                "abstention": abstention,
            }
        reader = short_answer(replies[0]) if replies else ""
        verdict = {"reader_answer": reader or None, "matched": None, "accepted": False}
        if abstention.get("abstained"):
            return self._settle(reader, candidates, abstention, verdict)
        if not candidates:
            return self._out(candidates, verdict, "no candidate answer in the passages")
        if not reader:
            return self._out(candidates, verdict, "the reader named no answer")
        index = self._match(reader, candidates)
        if index is None:
            return self._out(candidates, verdict, "the reader's answer is none of the candidates")
        matched = candidates[index]
        verdict["matched"] = matched["answer"]
        best_fit, fit = float(candidates[0].get("fit") or 0.0), float(matched.get("fit") or 0.0)
        reason = "the reader's answer holds for the asked time"
        if fit < best_fit - self.time_margin:
            # A located reading (`ReadingDater`) has no kind of the timeline's: it is ruled on time.
            if (
                self.same_kind
                and not matched.get("located")
                and matched.get("label") != candidates[0].get("label")
            ):
                reason = "the reader's answer is another kind of answer than the timeline's choice"
            elif self.undated_stands and matched.get("role") == UNDATED:
                reason = "the reader's answer is undated in the passages: no time contradicts it"
            else:
                why = f"the reader's answer fits the asked time worse ({fit:.2f} against {best_fit:.2f})"
                return self._out(candidates, verdict, why)
        chosen = self._chosen(reader, matched)
        verdict["accepted"] = True
        rest = [item for position, item in enumerate(candidates) if position != index]
        return self._out([chosen, *rest], verdict, reason)

    def _settle(
        self,
        reader: str,
        candidates: list[dict[str, Any]],
        abstention: dict[str, Any],
        verdict: dict[str, Any],
    ) -> dict[str, Any]:
        """A dispute between two sources settled by the reading (its answer is one of the two), else the
        abstention: it is the answer, and no reading is reported, as where the LLM is not asked at all."""
        disputed = {normalize_answer(answer) for answer in abstention.get("disputed") or []}
        positions = [i for i, item in enumerate(candidates) if normalize_answer(item["answer"]) in disputed]
        index = self._match(reader, [candidates[i] for i in positions]) if reader and positions else None
        if index is None:
            return {"candidates": candidates, "replies": [], "arbitration": {}, "abstention": abstention}
        position = positions[index]
        chosen = self._chosen(reader, candidates[position])
        verdict.update(matched=candidates[position]["answer"], accepted=True)
        rest = [item for i, item in enumerate(candidates) if i != position]
        out = self._out(
            [chosen, *rest], verdict, f"{abstention.get('reason')}; the reader's answer is one of them"
        )
        out["abstention"] = {"abstained": False, "reason": None, "settled": abstention.get("reason")}
        return out

    def _chosen(self, reader: str, matched: dict[str, Any]) -> dict[str, Any]:
        """The matched candidate, in the reader's words when they are about as short as its span and no
        less precise (see :func:`span_is_more_precise`)."""
        chosen = dict(matched)
        span = matched["answer"]
        if (
            self.reader_words
            and len(reader.split()) <= len(span.split()) + 4
            and not span_is_more_precise(reader, span)
        ):
            chosen["answer"] = reader
        return chosen

    def _match(self, reader: str, candidates: list[dict[str, Any]]) -> int | None:
        return matching_candidate(reader, candidates, self.min_overlap)

    @staticmethod
    def _out(candidates: list[dict[str, Any]], verdict: dict[str, Any], reason: str) -> dict[str, Any]:
        return {
            "candidates": candidates,
            "replies": [],
            "arbitration": {**verdict, "reason": reason},
            "abstention": {"abstained": False, "reason": None},
        }


def matching_candidate(reader: str, candidates: list[dict[str, Any]], min_overlap: float = 0.5) -> int | None:
    """
    The candidate a reader's answer names: an equal normalised answer first, else the best overlap.

    :param reader: the reader's short answer.
    :param candidates: the timeline's candidates.
    :param min_overlap: the least token F1 for a candidate to be the same answer.
    :returns: the candidate's position, or `None` when it names none.
    """
    if not reader or not candidates:
        return None
    wanted = normalize_answer(reader)
    for position, item in enumerate(candidates):
        if normalize_answer(item["answer"]) == wanted:
            return position
    overlaps = [answer_overlap(reader, item["answer"]) for item in candidates]
    best = max(range(len(candidates)), key=lambda position: overlaps[position])
    return best if overlaps[best] >= min_overlap else None


def span_is_more_precise(reader: str, span: str) -> bool:
    """
    Whether the passage's span says more exactly what the reader's words name: the reader gave the region
    of a "place, region" span ("Senegal" for "Dakar , Senegal"), or listed the span with others ("Centrale
    and Duomo" for "Centrale": one answer is asked, and each listed name is a candidate of its own).

    :param reader: the reader's short answer.
    :param span: the matched candidate's span in the passage.
    :returns: `True` when the span should be the answer.
    """
    said = " ".join(reader.split())
    written = " ".join(span.replace(" , ", ", ").split())
    if normalize_answer(said) == normalize_answer(written):
        return False
    if written.lower().endswith(", " + said.lower()):
        return True
    return _LISTED.match(said[len(written) :]) is not None and said.lower().startswith(written.lower())


def short_answer(reply: str) -> str:
    """
    The answer a reader's reply names: its first line without "Answer:", citations, quotes or the final
    full stop; `""` when the reply says the passages do not answer.

    :param reply: the LLM's reply.
    :returns: the short answer, or `""`.
    """
    lines = [line.strip() for line in (reply or "").splitlines() if line.strip()]
    if not lines:
        return ""
    text = _CITATION.sub("", _LEAD.sub("", lines[0]))
    text = text.strip().strip("\"'*").rstrip(".").strip()
    return "" if _NO_ANSWER.match(text) else text
