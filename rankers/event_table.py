"""An in-memory table of dated events (short texts) with their embeddings, for the event expander.

Events come from a user's JSONL file (one ``{"text": ..., "date": "YYYY-MM-DD"}`` per line; an
optional ``"title"`` is prefixed), from records built in code (title + lead of dated documents),
or from the indexers' ``EventIndex``. Selection keeps only events dated at or before the reference
time and ranks them by similarity to the question plus a recency bonus that halves every
``half_life_days``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class SelectedEvents:
    """Events selected for one question.

    :param indices: rows of the table.
    :param similarities: cosine similarity to the question.
    :param ages: days between each event and the reference time (>= 0).
    """

    indices: np.ndarray
    similarities: np.ndarray
    ages: np.ndarray


class EventTable:
    """Dated event texts with normalised embeddings.

    :param texts: event texts.
    :param days: event dates as day ordinals.
    :param embeddings: ``(n, dim)`` normalised embeddings.
    """

    def __init__(self, texts: list[str], days: np.ndarray, embeddings: np.ndarray) -> None:
        if not len(texts) == len(days) == len(embeddings):
            raise ValueError("texts, days and embeddings must have the same length")
        self.texts = texts
        self.days = np.asarray(days, dtype=np.int64)
        self.embeddings = np.asarray(embeddings, dtype=np.float32)

    def __len__(self) -> int:
        return len(self.texts)

    @classmethod
    def from_records(cls, records: Iterable[dict[str, Any]], encoder: Any) -> EventTable:
        """Embed records ``{"text", "date", "title"?}``; records without a valid date or text are skipped.

        :param records: event records.
        :param encoder: a SentenceTransformer.
        :returns: the table.
        """
        texts, days = [], []
        for record in records:
            text = str(record.get("text") or "").strip()
            title = str(record.get("title") or "").strip()
            day = _parse_day(record.get("date"))
            if not (text or title) or day is None:
                continue
            texts.append(f"{title}. {text}" if title and text else (text or title))
            days.append(day.toordinal())
        dim = _dimension(encoder)
        vectors = (
            encoder.encode(
                texts,
                batch_size=64,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            if texts
            else np.zeros((0, dim), dtype=np.float32)
        )
        return cls(texts, np.array(days, dtype=np.int64), vectors)

    @classmethod
    def from_jsonl(cls, path: str | Path, encoder: Any) -> EventTable:
        """Read a user's event file: one JSON object ``{"text", "date"}`` per line.

        :param path: the JSONL file.
        :param encoder: a SentenceTransformer.
        :returns: the table.
        :raises ValueError: when a line is not JSON.
        """
        records = []
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{number}: not a JSON object ({exc.msg})") from exc
        return cls.from_records(records, encoder)

    def select(
        self,
        query: np.ndarray,
        reference: date,
        top_k: int,
        half_life_days: float = 30.0,
        recency_weight: float = 0.1,
    ) -> SelectedEvents:
        """The ``top_k`` events most related to ``query`` among those dated on or before ``reference``.

        :param query: a normalised question embedding.
        :param reference: the question's reference time; later events are never selected.
        :param top_k: events to keep.
        :param half_life_days: age at which the recency bonus halves.
        :param recency_weight: size of the recency bonus added to the cosine.
        :returns: the selection, best first.
        """
        limit = reference.toordinal()
        eligible = np.flatnonzero(self.days <= limit)
        if eligible.size == 0 or top_k <= 0:
            empty = np.zeros(0)
            return SelectedEvents(empty.astype(np.int64), empty.astype(np.float32), empty.astype(np.float32))
        similarities = self.embeddings[eligible] @ np.asarray(query, dtype=np.float32)
        ages = (limit - self.days[eligible]).astype(np.float32)
        scores = similarities + recency_weight * np.power(0.5, ages / max(half_life_days, 1e-6))
        order = np.argsort(-scores, kind="stable")[:top_k]
        return SelectedEvents(eligible[order], similarities[order], ages[order])


def _parse_day(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    if not value:
        return None
    text = str(value).strip().replace("/", "-")[:10]
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _dimension(encoder: Any) -> int:
    getter = getattr(encoder, "get_embedding_dimension", None) or encoder.get_sentence_embedding_dimension
    return int(getter())
