"""The one light sentence rule, with character offsets (the rankers' ``split_sentences`` reads it too).

A sentence ends at ``.``, ``!`` or ``?`` followed by spaces and a capital, a digit, a quote or a
parenthesis, which is robust to TimeQA's " ." tokenisation. Offsets are kept because
``meta["time_spans"]`` records where each span sits in the passage. (The answer extractor's sentences come
from spaCy's parse, which it needs anyway: ``pipeline/evidence.py``.)
"""

from __future__ import annotations

import re

SENTENCE_BOUNDARY = re.compile(r"(?<=[.!?])\s+(?=[\"“(A-Z0-9])")


def sentence_bounds(text: str) -> list[tuple[int, int]]:
    """The sentences of a text as ``(start, end)`` character offsets, without surrounding spaces.

    :param text: a passage.
    :returns: the non-empty sentences in order (one span for text with no boundary).
    """
    bounds: list[tuple[int, int]] = []
    start = 0
    for boundary in SENTENCE_BOUNDARY.finditer(text or ""):
        bounds.append((start, boundary.start()))
        start = boundary.end()
    bounds.append((start, len(text or "")))
    trimmed = []
    for begin, end in bounds:
        while begin < end and text[begin].isspace():
            begin += 1
        while end > begin and text[end - 1].isspace():
            end -= 1
        if begin < end:
            trimmed.append((begin, end))
    return trimmed
