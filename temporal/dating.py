"""Document dating: reading publication dates from metadata and estimating them for undated text.

``parse_publication_date`` reads the formats found in crawled metadata without ever raising.
``infer_document_date`` is a transparent estimator for undated documents: news text mentions the
days around its own publication, so the estimate is the latest well-supported specific date
mentioned, pulled towards the present of the text by words like "today", "this week" or weekday
names, and falling back to the latest month or year mentioned.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime

from chronorag.temporal.grammar import MAX_YEAR, MIN_YEAR, scan, yearless_days
from chronorag.temporal.model import Granularity, TimeMention

_ISO_LIKE = re.compile(
    r"(?P<y>\d{4})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})(?:$|[T\s/_].*$)"
)  # 2022-06-16, 2022/06/16, 2022/06/17/16:34, 2022.06.16, 2022-06-16T10:00:00+02:00
_COMPACT = re.compile(r"(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})(?:T\d{4,6}Z?)?")
_YEAR_MONTH = re.compile(r"(?P<y>\d{4})[-/.](?P<m>\d{1,2})")
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")
_EPOCH_MIN, _EPOCH_MAX = -2_208_988_800, 4_102_444_800  # 1900-01-01 .. 2100-01-01 in seconds


def parse_publication_date(value: str | int | float | date | datetime | None) -> date | None:
    """Read a publication date from metadata in any common format.

    Accepts ``date``/``datetime``, ISO dates and datetimes, "2022/06/16", "2022/06/17/16:34",
    "20220616", RFC 2822 ("Thu, 16 Jun 2022 10:00:00 +0000"), epoch seconds (or milliseconds) as
    int, float or string, and written dates ("June 16, 2022", "16 June 2022"). A datetime keeps the
    calendar day of its own time zone.

    :param value: the metadata value.
    :returns: the date, or ``None`` when the value is not a readable date; never raises.
    """
    try:
        return _parse(value)
    except (ValueError, TypeError, OverflowError, OSError, IndexError):
        return None


def _parse(value: object) -> date | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, int | float):
        return _from_epoch(float(value))
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text:
        return None
    if _NUMBER.fullmatch(text):
        compact = _COMPACT.fullmatch(text)
        if compact and len(text) == 8:
            return _checked(int(compact["y"]), int(compact["m"]), int(compact["d"]))
        if len(text) == 4:
            return _checked(int(text), 1, 1)
        # A short digit string is a year, a count or a typo, not seconds since 1970.
        return _from_epoch(float(text)) if len(text.split(".")[0].lstrip("+-")) >= 9 else None
    for pattern in (_ISO_LIKE, _COMPACT):
        found = pattern.fullmatch(text)
        if found:
            return _checked(int(found["y"]), int(found["m"]), int(found["d"]))
    found = _YEAR_MONTH.fullmatch(text)
    if found:
        return _checked(int(found["y"]), int(found["m"]), 1)
    if re.fullmatch(r"\d{4}", text):
        return _checked(int(text), 1, 1)
    return _parse_written(text)


def _checked(year: int, month: int, day: int) -> date | None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        return None
    return date(year, month, day)


def _from_epoch(seconds: float) -> date | None:
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    if abs(seconds) > _EPOCH_MAX * 10:  # milliseconds since the epoch
        seconds /= 1000.0
    if not _EPOCH_MIN <= seconds <= _EPOCH_MAX:
        return None
    return datetime.fromtimestamp(seconds, tz=UTC).date()


def _parse_written(text: str) -> date | None:
    """RFC 2822 first, then one written day ("June 16, 2022"), then dateparser as the last resort."""
    try:
        return parsedate_to_datetime(text).date()
    except (TypeError, ValueError, IndexError):
        pass
    matches = scan(text)
    if len(matches) == 1 and matches[0].interval.granularity is Granularity.DAY:
        return matches[0].interval.start
    if not re.search(r"\d{4}", text):
        return None  # without a year dateparser would take today's
    import dateparser

    parsed = dateparser.parse(
        text, languages=["en"], settings={"PREFER_DAY_OF_MONTH": "first", "REQUIRE_PARTS": ["year", "month"]}
    )
    if parsed is None or not MIN_YEAR <= parsed.year <= MAX_YEAR:
        return None
    return parsed.date()


# --- inferring the date of an undated document -----------------------------------------------------
_PRESENT_WORDS = re.compile(
    r"\b(?:today|tonight|this\s+(?:morning|afternoon|evening|week)|yesterday|on\s+(?:Monday|Tuesday|Wednesday"
    r"|Thursday|Friday|Saturday|Sunday)|(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)\b|last\s+week"
    r"|this\s+year)",
    re.IGNORECASE,
)
_CLUSTER_DAYS = 15  # specific dates this close to the densest group count as the story's present
_SPECIFIC = (Granularity.DAY, Granularity.WEEK)


def infer_document_date(mentions: list[TimeMention], text: str | None = None) -> tuple[date | None, float]:
    """Estimate when an undated document was written from the dates it mentions.

    The estimator, in order:

    0. a dateline ("Wednesday, November 23, 2022": weekday and full date) is taken as it is;
    1. the latest year mentioned anchors the search, held to one year after the latest specific date,
       and dates after "until", "by", "plans", "expected" and the like are ignored (plans, not news);
       year-less dates with a weekday ("Tuesday, March 8") move the anchor to the first year that fits;
    2. specific days are the document's own mentions plus, when ``text`` is given, the
       day-month phrases without a year ("on March 3") placed in that anchor year;
    3. among specific days, the densest group (a 30-day window) is the story's present,
       and the estimate is its latest day, since news reports things that have happened;
    4. words of the present ("today", "this week", weekday names) raise confidence that the latest
       day is the writing day; otherwise the latest month, then the anchor year's middle, is used.

    :param mentions: the document's time mentions (from :func:`extract_mentions`).
    :param text: the document text, used for year-less dates and words of the present.
    :returns: the estimated date and a confidence in [0, 1]; ``(None, 0.0)`` when nothing is dated.
    """
    try:
        return _infer(mentions, text)
    except (ValueError, OverflowError):
        return None, 0.0


_FUTURE_CUE = re.compile(
    r"\b(?:until|till|through|by|will|would|expected|expects?|plans?|planned|target(?:ed|s)?|scheduled|forecasts?"
    r"|projected|goal|deadline|next|upcoming|due|starting|begins?|ahead\s+of)\s+(?:\w+\s+){0,2}$",
    re.IGNORECASE,
)


def _about_the_future(mention: TimeMention, text: str | None) -> bool:
    """True for "the plan runs until 2030": such dates say nothing about when the text was written."""
    if not text or text[mention.char_start : mention.char_end] != mention.text:
        return False  # mentions found in passages carry passage offsets, not offsets into this text
    before = text[max(0, mention.char_start - 40) : mention.char_start]
    return before.endswith(" ") and _FUTURE_CUE.search(before) is not None


def _infer(mentions: list[TimeMention], text: str | None) -> tuple[date | None, float]:
    mentions = [m for m in mentions if not _about_the_future(m, text)]
    datelines = [m.interval.start for m in mentions if _is_dateline(m)]
    if datelines:
        # "Wednesday, November 23, 2022": a written weekday with a full date is how datelines look.
        return max(datelines), 0.9
    anchor_year = _anchor_year(mentions)
    if text and anchor_year is not None:
        # "on Tuesday, March 8" names the year: the first one from the anchor on where March 8 is a Tuesday.
        anchor_year = _weekday_year(text, anchor_year) or anchor_year
    days = [m.interval.end for m in mentions if m.interval.granularity in _SPECIFIC and m.interval.end]
    if text and anchor_year is not None:
        days += _yearless_days(text, anchor_year)
    present = bool(text and _PRESENT_WORDS.search(text))
    if days:
        group = _densest_group(days, anchor_year)
        if group:
            estimate = max(group)
            support = len(group) / (len(group) + 2.0)
            confidence = min(0.95, 0.35 + 0.4 * support + (0.15 if present else 0.0))
            return estimate, round(confidence, 3)
    months = [m.interval for m in mentions if m.interval.granularity is Granularity.MONTH and m.interval.end]
    months = [m for m in months if anchor_year is None or m.start.year >= anchor_year - 1]
    if months:
        latest = max(months, key=lambda interval: interval.start)
        return latest.start + timedelta(days=14), 0.35 if present else 0.3
    if anchor_year is not None:
        return date(anchor_year, 7, 1), 0.2
    return None, 0.0


_WEEKDAY_DATE = re.compile(
    r"\b(?P<w>Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day,?\s+(?P<m>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.?"
    r"\s+(?P<d>\d{1,2})\b(?!\s*,?\s*\d{4})"
)
_WEEKDAY_INDEX = {"mon": 0, "tues": 1, "wednes": 2, "thurs": 3, "fri": 4, "satur": 5, "sun": 6}
_MONTH_INDEX = {
    name: i for i, name in enumerate(str.split("jan feb mar apr may jun jul aug sep oct nov dec"), 1)
}


def _weekday_year(text: str, anchor_year: int) -> int | None:
    """The first year from ``anchor_year - 1`` in which the text's "Weekday, Month Day" dates fall right."""
    votes: Counter[int] = Counter()
    for found in _WEEKDAY_DATE.finditer(text):
        weekday, month = _WEEKDAY_INDEX[found["w"].lower()], _MONTH_INDEX[found["m"].lower()]
        for year in range(anchor_year - 1, anchor_year + 7):
            try:
                if date(year, month, int(found["d"])).weekday() == weekday:
                    votes[year] += 1
                    break  # the first fitting year: texts are written soon after what they mention
            except ValueError:
                break
    return votes.most_common(1)[0][0] if votes else None


_WEEKDAY_START = re.compile(
    r"(?:Mon|Tues?|Wed(?:nes)?|Thu(?:rs)?|Fri|Sat(?:ur)?|Sun)(?:day)?\b", re.IGNORECASE
)


def _is_dateline(mention: TimeMention) -> bool:
    interval = mention.interval
    return interval.granularity is Granularity.DAY and bool(_WEEKDAY_START.match(mention.text))


def _anchor_year(mentions: list[TimeMention]) -> int | None:
    """The latest year mentioned, held to at most one year after the latest specific date.

    Bare years beyond every dated event are mostly plans ("the 2024 election"); specific dates
    (days, months, seasons) are mostly things that happened.
    """
    years: Counter[int] = Counter()
    for mention in mentions:
        interval = mention.interval
        if interval.start is None and interval.end is None:
            continue
        if interval.granularity in (Granularity.DECADE, Granularity.CENTURY):
            continue
        # An open span ("since 2012") names only its stated end: that year, not the years it runs on.
        first = (interval.start or interval.end).year
        last = interval.end.year if interval.start and interval.end else first
        for year in range(first, min(last, first + 2) + 1):
            years[year] += 1
    if not years:
        return None
    specific = [
        m.interval.start.year for m in mentions if m.interval.start and m.interval.granularity.days <= 91
    ]
    if specific and max(years) > max(specific) + 1:
        return max(specific) + 1
    return max(years)


def _yearless_days(text: str, year: int) -> list[date]:
    """Day-month phrases without a year ("on March 3"), read as days of ``year``."""
    days = []
    for month, day in yearless_days(text):
        try:
            days.append(date(year, month, day))
        except ValueError:
            continue  # "February 30"
    return days


def _densest_group(days: list[date], anchor_year: int | None) -> list[date]:
    """The days within ``_CLUSTER_DAYS`` of the median of the most populated window."""
    if anchor_year is not None:
        near = [day for day in days if anchor_year - 1 <= day.year <= anchor_year + 1]
        days = near or days
    days = sorted(days)
    best: list[date] = []
    for index, centre in enumerate(days):
        window = [day for day in days[index:] if (day - centre).days <= 2 * _CLUSTER_DAYS]
        if len(window) > len(best) or (
            len(window) == len(best) and window and best and window[-1] > best[-1]
        ):
            best = window
    return best
