"""Event anchors: questions tied to an event instead of a date ("when the new stadium opened").

"Who chaired the council when the new stadium opened?" states no date, yet it asks for a time: the
time of an event the corpus can date. The decomposer finds such an anchor with these rules, removes
it from the content as it removes a date, and records it on the constraint; a store-aware resolver
(``chronorag.indexers.AnchorResolver``) then looks the event's date up in the passages.

An anchor is a cue (when, while, during, at the time of, after, following, since, before, prior to,
until, by the time, ...) followed by a clause or noun phrase up to the end of the clause. The cue gives
the relation (when/while/during -> in; after/following -> after; since -> since; before/prior to ->
before; until/by the time -> until). It is *not* an anchor when what follows the cue is

- a date or a period of the calendar ("after 2011", "during the 1990s", "before the end of the season",
  "during the summer"): the date rules of :mod:`chronorag.temporal.decompose` read those;
- a duration ("after three years", "within a decade"), an age ("before the age of 30", "when he was 25",
  "when she was a child") or a word with no content of its own ("after that", "before him", "since then");
- a person or organisation named bare after before/after/since/until ("before Mourinho": a predecessor
  question, not an event), unless the name says it is an event ("after World War II", "before Brexit");
- the cue is a question word ("When did the stadium open?", "..., and when was it built?"), an embedded
  question ("Do you know when the stadium opened?"), part of a question about a gap ("How long after the
  war did he return?") or part of a verb ("named after the queen", "testified before Congress", "for a
  while").

A date written inside the anchor ("after the 2020 crash") is kept as the fallback interval, used when
the store cannot date the event.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from chronorag.temporal.grammar import scan
from chronorag.temporal.model import Interval, Relation

# Cue -> relation, longest first in the pattern so "at the time of" wins over "at the time".
ANCHOR_CUES: dict[str, Relation] = {
    "when": Relation.IN, "whilst": Relation.IN, "while": Relation.IN, "during": Relation.IN,
    "at the time of": Relation.IN, "at the time when": Relation.IN, "at the time that": Relation.IN,
    "at the time": Relation.IN,
    "in the midst of": Relation.IN, "amid": Relation.IN, "amidst": Relation.IN,
    "at the height of": Relation.IN,
    "after": Relation.AFTER, "following": Relation.AFTER, "in the wake of": Relation.AFTER,
    "in the aftermath of": Relation.AFTER,
    "since": Relation.SINCE, "ever since": Relation.SINCE,
    "before": Relation.BEFORE, "prior to": Relation.BEFORE, "ahead of": Relation.BEFORE,
    "in the run-up to": Relation.BEFORE, "in the lead-up to": Relation.BEFORE,
    "on the eve of": Relation.BEFORE,
    "until": Relation.UNTIL, "till": Relation.UNTIL, "up until": Relation.UNTIL,
    "by the time of": Relation.UNTIL, "by the time": Relation.UNTIL,
}  # fmt: skip
_CUE = re.compile(
    r"(?<![\w'’-])(?P<int>(?:right|just|shortly|immediately|soon|directly|long)\s+)?(?P<cue>"
    + "|".join(re.escape(cue) for cue in sorted(ANCHOR_CUES, key=len, reverse=True))
    + r")(?![\w'’-])\s+",
    re.IGNORECASE,
)
_QUESTION_CUES = frozenset({"when", "while", "whilst"})
_AUXILIARY = (
    r"(?:did|does|do|was|were|is|are|will|would|has|have|had|can|could|should|shall|may|might|must)\b"
)
_WH = r"(?:who|whom|whose|what|which|where|when|why|how)\b"
# "Do you know when ...", "tell me when ...": an embedded question, not an anchor.
_EMBEDDING_VERB = re.compile(
    r"\b(?:know|knew|known|tell|told|remember|remembered|ask|asked|wonder|wondered|say|said|explain|explained"
    r"|learn|learned|recall|recalled|show|showed|decide|decided|determine|determined|idea|sure|unsure|certain"
    r"|find\s+out|found\s+out|figure\s+out|check|note|record|records|recorded)(?:\s+(?:me|us|him|her|them))?"
    r"\s*,?\s*$",
    re.I,
)
# A verb the cue belongs to: "named after", "testified before", "for a while".
_VERB_BEFORE_CUE = {
    "after": re.compile(
        r"\b(?:named|name|names|naming|called|look|looks|looked|looking|take|takes|took|taking|taken|go|goes"
        r"|went|going|gone|chase|chased|chasing|ask|asked|asking|seek|seeks|sought|lust|lusted|hanker"
        r"|hankered|run|runs|ran|running|modelled|modeled|patterned|styled|christened|dubbed)\s+$",
        re.I,
    ),
    "before": re.compile(
        r"\b(?:appear|appears|appeared|appearing|testify|testifies|testified|testifying|bring|brings|brought"
        r"|come|comes|came|coming|stand|stands|stood|standing|argue|argues|argued|arguing|kneel|knelt|bow"
        r"|bowed|present|presented|tried|put|laid|lay|placed)\s+$",
        re.I,
    ),
    "while": re.compile(r"\b(?:a|worth|worth\s+your)\s+$", re.I),
    "following": re.compile(r"\b(?:the|a|his|her|its|their|our|my|your|large|strong|loyal|cult)\s+$", re.I),
}
_GAP_QUESTION = re.compile(
    r"\bhow\s+(?:long|soon|much\s+(?:later|earlier|sooner)|many\s+\w+(?:\s+(?:later|earlier))?)\s+$", re.I
)
# Words that carry no event of their own.
_FUNCTION = frozenset(
    str.split(
        "a an the this that these those then there it its he she they him her them his their we us our i"
        " me my you your one ones some any each every all both either neither other another such same so"
        " as of to in on at for from by with and or but nor than into onto upon about over under between"
        " within during is was were are be been being am did do does done has had have having will would"
        " can could should shall may might must now then ever still yet again once already soon later"
        " earlier long while not no nothing something anything everything what who whom whose which where"
        " why how before after since until till through around circa between prior"
    )
)
# Calendar words: with dates and function words only, the phrase is a date or a period, not an event.
_CALENDAR = frozenset(
    str.split(
        "end ends beginning beginnings start starts middle early late mid turn half first second third"
        " fourth last final next previous following past coming year years month months period periods"
        " time times date dates decade decades century centuries millennium season seasons quarter"
        " quarters week weeks weekend weekends day days daytime morning mornings afternoon evening"
        " evenings night nights spring summer autumn fall winter fiscal calendar academic school holiday"
        " holidays whole entire rest era moment hour hours minute minutes today tonight yesterday"
        " tomorrow present future recent recently january february march april may june july august"
        " september october november december monday tuesday wednesday thursday friday saturday sunday"
    )
)
_NUMBER_WORDS = (
    r"a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|fifty"
    r"|a\s+few|few|several|many|some|a\s+couple\s+of|couple\s+of|a\s+number\s+of|\d+(?:\.\d+)?"
)
_DURATION = re.compile(
    r"^(?:(?:about|almost|nearly|over|under|more\s+than|less\s+than|at\s+least|only|just)\s+)?"
    r"(?:" + _NUMBER_WORDS + r")(?:\s+(?:more|long|full|short|whole))?\s+"
    r"(?:seconds?|minutes?|hours?|days?|weeks?|fortnights?|months?|years?|decades?|centur(?:y|ies)|while)\b",
    re.I,
)
_AGE = re.compile(
    r"^(?:(?:the\s+)?age\s+(?:of\s+)?\d+|(?:his|her|their|my|your)\s+(?:\w+\s+)?(?:teens|twenties|thirties"
    r"|forties|fifties|sixties|seventies|eighties|nineties|childhood|youth)"
    r"|(?:he|she|they|i|you|we|it)\s+(?:was|were|is|are|turned|turns|reached)\s+(?:about\s+|only\s+|just\s+)?"
    r"(?:\d+|\w+ty(?:-\w+)?|\w+teen|young|old|older|little|small|a\s+(?:child|kid|teenager|teen|baby|boy|girl"
    r"|student|toddler|minor)|an\s+(?:adult|infant|teenager)))\b",
    re.I,
)
# Heads that make a bare capitalised name an event ("World War II", "the Great Depression").
_EVENT_NOUNS = re.compile(
    r"\b(?:wars?|revolution|crisis|crash|depression|recession|pandemic|epidemic|olympics|games|cup|championship"
    r"|election|elections|referendum|summit|treaty|accord|agreement|act|uprising|rebellion|invasion|siege"
    r"|battle|massacre|attacks?|bombing|disaster|earthquake|hurricane|storm|flood|fire|famine|blackout|strike"
    r"|riots?|protests?|coup|independence|reunification|partition|collapse|merger|ipo|launch|landing|reform"
    r"|reformation|renaissance|restoration|prohibition|reconstruction|lockdown|boom|bubble|spring|movement)\b"
    r"|gate\b|exit\b|\d",
    re.I,
)
_NAME_WORD = re.compile(r"^(?:[A-Z][\w'’.-]*|of|the|de|van|von|da|di|del|la|le|bin|al|and|&)$")
# Clause ends: punctuation, a full stop before a capital, or "and who ..." (a second question).
_CLAUSE_END = re.compile(r"[?!;,()]|\.(?=\s*$)|\.(?=\s+[A-Z])|\s+(?i:and|but|or)\s+(?=(?i:" + _WH + "))")
_WORD = re.compile(r"[A-Za-z][\w'’-]*|\d[\w/.-]*")


@dataclass(frozen=True)
class AnchorMatch:
    """An event anchor found in a question.

    :param cue: the cue as written ("when", "right after").
    :param relation: the relation the cue asks for.
    :param event: the event as written ("the new stadium opened").
    :param start: offset of the cue (first character removed from the question).
    :param end: offset just past the event (the removed phrase ends here).
    :param event_start: offset of the event's first character.
    :param fallback: the first date written inside the event, or ``None``.
    """

    cue: str
    relation: Relation
    event: str
    start: int
    end: int
    event_start: int
    fallback: Interval | None


def find_anchor(text: str, reference: date | None = None) -> AnchorMatch | None:
    """The first event anchor of a question, or ``None``.

    :param text: the question with single spaces (as :func:`chronorag.temporal.decompose` reads it).
    :param reference: the day relative dates inside the anchor are read against.
    :returns: the anchor, or ``None`` when no cue introduces an event.
    """
    for cue in _CUE.finditer(text):
        found = _anchor_at(text, cue, reference)
        if found is not None:
            return found
    return None


def content_words(event: str) -> list[str]:
    """The words of an event that say what happened ("the new stadium opened" -> new, stadium, opened).

    :param event: an anchor's event text.
    :returns: lower-cased words without function words, in order.
    """
    return [word.lower() for word in _WORD.findall(event) if word.lower() not in _FUNCTION]


def interval_text(interval: Interval) -> str:
    """An interval as a person writes it: "2015", "2019-05", "2020-03-16", "2009-01-01 to 2016-12-31".

    :param interval: any interval.
    :returns: the text.
    """
    start, end = interval.start, interval.end
    if start and end and (start.month, start.day, end.month, end.day) == (1, 1, 12, 31):
        return str(start.year) if start.year == end.year else f"{start.year}-{end.year}"
    whole_month = start and end and start.day == 1 and (end + timedelta(days=1)).day == 1
    if whole_month and (start.year, start.month) == (end.year, end.month):
        return start.strftime("%Y-%m")
    if start == end and start is not None:
        return start.isoformat()
    return f"{start.isoformat() if start else 'the beginning'} to {end.isoformat() if end else 'now'}"


def without_dates(event: str, reference: date | None = None) -> str:
    """The event with the dates written in it removed, for searching the text that describes it.

    :param event: an anchor's event text ("the crash in March 2020", "the 2020 crash").
    :param reference: the day relative dates are read against.
    :returns: the rest ("the crash"); the event itself when nothing else is left.
    """
    text = event
    for match in reversed(scan(event, reference)):
        head = re.sub(r"\s*\b(?:in|on|of|at|during|from|since)\s*$", "", text[: match.start], flags=re.I)
        text = head + " " + text[match.end :]
    text = " ".join(text.split()).strip(" ,;:")
    return text if content_words(text) else event


def _anchor_at(text: str, cue: re.Match[str], reference: date | None) -> AnchorMatch | None:
    word = " ".join(cue["cue"].lower().split())
    head = text[: cue.start()]
    if _outside_clause(head) or _in_parentheses(head):
        return None
    initial = not re.search(r"\w", head)
    event_start = cue.end()
    event_end = _clause_end(text, event_start)
    if initial and (event_end >= len(text) or text[event_end] != ","):
        return None  # "When did ...?", "After the merger what ..." (no comma: not read as a fronted anchor)
    event = text[event_start:event_end].rstrip(" .")
    if not event or not _is_event(event, word, reference):
        return None
    if word in _QUESTION_CUES and (re.match(_AUXILIARY, event, re.I) or _EMBEDDING_VERB.search(head)):
        return None  # "..., and when was it built?", "Do you know when the stadium opened?"
    if _GAP_QUESTION.search(text[: cue.start("cue")]):
        return None  # "How long after the war did he return?" asks for the gap, not for a time in the event
    verb = _VERB_BEFORE_CUE.get(word)
    if verb is not None and verb.search(head):
        return None
    matches = scan(event, reference)
    fallback = matches[0].interval if matches else None
    relation = ANCHOR_CUES[word]
    cue_text = (cue["int"] or "") + cue["cue"]
    if cue["int"] and relation not in (Relation.BEFORE, Relation.AFTER):
        cue_text = cue["cue"]  # "long since": the intensifier belongs to the question
    start = cue.start() if cue_text != cue["cue"] else cue.start("cue")
    return AnchorMatch(
        " ".join(cue_text.split()), relation, event, start, event_start + len(event), event_start, fallback
    )


def _outside_clause(head: str) -> bool:
    """True when the cue follows a word that makes it part of another phrase ("the time when" is fine)."""
    return bool(re.search(r"(?:^|\s)(?:than|as|ever)\s*$", head, re.I))


def _in_parentheses(head: str) -> bool:
    return head.count("(") > head.count(")")


def _clause_end(text: str, start: int) -> int:
    """Where the event ends: the end of its clause (punctuation, or "and who ...")."""
    found = _CLAUSE_END.search(text, start)
    return found.start() if found else len(text)


def _is_event(event: str, cue: str, reference: date | None) -> bool:
    """Whether the words after the cue name an event, not a date, duration, age or bare person."""
    if _DURATION.match(event) or _AGE.match(event):
        return False
    matches = scan(event, reference)
    if matches and _starts_with_date(event, matches[0].start, matches[0].end):
        return False  # "since 2011 had which name": the cue introduces a date, not an event
    stripped = event
    for match in reversed(matches):
        stripped = stripped[: match.start] + " " + stripped[match.end :]
    words = _WORD.findall(stripped)
    content = [w for w in words if w.lower() not in _FUNCTION and w.lower() not in _CALENDAR]
    if not content:
        return False  # "after 2011", "before the end of 2010", "during the summer", "after that"
    if re.fullmatch(r"\d[\w/.-]*", content[0]) and len(content) == 1:
        return False  # a bare number: "after 5", "before 30"
    if cue in ("before", "after", "since", "until", "till", "up until", "following", "prior to"):
        return not _bare_name(event)
    return True


def _starts_with_date(event: str, start: int, end: int) -> bool:
    """True when the event opens with a date that is not a modifier ("the 2020 crash" is one)."""
    lead = event[:start].strip().lower()
    if lead and lead not in ("the", "its", "his", "her", "their", "this", "that"):
        return False
    following = re.match(r"\s*([A-Za-z][\w'’-]*)", event[end:])
    modifier = bool(lead) and bool(following) and following.group(1).lower() not in _FUNCTION
    return not modifier


def _bare_name(event: str) -> bool:
    """ "Mourinho", "Barack Obama", "the Beatles": a name alone, which is no event unless it says so."""
    words = event.split()
    if not words or _EVENT_NOUNS.search(event):
        return False
    if words[0].lower() == "the":
        words = words[1:]
        if not words:
            return False
    return words[0][:1].isupper() and all(_NAME_WORD.match(w) for w in words) and words[-1][:1].isupper()
