"""Multiple-choice questions: which of the given options the passages and the reader's reply support.

RealTimeQA-style questions come with options. The option the cited passages support best decides first
(:func:`choice_from_evidence`); where no passage writes any option, the reader's reply does (a letter, "B",
or the option's words: :func:`option_from_reply`).
"""

from __future__ import annotations

import functools
import re

from haystack import Document

from chronorag.pipeline.evidence import answer_overlap, content_words

LETTERS = "ABCDEFGH"
_CITATION_MARK = re.compile(r"\[\d{1,2}\]")
_LETTER = re.compile(r"^\s*\(?([A-H])\)?(?:[.:)\s]|$)")


def option_letters(choices: list[str]) -> list[str]:
    """
    The options as the prompt lists them: "A. Squid Game" (an empty option as "A. (empty)": data sets
    have them, and the letters must stay in place).

    :param choices: the options (at most 8).
    :returns: one line per option.
    :raises ValueError: for more than 8 options.
    """
    if len(choices) > len(LETTERS):
        raise ValueError(f"at most {len(LETTERS)} options, not {len(choices)}")
    return [f"{LETTERS[index]}. {option_text(choice) or '(empty)'}" for index, choice in enumerate(choices)]


def option_from_reply(reply: str, choices: list[str]) -> int | None:
    """
    The option a reader's reply names: its leading letter ("B", "(B)", "B. Squid Game"), else the option
    whose words it shares most (:func:`choose_option`).

    :param reply: the reply.
    :param choices: the options.
    :returns: the option's index, or `None`.
    """
    match = _LETTER.match(reply or "")
    if match and LETTERS.index(match.group(1)) < len(choices):
        return LETTERS.index(match.group(1))
    return choose_option(reply or "", choices)


def choose_option(reply: str, choices: list[str]) -> int | None:
    """Map a free-text reply to the option it names (best token F1; ``None`` when none overlaps or two tie).

    :param reply: the reader's reply.
    :param choices: the options.
    :returns: the chosen index, or ``None``.
    """
    reply = _CITATION_MARK.sub(" ", reply)
    scores = [answer_overlap(reply, option_text(choice)) for choice in choices]
    if not scores or max(scores) == 0.0 or scores.count(max(scores)) > 1:
        return None
    return scores.index(max(scores))


def option_text(choice: str) -> str:
    """A choice without the display quotes RealTimeQA puts around titles ("“Squid Game”")."""
    return choice.strip("\"'“”‘’ ")


def choice_from_evidence(question: str, choices: list[str], documents: list[Document]) -> int | None:
    """The option the passages support best. Wherever a passage writes an option (most of its words, DPR
    tokens), the text around it votes for the option by how many of the question's content words it
    shares, discounted by the passage's rank; an option's support is its best vote.

    :param question: the question.
    :param choices: the options.
    :param documents: the cited passages, best first.
    :returns: the chosen index, or ``None`` when no passage writes any option (or two tie).
    """
    texts = tuple(f"{(doc.meta or {}).get('title') or ''}. {doc.content or ''}" for doc in documents)
    return _choice_from_texts(question, tuple(choices), texts)


# Cached: in the graph the prompt builder asks first (is the LLM needed?), then the answer builder decides.
@functools.lru_cache(maxsize=256)
def _choice_from_texts(question: str, choices: tuple[str, ...], texts: tuple[str, ...]) -> int | None:
    asked = {word[:5] for word in content_words(question)}
    scores = [0.0] * len(choices)
    for rank, text in enumerate(texts, start=1):
        tokens = _tokens_with_offsets(text)
        for index, choice in enumerate(choices):
            for start, end, share in _occurrences(option_text(choice), tokens):
                window = text[max(0, start - _WINDOW) : end + _WINDOW]
                nearby = {word[:5] for word in content_words(window)}
                shared = len(asked & nearby) / max(1, len(asked))
                scores[index] = max(scores[index], share * (0.2 + shared) / rank**0.5)
    best = max(scores, default=0.0)
    if best == 0.0 or scores.count(best) > 1:
        return None
    return scores.index(best)


_WINDOW = 200  # characters either side of an option's mention that speak for it


def _tokens_with_offsets(text: str) -> list[tuple[str, int, int]]:
    return [(match.group().lower(), match.start(), match.end()) for match in _WORD.finditer(text)]


def _occurrences(option: str, tokens: list[tuple[str, int, int]]) -> list[tuple[int, int, float]]:
    """Where a passage writes an option: runs of the option's words (at least half of its content words,
    all of a one- or two-word option), as (start, end, share of its words)."""
    words = [word.lower() for word in _WORD.findall(option)]
    wanted = [word for word in words if word not in _STOP] or words
    if not wanted:
        return []
    needed = len(wanted) if len(wanted) <= 2 else (len(wanted) + 1) // 2
    found = []
    positions = [i for i, (token, _, _) in enumerate(tokens) if token in wanted]
    for i in positions:
        run = {tokens[j][0] for j in range(i, min(len(tokens), i + len(words) + 2)) if tokens[j][0] in wanted}
        if len(run) >= needed:
            last = min(len(tokens), i + len(words) + 2) - 1
            found.append((tokens[i][1], tokens[last][2], len(run) / len(wanted)))
    return found


_WORD = re.compile(r"[\w$%]+")
_STOP = {"the", "a", "an", "of", "and", "in", "on", "for", "to", "at", "by", "with", "its", "it", "is"}


def passages_writing(option: str, documents: list[Document]) -> list[int]:
    """
    The passages (numbered from 1, in rank order) that write an option, for the answer to cite.

    :param option: the option.
    :param documents: the ranked passages.
    :returns: their numbers.
    """
    numbers = []
    for number, doc in enumerate(documents, start=1):
        text = f"{(doc.meta or {}).get('title') or ''}. {doc.content or ''}"
        if _occurrences(option_text(option), _tokens_with_offsets(text)):
            numbers.append(number)
    return numbers
