"""The rule grammar of time expressions: regular expressions that find spans and normalise them.

This is the fast path of the extractor and the first stage of question decomposition. Every rule
is a compiled regex plus a small builder that turns its match into an :class:`Interval`; a builder
returns ``None`` when the match is not a date after all (a verb "may", a head count, a phone number).
Overlapping candidates are resolved longest-first, then adjacent atoms joined by a range connector
("1990 to 1993", "between May 2007 and Mar 2011") are merged into one range.

Relative expressions ("last year", "three weeks ago", "on Monday") are only produced when a
reference day is given: without one their dates are unknown, and dating an undated passage by
today's clock would be wrong.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from chronorag.temporal.model import Granularity, Interval

MIN_YEAR = 1000
MAX_YEAR = 2100

_MONTH_NUMBERS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
    "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20,
    "thirty": 30, "fifty": 50, "hundred": 100, "a couple of": 2, "couple of": 2, "a few": 3, "few": 3,
    "several": 3,
}  # fmt: skip
_ORDINAL_WORDS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8,
    "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13, "fourteenth": 14,
    "fifteenth": 15, "sixteenth": 16, "seventeenth": 17, "eighteenth": 18, "nineteenth": 19,
    "twentieth": 20, "twenty-first": 21, "twenty first": 21, "final": 4, "last": 4,
}  # fmt: skip

# --- building blocks -------------------------------------------------------------------------
_Y = r"(?:1\d{3}|20\d{2}|2100)"
_YEND = r"(?![\w%°]|[.,]\d)"  # not "1990s", "2019th", "1995.5", "2,0001"
_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\b\.?"
)
_WEEKDAY = r"(?:Mon|Tues?|Wed(?:nes)?|Thu(?:rs)?|Fri|Sat(?:ur)?|Sun)(?:day)?\b\.?"
_DAY = r"(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?"
_NUM = r"(?:\d{1,3}|" + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True)) + r")"
_TO = r"(?:[-–—]|to|through|thru|until|till|and)"
_F = re.IGNORECASE


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Words after a number that make it a count or a measure, never a year.
_MEASURE_UNITS = _words(
    "km kilometres kilometers kms mi miles m metres meters ft feet foot yards yd kg kgs g lb lbs pounds tons"
    " tonnes acres hectares ha calories kcal hp mph kph rpm mah mw kw kwh gw gb mb tb cc ml l litres liters"
    " sq square cubic percent per % x dollars euros yen rupees usd eur gbp hrs hours minutes mins seconds"
    " secs points pts bc bce b.c. b.c"
)
_COUNT_NOUNS = _words(
    "troops soldiers people persons men women children kids students employees workers members residents"
    " inhabitants votes voters fans spectators copies units vehicles cars homes houses seats words pages"
    " deaths casualties cases jobs species times games goals runs plays matches households families"
    " refugees prisoners passengers visitors participants delegates athletes officers police staff"
    " patients pupils books items"
)
# A preceding word that makes a 4-digit number a model, page or route number.
_NUMBER_LABELS = _words(
    "boeing airbus model type class no no. nos number page pages p. pp. room flight route highway"
    " interstate bus track platform exit section article chapter vol vol. volume item code isbn zip pin"
    " apt suite unit id than over nearly almost some approximately exactly"
)
# Cue words before a year below 1800, which otherwise is too often a plain number.
_OLD_YEAR_CUES = _words(
    "in since by from to until till before after of around circa c. ca. year years during between and"
    " early late mid ad a.d. born died about the ( period date decade"
)

# Prepositions that make the next number a date even before a count noun ("in 2019 people voted").
_DATE_PREPOSITIONS = _words("in since by from to until till before after during of as circa around")


@dataclass(frozen=True)
class Match:
    """A time expression found by the grammar.

    :param start: offset of the first character.
    :param end: offset just past the last character.
    :param interval: the normalised interval.
    :param kind: the rule that found it ("year", "range", "relative", ...).
    :param lead: "from" or "between" when a range starts with one of them (part of the span).
    """

    start: int
    end: int
    interval: Interval
    kind: str
    lead: str | None = None


_Builder = Callable[[re.Match[str], str, "date | None"], "Interval | None"]


# --- helpers -------------------------------------------------------------------------------------
def _month(token: str) -> int:
    return _MONTH_NUMBERS[token.lower().rstrip(".")[:3]]


def _day_number(token: str) -> int:
    return int(re.match(r"\d+", token).group())


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def _shift_months(day: date, months: int) -> tuple[int, int]:
    index = day.year * 12 + day.month - 1 + months
    return index // 12, index % 12 + 1


def _finer(a: Granularity, b: Granularity) -> Granularity:
    return a if a.days <= b.days else b


def _capitalised(token: str) -> bool:
    return token[:1].isupper()


def _prev_word(text: str, pos: int) -> str:
    match = re.search(r"(\S+)\s*$", text[max(0, pos - 30) : pos])
    return match.group(1).lower() if match else ""


def _next_word(text: str, pos: int) -> str:
    match = re.match(r"\s*([^\s,;:!?)]+)", text[pos : pos + 30])
    return match.group(1).lower().rstrip(".") if match else ""


def _section(start: date, end: date, part: str, granularity: Granularity) -> Interval:
    """The early/mid/late third of a span ("early 1995", "late May 2019")."""
    total = (end - start).days + 1
    third = total // 3
    part = part.split()[0]
    if part in ("early", "beginning", "start"):
        return Interval(start, start + timedelta(days=third - 1), granularity)
    if part in ("mid", "middle"):
        return Interval(start + timedelta(days=third), start + timedelta(days=2 * third - 1), granularity)
    return Interval(start + timedelta(days=2 * third), end, granularity)


def _decade_part(base: int, span: int, part: str | None, granularity: Granularity) -> Interval:
    """A decade (span 10) or century (span 100), or its early/mid/late part."""
    first, last = max(base, 1), base + span - 1
    if part:
        part = part.lower()
        third = 3 if span == 10 else 33  # early 1990s = 1990-93; early 19th century = 1800-33
        bounds = {"early": (base, base + third), "mid": (base + third + 1, base + 2 * third),
                  "late": (base + 2 * third + 1, last)}  # fmt: skip
        first, last = bounds[part]
        first = max(first, 1)
    return Interval.years(first, last, granularity)


# --- builders: absolute expressions ---------------------------------------------------------------
def _b_iso(m: re.Match[str], _t: str, _r: date | None) -> Interval | None:
    return Interval.day(date(int(m["y"]), int(m["mo"]), int(m["d"])))


def _b_iso_month(m: re.Match[str], _t: str, _r: date | None) -> Interval | None:
    return Interval.month(int(m["y"]), int(m["mo"]))


def _b_numeric(m: re.Match[str], _t: str, _r: date | None) -> Interval | None:
    a, b, year = int(m["a"]), int(m["b"]), int(m["y"])
    # Day first when it must be, or with dots/dashes (European); month first for US slashes.
    if a > 12 or (m["sep"] in ".-" and b <= 12):
        day, month = a, b
    else:
        month, day = a, b
    return Interval.day(date(year, month, day))


def _b_mdy(m: re.Match[str], _t: str, _r: date | None) -> Interval | None:
    year, month, day = int(m["y"]), _month(m["m"]), _day_number(m["d"])
    if day > calendar.monthrange(year, month)[1]:
        return Interval.month(year, month)  # "31 February 2019": keep the month that was meant
    return Interval.day(date(year, month, day))


def _b_month_year(m: re.Match[str], text: str, _r: date | None) -> Interval | None:
    if m["m"] == "may" and _prev_word(text, m.start()) not in _DATE_PREPOSITIONS:
        return None  # the verb: "they may 2019 ..." is not May
    return Interval.month(int(m["y"]), _month(m["m"]))


def _b_month_range(m: re.Match[str], text: str, _r: date | None) -> Interval | None:
    if m["c"].lower() == "and" and _prev_word(text, m.start()) != "between":
        return None
    year = int(m["y"])
    first, last = _month(m["m1"]), _month(m["m2"])
    start_year = year - 1 if first > last else year
    return Interval(date(start_year, first, 1), _month_end(year, last), Granularity.MONTH)


def _b_day_range(m: re.Match[str], text: str, _r: date | None) -> Interval | None:
    if m["c"].lower() == "and" and _prev_word(text, m.start()) != "between":
        return None
    year, month = int(m["y"]), _month(m["m"])
    return Interval(
        date(year, month, _day_number(m["d1"])), date(year, month, _day_number(m["d2"])), Granularity.DAY
    )


def _b_year_short_range(m: re.Match[str], text: str, _r: date | None) -> Interval | None:
    first, tail = int(m["y1"]), int(m["y2"])
    if len(m["y2"]) == 4:  # "2001-2005", "2019/2020"
        return Interval.years(first, tail) if first < tail <= MAX_YEAR else None
    last = first - first % 100 + tail
    if last <= first:
        # "1999/00" is a season across a century; "2019-05" is a month, left to the ISO rule.
        if tail == (first + 1) % 100:
            last = first + 1
        else:
            return None
    return Interval.years(first, last)


def _b_era_year(m: re.Match[str], _t: str, _r: date | None) -> Interval | None:
    return Interval.year(int(m["y"]))  # "1066 AD", "AD 1066": the era marks it as a year


def _b_year(m: re.Match[str], text: str, _r: date | None) -> Interval | None:
    year = int(m["y"])
    start, end = m.start("y"), m.end("y")
    before = text[max(0, start - 2) : start]
    if re.search(r"\d[-.,:/]$", before) or re.match(r"[-.,:/]\d", text[end : end + 2]):
        return None  # phone numbers, number lists, "1.2000", "2019/1"
    prev, nxt = _prev_word(text, start), _next_word(text, end)
    comparative = prev == "than" and re.search(r"(?:later|earlier|sooner)\s+than\s*$", text[:start], _F)
    if prev in _NUMBER_LABELS and not comparative or nxt in _MEASURE_UNITS:
        return None
    if nxt in _COUNT_NOUNS and prev not in _DATE_PREPOSITIONS:
        return None
    if prev.isdigit() and len(prev) >= 3 or nxt.isdigit() and len(nxt) >= 3:
        return None  # "555 2019 1234": a phone or account number
    if year < 1800 and prev not in _OLD_YEAR_CUES and nxt not in {"ad", "ce", "a.d"}:
        return None
    return Interval.year(year)


_FIXED_HOLIDAYS = {"christmas": (12, 25), "christmas day": (12, 25), "christmas eve": (12, 24),
                   "new year's day": (1, 1), "new years day": (1, 1), "new year's": (1, 1),
                   "new years": (1, 1),
                   "new year's eve": (12, 31), "new years eve": (12, 31), "halloween": (10, 31),
                   "valentine's day": (2, 14), "valentines day": (2, 14), "independence day": (7, 4),
                   "boxing day": (12, 26), "bastille day": (7, 14)}  # fmt: skip


def _easter(year: int) -> date:
    """Western Easter Sunday (the anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    l_ = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 19 * l_) // 433
    month = (h + l_ - 7 * m + 90) // 25
    return date(year, month, (h + l_ - 7 * m + 33 * month + 19) % 32)


def _b_holiday(m: re.Match[str], _t: str, _r: date | None) -> Interval | None:
    name, year = " ".join(m["h"].lower().replace("’", "'").split()), int(m["y"])
    if name in _FIXED_HOLIDAYS:
        return Interval.day(date(year, *_FIXED_HOLIDAYS[name]))
    if name.startswith("easter"):
        return Interval.day(_easter(year))
    november = date(year, 11, 1)  # Thanksgiving (US): the fourth Thursday of November
    return Interval.day(november + timedelta(days=(3 - november.weekday()) % 7 + 21))


def _b_decade(m: re.Match[str], _t: str, _r: date | None) -> Interval | None:
    base = int(m["dec"])
    if base % 100 == 0 and base != 2000:
        return _decade_part(base, 100, m["dm"], Granularity.CENTURY)  # "the 1800s" is a century
    return _decade_part(base, 10, m["dm"], Granularity.DECADE)


def _b_short_decade(m: re.Match[str], text: str, _r: date | None) -> Interval | None:
    prev = _prev_word(text, m.start())
    if prev in {"her", "his", "their", "my", "your", "our", "its", "mid", "low", "high", "upper", "lower"}:
        return None  # an age or a temperature, not a decade
    digit = int(m["d2"])
    base = 2000 + 10 * digit if digit <= 1 else 1900 + 10 * digit
    return _decade_part(base, 10, m["dm"], Granularity.DECADE)


def _b_century(m: re.Match[str], _t: str, _r: date | None) -> Interval | None:
    number = int(m["cn"]) if m["cn"] else _ORDINAL_WORDS.get(m["cw"].lower().replace("-", " "), 0)
    if not 1 <= number <= 21:
        return None
    return _decade_part((number - 1) * 100, 100, m["cm"], Granularity.CENTURY)


def _b_season(m: re.Match[str], _t: str, _r: date | None) -> Interval | None:
    return _season(int(m["y"]), m["s"].lower())


def _season(year: int, name: str) -> Interval:
    if name == "winter":  # meteorological winter: December to February
        return Interval(date(year, 12, 1), _month_end(year + 1, 2), Granularity.SEASON)
    first = {"spring": 3, "summer": 6, "autumn": 9, "fall": 9}[name]
    return Interval(date(year, first, 1), _month_end(year, first + 2), Granularity.SEASON)


def _b_quarter(m: re.Match[str], _t: str, _r: date | None) -> Interval | None:
    token = m["q"].lower()
    quarter = int(token[0]) if token[0].isdigit() else _ORDINAL_WORDS.get(token, 0)
    if not 1 <= quarter <= 4:
        return None
    year = int(m["y"])
    return Interval(date(year, 3 * quarter - 2, 1), _month_end(year, 3 * quarter), Granularity.QUARTER)


def _b_half(m: re.Match[str], _t: str, _r: date | None) -> Interval | None:
    year, token = int(m["y"]), m["h"].lower()
    second = token in {"2", "second", "2nd", "latter"}
    if second:
        return Interval(date(year, 7, 1), date(year, 12, 31), Granularity.QUARTER)
    return Interval(date(year, 1, 1), date(year, 6, 30), Granularity.QUARTER)


def _b_year_part(m: re.Match[str], _t: str, _r: date | None) -> Interval | None:
    year, part = int(m["y"]), m["p"].lower().split()[0]
    # Thirds of a year in whole months: early = January-April, mid = May-August, late = September-December.
    first = {"early": 1, "beginning": 1, "start": 1, "mid": 5, "middle": 5}.get(part, 9)
    return Interval(date(year, first, 1), _month_end(year, first + 3), Granularity.SEASON)


def _b_month_part(m: re.Match[str], _t: str, _r: date | None) -> Interval | None:
    year, month = int(m["y"]), _month(m["m"])
    return _section(date(year, month, 1), _month_end(year, month), m["p"].lower(), Granularity.WEEK)


# --- builders: expressions that need a reference day ------------------------------------------
def _nearest(candidates: list[date], reference: date) -> date:
    return min(candidates, key=lambda day: (abs((day - reference).days), day > reference))


def _b_month_day(m: re.Match[str], _t: str, ref: date | None) -> Interval | None:
    if ref is None or not _capitalised(m["m"]):
        return None
    month, day = _month(m["m"]), _day_number(m["d"])
    candidates = []
    for year in (ref.year - 1, ref.year, ref.year + 1):
        try:
            candidates.append(date(year, month, day))
        except ValueError:
            continue
    return Interval.day(_nearest(candidates, ref)) if candidates else None


def _b_bare_month(m: re.Match[str], _t: str, ref: date | None) -> Interval | None:
    if (
        ref is None
        or not _capitalised(m["m"])
        or len(m["m"].rstrip(".")) <= 3
        and m["m"].rstrip(".") != "May"
    ):
        return None  # a lone abbreviation is too often a name ("in Jan van Eyck's portrait")
    month, cue = _month(m["m"]), (m["cue"] or "").lower()
    if cue == "last":
        year = ref.year if month < ref.month else ref.year - 1
    elif cue == "next":
        year = ref.year if month > ref.month else ref.year + 1
    elif cue == "this":
        year = ref.year
    else:
        year = _nearest([date(y, month, 15) for y in (ref.year - 1, ref.year, ref.year + 1)], ref).year
    return Interval.month(year, month)


def _b_day_word(m: re.Match[str], text: str, ref: date | None) -> Interval | None:
    if ref is None:
        return None
    if m["w"][:1].isupper() and not re.search(r"(?:^|[.!?:\"“]\s*)$", text[: m.start()]):
        return None  # "Physics Today", "USA Today": a name, not a day
    word = m["w"].lower()
    offset = {"yesterday": -1, "today": 0, "tonight": 0, "tomorrow": 1, "night": -1}.get(word.split()[-1], 0)
    if m["ba"]:
        offset += -1 if m["ba"].lower() == "before" else 1
    return Interval.day(ref + timedelta(days=offset))


def _week_of(day: date) -> Interval:
    monday = day - timedelta(days=day.weekday())
    return Interval(monday, monday + timedelta(days=6), Granularity.WEEK)


def _calendar_unit(ref: date, unit: str, step: int) -> Interval | None:
    """The calendar unit ``step`` units away from the one holding ``ref`` (-1 last, 0 this, 1 next)."""
    if unit == "year":
        return Interval.year(ref.year + step)
    if unit == "month":
        year, month = _shift_months(ref, step)
        return Interval.month(year, month)
    if unit == "week":
        return _week_of(ref + timedelta(days=7 * step))
    if unit == "weekend":
        saturday = ref + timedelta(days=(5 - ref.weekday()) + 7 * step)
        if step < 0 and ref.weekday() >= 5:
            saturday = ref - timedelta(days=ref.weekday() - 5) + timedelta(days=7 * (step + 1))
        return Interval(saturday, saturday + timedelta(days=1), Granularity.DAY)
    if unit == "quarter":
        index = ref.year * 4 + (ref.month - 1) // 3 + step
        year, quarter = index // 4, index % 4 + 1
        return Interval(date(year, 3 * quarter - 2, 1), _month_end(year, 3 * quarter), Granularity.QUARTER)
    if unit == "decade":
        base = ref.year - ref.year % 10 + 10 * step
        return Interval.years(base, base + 9, Granularity.DECADE)
    if unit == "century":
        base = ref.year - ref.year % 100 + 100 * step
        return Interval.years(max(base, 1), base + 99, Granularity.CENTURY)
    if unit in {"spring", "summer", "autumn", "fall", "winter"}:
        this = _season(ref.year, unit)
        if step < 0:
            return this if this.end < ref else _season(ref.year - 1, unit)
        if step > 0:
            return this if this.start > ref else _season(ref.year + 1, unit)
        return this
    return None


def _rolling(ref: date, unit: str, count: int, forward: bool) -> Interval:
    unit = unit.rstrip("s")
    days = {"day": 1, "week": 7, "month": 30, "year": 365, "decade": 3652, "century": 36524}[unit] * count
    granularity = {"day": Granularity.DAY, "week": Granularity.WEEK, "month": Granularity.MONTH}.get(
        unit, Granularity.YEAR if unit == "year" else Granularity.DECADE
    )
    if forward:
        return Interval(ref, ref + timedelta(days=days), granularity)
    return Interval(ref - timedelta(days=days), ref, granularity)


def _b_relative_unit(m: re.Match[str], text: str, ref: date | None) -> Interval | None:
    if ref is None:
        return None
    word, unit = m["w"].lower(), m["u"].lower()
    if word in {"next", "previous"} and _prev_word(text, m.start()) == "the":
        return None  # "the next year" counts from the story's time, not from the reference day
    rolling = word == "past" or (word == "last" and _prev_word(text, m.start()) == "the")
    if rolling and unit in {"year", "month", "week", "decade", "century"}:
        return _rolling(ref, unit, 1, forward=False)  # "over the past year": a rolling window
    step = {"last": -1, "past": -1, "previous": -1, "this": 0, "current": 0, "next": 1, "coming": 1}[word]
    return _calendar_unit(ref, unit, step)


def _count(token: str) -> int:
    token = token.lower()
    return int(token) if token.isdigit() else _NUMBER_WORDS.get(token, 0)


def _b_relative_window(m: re.Match[str], _t: str, ref: date | None) -> Interval | None:
    count = _count(m["n"])
    if ref is None or count <= 0:
        return None
    return _rolling(ref, m["u"].lower(), count, forward=m["w"].lower() in {"next", "coming"})


def _b_ago(m: re.Match[str], _t: str, ref: date | None) -> Interval | None:
    count = _count(m["n"])
    if ref is None or count <= 0:
        return None
    unit = m["u"].lower().rstrip("s")
    if unit == "day":
        return Interval.day(ref - timedelta(days=count))
    if unit == "week":
        return _week_of(ref - timedelta(days=7 * count))
    if unit == "month":
        year, month = _shift_months(ref, -count)
        return Interval.month(year, month)
    if unit == "year":
        return Interval.year(ref.year - count)
    base = ref.year - 10 * count
    return Interval.years(base - base % 10, base - base % 10 + 9, Granularity.DECADE)


_WEEKDAY_NAME_WORDS = {"every", "each", "good", "black", "super", "palm", "ash", "holy", "bloody", "cyber"}


def _b_weekday(m: re.Match[str], text: str, ref: date | None) -> Interval | None:
    if ref is None or not _capitalised(m["d"]):
        return None
    if _prev_word(text, m.start("d")) in _WEEKDAY_NAME_WORDS or re.match(r"\s+[A-Z][a-z]", text[m.end() :]):
        return None  # "every Sunday", "Good Friday", "the Sunday Times": not a day of the week before
    target = next(i for i, name in enumerate(_WEEKDAYS) if name.startswith(m["d"].lower()[:3]))
    word = (m["w"] or "").lower()
    back = (ref.weekday() - target) % 7
    if word == "next":
        return Interval.day(ref + timedelta(days=(target - ref.weekday()) % 7 or 7))
    if word == "this":
        return Interval.day(ref - timedelta(days=ref.weekday()) + timedelta(days=target))
    if word in {"last", "past"} and back == 0:
        back = 7
    return Interval.day(ref - timedelta(days=back))  # news: "on Monday" is the last Monday


def _b_vague(m: re.Match[str], _t: str, ref: date | None) -> Interval | None:
    if ref is None:
        return None
    word = " ".join(m["v"].lower().split())
    if word in {"recently", "lately", "in recent years", "in recent months", "in recent weeks"}:
        span = {"in recent years": 3 * 365, "in recent weeks": 30}.get(word, 90)
        return Interval(ref - timedelta(days=span), ref, Granularity.MONTH)
    if word.startswith(("earlier this", "so far this")):
        return Interval(_calendar_unit(ref, word.split()[-1], 0).start, ref, Granularity.DAY)
    if word.startswith("later this"):
        return Interval(ref, _calendar_unit(ref, word.split()[-1], 0).end, Granularity.DAY)
    return Interval.day(ref)


# --- the rules, in priority order (the first of equal-length candidates wins) ------------------
_YG = r"(?P<y>" + _Y + r")"
_MG = r"(?P<m>" + _MONTH + r")"
_DG = r"(?P<d>" + _DAY + r")"
_PARTS = r"early|mid|late|beginning\s+of|start\s+of|end\s+of|middle\s+of"
_WD_PREFIX = r"(?:" + _WEEKDAY + r"\s*,?\s+)?"
_RULES: list[tuple[str, re.Pattern[str], _Builder]] = [
    ("date", re.compile(
        r"(?<![\d\-/.])" + _YG + r"-(?P<mo>0[1-9]|1[0-2])-(?P<d>[0-3]\d)"
        r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?(?![\d\-])"), _b_iso),
    ("date", re.compile(
        r"(?<![\d\-/.])" + _YG + r"/(?P<mo>0?[1-9]|1[0-2])/(?P<d>[0-3]?\d)(?:/\d{1,2}:\d{2})?(?![\d/])"),
     _b_iso),
    ("date", re.compile(
        r"(?<![\d\-/.])(?P<a>[0-3]?\d)(?P<sep>[/.\-])(?P<b>[0-3]?\d)(?P=sep)" + _YG + r"(?![\d\-/]|\.\d)"),
     _b_numeric),
    ("date", re.compile(
        r"\b" + _WD_PREFIX + _MG + r"\s+" + _DG + r"\b\s*,?\s*" + _YG + _YEND,
        _F), _b_mdy),
    ("date", re.compile(
        r"\b" + _WD_PREFIX + r"(?:the\s+)?" + _DG + r"\s+(?:of\s+)?" + _MG + r"\s*,?\s*(?P<y>"
        + _Y + r")" + _YEND, _F), _b_mdy),
    ("range", re.compile(
        r"\b(?P<d1>" + _DAY + r")\s*(?P<c>[-–—]|to|and)\s*(?P<d2>" + _DAY + r")\s+(?P<m>" + _MONTH
        + r")\s*,?\s*" + _YG + _YEND, _F), _b_day_range),
    ("range", re.compile(
        r"\b" + _MG + r"\s+(?P<d1>" + _DAY + r")\s*(?P<c>[-–—]|to|and)\s*(?P<d2>" + _DAY
        + r")\s*,?\s*" + _YG + _YEND, _F), _b_day_range),
    ("range", re.compile(
        r"\b(?P<m1>" + _MONTH + r")\s*(?P<c>[-–—/]|to|through|until|till|and)\s*(?P<m2>" + _MONTH
        + r")\s*,?\s+(?:of\s+)?" + _YG + _YEND, _F), _b_month_range),
    ("part", re.compile(
        r"\b(?:the\s+)?(?P<p>" + _PARTS + r")[\s-]*(?P<m>" + _MONTH
        + r")\s*,?\s*(?:of\s+)?" + _YG + _YEND, _F), _b_month_part),
    ("month", re.compile(r"\b" + _MG + r"\s*,?\s*(?:of\s+)?" + _YG + _YEND, _F),
     _b_month_year),
    ("date", re.compile(
        r"\b(?P<h>Christmas(?:\s+Day|\s+Eve)?|New\s+Year['’]?s(?:\s+Day|\s+Eve)?|Halloween|Valentine['’]?s\s+Day"
        r"|Independence\s+Day|Boxing\s+Day|Bastille\s+Day|Thanksgiving(?:\s+Day)?|Easter(?:\s+Sunday)?)"
        r"\s*(?:of\s+|,\s*)?" + _YG + _YEND, _F), _b_holiday),
    ("season", re.compile(
        r"\b(?P<s>spring|summer|autumn|fall|winter)\s*(?:of\s+|,\s*)?" + _YG + _YEND, _F), _b_season),
    ("quarter", re.compile(
        r"\b(?:Q(?P<q>[1-4])|(?P<q2>[1-4])Q)[\s,-]*(?:of\s+)?(?:FY\s?)?" + _YG + _YEND, _F),
     lambda m, t, r: _b_quarter(_QuarterMatch(m, m["q"] or m["q2"]), t, r)),
    ("quarter", re.compile(r"(?<![\w-])" + _YG + r"[\s-]*Q(?P<q>[1-4])\b", _F), _b_quarter),
    ("quarter", re.compile(
        r"\b(?:the\s+)?(?P<q>first|second|third|fourth|final|last|1st|2nd|3rd|4th)\s+quarter\s+(?:of\s+)?"
        + _YG + _YEND, _F), _b_quarter),
    ("quarter", re.compile(
        r"\b(?:the\s+)?(?P<h>first|second|1st|2nd|latter)\s+half\s+of\s+" + _YG + _YEND, _F),
     _b_half),
    ("quarter", re.compile(r"\bH(?P<h>[12])\s*" + _YG + _YEND), _b_half),
    ("decade", re.compile(
        r"(?:\bthe\s+)?(?:\b(?P<dm>early|mid|late)[\s-]*)?(?<!\d)(?P<dec>(?:1\d|20)\d0)['’]?s\b", _F),
     _b_decade),
    ("decade", re.compile(
        r"\bthe\s+(?:(?P<dm>early|mid|late)[\s-]*)?['’]?(?P<d2>\d)0['’]?s\b", _F), _b_short_decade),
    ("decade", re.compile(
        r"(?:\b(?P<dm>early|mid|late)[\s-]*)?['’](?P<d2>\d)0s\b", _F), _b_short_decade),
    ("century", re.compile(
        r"\b(?:the\s+)?(?:(?P<cm>early|mid|late)[\s-]*)?(?:(?P<cn>\d{1,2})(?:st|nd|rd|th)|(?P<cw>"
        + "|".join(sorted((w for w in _ORDINAL_WORDS if w not in {"final", "last"}), key=len, reverse=True))
        + r"))[\s-]+century\b(?!\s*(?:BC|BCE|B\.C))", _F), _b_century),
    ("part", re.compile(
        r"\b(?:the\s+)?(?P<p>" + _PARTS + r")[\s-]*(?:the\s+year\s+)?" + _YG + _YEND, _F), _b_year_part),
    ("range", re.compile(
        r"(?<![\w\-/.])(?P<y1>" + _Y + r")\s?(?:[-–—]|/)\s?(?P<y2>\d{2}(?:\d{2})?)"
        r"(?![\d\-/]|[.,]\d|['’]?s\b)"),
     _b_year_short_range),
    ("month", re.compile(r"(?<![\d\-/.])" + _YG + r"-(?P<mo>0[1-9]|1[0-2])(?![\d\-/])"), _b_iso_month),
    ("year", re.compile(r"(?<![\w$£€¥#@\\])" + _YG + r"\s*(?:AD|A\.D\.|CE)\b"), _b_era_year),
    ("year", re.compile(r"\b(?:AD|A\.D\.)\s*" + _YG + _YEND), _b_era_year),
    ("year", re.compile(r"(?<![\w$£€¥#@\\])" + _YG + _YEND + r"(?!['’]s\b)"), _b_year),
    # Expressions that need a reference day.
    ("relative", re.compile(
        r"\b" + _WD_PREFIX + _MG + r"\s+" + _DG + r"\b(?!\s*,?\s*\d|:)"), _b_month_day),
    ("relative", re.compile(
        r"\b" + _WD_PREFIX + r"(?:the\s+)?" + _DG + r"\s+(?:of\s+)?" + _MG + r"(?!\s*,?\s*\d)"),
     _b_month_day),
    ("relative", re.compile(
        r"(?:(?<=\bin\s)|(?<=\bsince\s)|(?<=\buntil\s)|(?<=\bby\s)|(?<=\bfrom\s)|(?<=\bduring\s)"
        r"|(?<=\bbefore\s)|(?<=\bafter\s)|(?<=\bearly\s)|(?<=\bmid-)|(?<=\blate\s)|(?<=\bIn\s)|(?<=\bSince\s)|(?<=\bBy\s))"
        r"(?P<cue>)" + _MG + r"(?!\s*,?\s*\d)"), _b_bare_month),
    ("relative", re.compile(
        r"\b(?P<cue>last|next|this)\s+" + _MG + r"(?!\s*,?\s*\d)"), _b_bare_month),
    ("relative", re.compile(
        r"\b(?:the\s+day\s+(?P<ba>before|after)\s+)?(?P<w>yesterday|today|tomorrow|tonight|this\s+morning"
        r"|this\s+afternoon|this\s+evening|last\s+night)\b", _F), _b_day_word),
    ("relative", re.compile(
        r"\b(?P<w>last|this|next|past|previous|coming|current)\s+(?P<u>week|weekend|month|year|decade|century"
        r"|quarter|spring|summer|autumn|fall|winter)\b", _F), _b_relative_unit),
    ("relative", re.compile(
        r"\b(?P<w>last|past|previous|next|coming)\s+(?P<n>" + _NUM
        + r")\s+(?P<u>days|weeks|months|years|decades)\b", _F), _b_relative_window),
    ("relative", re.compile(
        r"\b(?P<n>" + _NUM + r")\s+(?P<u>days?|weeks?|months?|years?|decades?)\s+ago\b", _F), _b_ago),
    ("relative", re.compile(
        r"\b(?:(?P<w>[Ll]ast|[Tt]his|[Nn]ext|[Oo]n|[Pp]ast)\s+)?"
        r"(?P<d>(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day)\b"),
     _b_weekday),
    ("relative", re.compile(
        r"\b(?P<v>recently|lately|nowadays|currently|presently|at\s+present|these\s+days|right\s+now"
        r"|at\s+the\s+moment|in\s+recent\s+(?:years|months|weeks)|(?:earlier|later|so\s+far)\s+this\s+"
        r"(?:year|month|week))\b", _F), _b_vague),
]  # fmt: skip


class _QuarterMatch:
    """Adapts a "Q3"/"3Q" match to :func:`_b_quarter`, which reads groups ``q`` and ``y``."""

    def __init__(self, match: re.Match[str], quarter: str) -> None:
        self._match, self._quarter = match, quarter

    def __getitem__(self, key: str) -> str:
        return self._quarter if key == "q" else self._match[key]


# Cheap literal searches that must succeed before a rule's regex runs: most rules need a month name,
# a four-digit number or a key word, and most of a corpus has none of them near each other.
_H_YEAR = re.compile(r"\d{4}")
_H_MONTH = re.compile(r"jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec", _F)
_H_NUMERIC = re.compile(r"\d[-/.]\d")
_HINTS_BY_BUILDER: dict[object, tuple[re.Pattern[str], ...]] = {
    _b_iso: (_H_YEAR, _H_NUMERIC),
    _b_numeric: (_H_YEAR, _H_NUMERIC),
    _b_mdy: (_H_YEAR, _H_MONTH),
    _b_day_range: (_H_YEAR, _H_MONTH),
    _b_month_range: (_H_YEAR, _H_MONTH),
    _b_month_part: (_H_YEAR, _H_MONTH),
    _b_month_year: (_H_YEAR, _H_MONTH),
    _b_season: (_H_YEAR, re.compile(r"spring|summer|autumn|fall|winter", _F)),
    _b_quarter: (_H_YEAR, re.compile(r"quarter|q[1-4]|[1-4]q", _F)),
    _b_half: (_H_YEAR, re.compile(r"half|h[12]", _F)),
    _b_decade: (re.compile(r"\d0['’]?s"),),
    _b_short_decade: (re.compile(r"\d0['’]?s"),),
    _b_century: (re.compile(r"centur", _F),),
    _b_year_part: (_H_YEAR, re.compile(r"early|mid|late|of", _F)),
    _b_year_short_range: (re.compile(r"\d{4}\s?[-–—/]\s?\d\d"),),
    _b_iso_month: (re.compile(r"\d{4}-\d"),),
    _b_year: (_H_YEAR,),
    _b_holiday: (
        _H_YEAR,
        re.compile(r"christmas|year|halloween|valentine|independence|boxing|bastille|thanks|easter", _F),
    ),
    _b_month_day: (_H_MONTH,),
    _b_bare_month: (_H_MONTH,),
    _b_day_word: (re.compile(r"yesterday|today|tomorrow|tonight|morning|afternoon|evening|night", _F),),
    _b_relative_unit: (re.compile(r"last|this|next|past|previous|coming|current", _F),),
    _b_relative_window: (re.compile(r"last|past|previous|next|coming", _F),),
    _b_ago: (re.compile(r"ago", _F),),
    _b_weekday: (re.compile(r"day"),),
    _b_vague: (re.compile(r"recent|late|now|current|present|days|moment|this", _F),),
}
_HINTS = [_HINTS_BY_BUILDER.get(builder, (_H_YEAR,)) for _kind, _pattern, builder in _RULES]

_QUICK_REJECT = re.compile(
    r"\d|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|day|week|month|year|now|ago|tonight|recent|lately"
    r"|present|quarter|century|spring|summer|autumn|fall|winter|moment|past",
    _F,
)
_FULL_MONTH_DOT = re.compile(
    r"(?:January|February|March|April|May|June|July|August|September|October|November|December)\.$", _F
)
_RANGE_GAP = re.compile(r"\s*(?:[-–—]|to|through|thru|until|till|and|&)\s*", _F)
_RANGE_LEAD = re.compile(r"\b(from|between)\s+(?:the\s+(?:years?\s+)?)?$", _F)
_FREE_CONNECTORS = {"-", "–", "—", "to", "through", "thru"}


def scan(text: str, reference: date | None = None) -> list[Match]:
    """Find the time expressions of a text, longest first, merged into ranges where joined.

    :param text: any text.
    :param reference: the day relative expressions are resolved against; ``None`` skips them.
    :returns: non-overlapping matches in text order.
    """
    if not text or not _QUICK_REJECT.search(text):
        return []
    candidates: list[tuple[int, int, int, Match]] = []
    hint_seen: dict[re.Pattern[str], bool] = {}
    for priority, (kind, pattern, builder) in enumerate(_RULES):
        if kind == "relative" and reference is None:
            continue
        if not all(_hint(hint, text, hint_seen) for hint in _HINTS[priority]):
            continue
        for found in pattern.finditer(text):
            try:
                interval = builder(found, text, reference)
            except (ValueError, KeyError, OverflowError):
                interval = None  # "31 February", a year out of range: not a date
            if interval is not None:
                start, end = found.span()
                if text[end - 1] == "." and _FULL_MONTH_DOT.search(text, start, end):
                    end -= 1  # "on 4 July." ends the sentence; only "Jan." keeps its dot
                candidates.append((start, end, priority, Match(start, end, interval, kind)))
    return _merge_ranges(text, _select(candidates))


def _hint(hint: re.Pattern[str], text: str, seen: dict[re.Pattern[str], bool]) -> bool:
    if hint not in seen:
        seen[hint] = hint.search(text) is not None
    return seen[hint]


def _select(candidates: list[tuple[int, int, int, Match]]) -> list[Match]:
    """Keep the longest non-overlapping candidates (rule order breaks ties)."""
    candidates.sort(key=lambda c: (c[0] - c[1], c[2], c[0]))
    taken: list[Match] = []
    for start, end, _priority, match in candidates:
        if all(end <= other.start or start >= other.end for other in taken):
            taken.append(match)
    taken.sort(key=lambda match: match.start)
    return taken


def _merge_ranges(text: str, matches: list[Match]) -> list[Match]:
    """Join "X to Y", "from X until Y", "between X and Y" into one range match."""
    merged: list[Match] = []
    index = 0
    while index < len(matches):
        current = matches[index]
        if index + 1 < len(matches):
            joined = _join(text, current, matches[index + 1])
            if joined is not None:
                merged.append(joined)
                index += 2
                continue
        merged.append(_with_lead(text, current))
        index += 1
    return merged


def _join(text: str, first: Match, second: Match) -> Match | None:
    gap = text[first.end : second.start]
    if not _RANGE_GAP.fullmatch(gap) or first.kind == "relative" and second.kind != "relative":
        return None
    connector = gap.strip().lower()
    lead_match = _RANGE_LEAD.search(text[max(0, first.start - 30) : first.start])
    lead = lead_match.group(1).lower() if lead_match else None
    if connector in {"and", "&"} and lead != "between":
        return None
    if connector in {"until", "till"} and lead != "from":
        return None
    a, b = first.interval, second.interval
    if a.start is None or b.end is None or a.end is None or b.start is None:
        return None
    if b.end < a.start:
        if lead is None:
            return None
        a, b = b, a  # "from 1959 to 1958": a typo in a stated range; keep the range, in order
    start = first.start - len(lead_match.group(0)) if lead_match else first.start
    interval = Interval(a.start, b.end, _finer(a.granularity, b.granularity))
    return Match(start, second.end, interval, "range", lead)


def _with_lead(text: str, match: Match) -> Match:
    """Mark single ranges ("1990-93") that carry a "from"/"between" lead, and include the lead."""
    if match.kind != "range":
        return match
    lead_match = _RANGE_LEAD.search(text[max(0, match.start - 30) : match.start])
    if not lead_match:
        return match
    return Match(match.start - len(lead_match.group(0)), match.end, match.interval, "range",
                 lead_match.group(1).lower())  # fmt: skip


_YEARLESS_RULES = [pattern for kind, pattern, builder in _RULES if builder is _b_month_day]


def yearless_days(text: str) -> list[tuple[int, int]]:
    """The (month, day) of written days without a year ("on March 3", "5 May"), in text order.

    :param text: any text.
    :returns: (month, day) pairs; a day may be invalid in some years ("February 29").
    """
    if not _H_MONTH.search(text):
        return []
    found = []
    for pattern in _YEARLESS_RULES:
        for match in pattern.finditer(text):
            day = _day_number(match["d"])
            if 1 <= day <= 31:
                found.append((match.start(), _month(match["m"]), day))
    return [(month, day) for _start, month, day in sorted(found)]
