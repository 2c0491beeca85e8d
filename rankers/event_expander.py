"""``EventExpander``: a time-context question embedding from the events that preceded the question.

Event-driven real-time retrieval: a news question ("which show was green lit for a new season?")
is easier to place once the retriever knows what happened shortly before the question was asked.
The expander fetches the events most related to the question among those dated at or before the
reference time (recent ones weigh more), fuses them into the question embedding with
:class:`~chronorag.rankers.cross_attention.CrossAttentionFusion`, and hands the dense retriever
the fused embedding. Events dated after the reference time are never selected, so nothing from
the future leaks into the query.

Event sources, in order: ``events_path`` (a user's JSONL file ``{"text", "date"}`` per line), else
``store_path`` (the store's ``chronorag.indexers.events.EventIndex``: title + lead of every dated
document). Training-free by default; ``weights_path`` loads weights from ``chronorag train-expander``.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

import numpy as np
from haystack import Document, component, default_from_dict, default_to_dict

from chronorag.models import get_sentence_transformer, resolve_device
from chronorag.rankers.cross_attention import CrossAttentionFusion
from chronorag.rankers.event_table import EventTable, SelectedEvents, _dimension, _parse_day
from chronorag.temporal.model import Relation, TemporalConstraint

logger = logging.getLogger(__name__)


@component
class EventExpander:
    """Fuses a question embedding with recent related events through cross-attention.

    Usage::

        expander = EventExpander(events_path="events.jsonl", top_events=8)
        expander.warm_up()
        result = expander.run(query_embedding=embedding, constraint=constraint)
        result["embedding"], result["events"]
    """

    def __init__(
        self,
        events_path: str | None = None,
        store_path: str | None = None,
        weights_path: str | None = None,
        top_events: int = 8,
        candidates: int = 64,
        gate: float = 0.3,
        temperature: float = 0.05,
        recency: float = 0.5,
        half_life_days: float = 30.0,
        recency_weight: float = 0.1,
        embedding_model: str = "default",
        device: str = "auto",
    ) -> None:
        """Create the expander.

        :param events_path: a JSONL event file (``{"text", "date"}`` per line; optional ``"title"``).
        :param store_path: a ``ChronoDocumentStore`` folder whose event index is used when no file is given.
        :param weights_path: trained cross-attention weights (``chronorag train-expander``); ``None``:
            training-free (identity projections, the fixed ``gate`` and ``temperature``).
        :param top_events: events fused into each question.
        :param candidates: events fetched from a store's event index before recency re-ranking.
        :param gate: residual gate in [0, 1] (training-free); 0 returns the question unchanged.
        :param temperature: attention temperature (training-free).
        :param recency: attention penalty per unit of ``log(1 + age in days)`` (training-free).
        :param half_life_days: age at which an event's selection bonus halves.
        :param recency_weight: size of that selection bonus, added to the cosine.
        :param embedding_model: ``"default"`` or a local sentence-transformers folder (as the store).
        :param device: torch device or ``"auto"``.
        :raises ValueError: on invalid numbers.
        """
        if top_events < 0 or candidates < 1:
            raise ValueError("top_events must be >= 0 and candidates >= 1")
        if not 0.0 <= gate <= 1.0 or temperature <= 0:
            raise ValueError("gate must be in [0, 1] and temperature positive")
        self.events_path = events_path
        self.store_path = store_path
        self.weights_path = weights_path
        self.top_events = top_events
        self.candidates = candidates
        self.gate = gate
        self.temperature = temperature
        self.recency = recency
        self.half_life_days = half_life_days
        self.recency_weight = recency_weight
        self.embedding_model = embedding_model
        self.device = device
        self.table: EventTable | None = None
        self.fusion: CrossAttentionFusion | None = None
        self._index: Any = None
        self._encoder: Any = None

    # --- lifecycle ----------------------------------------------------------------------------
    def warm_up(self) -> None:
        """Load the encoder, the events (embedding a JSONL file once) and the fusion weights."""
        if self.fusion is not None:
            return
        self._encoder = get_sentence_transformer(self.embedding_model, device=self.device)
        if self.events_path:
            self.table = EventTable.from_jsonl(self.events_path, self._encoder)
        elif self.store_path:
            from chronorag.indexers.events import EventIndex

            self._index = EventIndex(self.store_path)
        if self.weights_path:
            self.fusion = CrossAttentionFusion.load(
                self.weights_path, map_location=resolve_device(self.device)
            )
        else:
            dim = _dimension(self._encoder)
            self.fusion = (
                CrossAttentionFusion(
                    dim=dim, temperature=self.temperature, gate=self.gate, recency=self.recency
                )
                .to(resolve_device(self.device))
                .eval()
            )

    def use_table(self, table: EventTable) -> None:
        """Use an event table built in code (e.g. title + lead of the evaluation corpus) instead of a file.

        :param table: the events.
        """
        self.table = table

    def to_dict(self) -> dict[str, Any]:
        """Serialise the init parameters (paths as given: keep them relative to the working folder)."""
        return default_to_dict(
            self,
            events_path=self.events_path,
            store_path=self.store_path,
            weights_path=self.weights_path,
            top_events=self.top_events,
            candidates=self.candidates,
            gate=self.gate,
            temperature=self.temperature,
            recency=self.recency,
            half_life_days=self.half_life_days,
            recency_weight=self.recency_weight,
            embedding_model=self.embedding_model,
            device=self.device,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EventExpander:
        """Inverse of :meth:`to_dict`."""
        return default_from_dict(cls, data)

    # --- run --------------------------------------------------------------------------------
    @component.output_types(embedding=list[float], events=list[Document])
    def run(
        self, query_embedding: list[float], constraint: TemporalConstraint | None = None
    ) -> dict[str, Any]:
        """Fuse the question embedding with the events that preceded the reference time.

        :param query_embedding: the question's (normalised) bi-encoder embedding.
        :param constraint: its time constraint; its ``reference_time`` bounds the events (default: today).
        :returns: ``{"embedding": fused embedding, "events": the events used, best first, with meta
            date, age_days, attention and score}``.
        """
        self.warm_up()
        reference = constraint.reference_time if constraint else date.today()
        query = np.asarray(query_embedding, dtype=np.float32)
        vectors, events = self._select(query, reference)
        if not events:
            return {"embedding": [float(x) for x in query], "events": []}
        import torch

        device = next(self.fusion.parameters()).device
        ages = np.array([event.meta["age_days"] for event in events], dtype=np.float32)
        with torch.no_grad():
            fused, weights = self.fusion(
                torch.from_numpy(query)[None].to(device),
                torch.from_numpy(vectors)[None].to(device),
                torch.from_numpy(ages)[None].to(device),
            )
        for event, weight in zip(events, weights[0].tolist(), strict=True):
            event.meta["attention"] = float(weight)
        return {"embedding": fused[0].cpu().tolist(), "events": events}

    def fuse(self, query: np.ndarray, reference: date) -> tuple[np.ndarray, list[Document]]:
        """Plain-numpy convenience for evaluation loops: the fused embedding and the events used.

        :param query: a normalised question embedding.
        :param reference: the reference time.
        :returns: the fused embedding and the events.
        """
        result = self.run(
            query_embedding=query.tolist(),
            constraint=TemporalConstraint("", "", Relation.NONE, None, None, reference),
        )
        return np.asarray(result["embedding"], dtype=np.float32), result["events"]

    def _select(self, query: np.ndarray, reference: date) -> tuple[np.ndarray, list[Document]]:
        if self.top_events == 0:
            return np.zeros((0, query.shape[0]), dtype=np.float32), []
        if self.table is not None:
            selected = self.table.select(
                query, reference, self.top_events, self.half_life_days, self.recency_weight
            )
            return self._from_table(selected, reference)
        if self._index is not None:
            return self._from_index(query, reference)
        logger.warning("EventExpander has no events (give events_path or store_path); the query is unchanged")
        return np.zeros((0, query.shape[0]), dtype=np.float32), []

    def _from_table(self, selected: SelectedEvents, reference: date) -> tuple[np.ndarray, list[Document]]:
        assert self.table is not None
        events = []
        for row, similarity, age in zip(selected.indices, selected.similarities, selected.ages, strict=True):
            day = date.fromordinal(int(self.table.days[row]))
            events.append(
                Document(
                    content=self.table.texts[row],
                    score=float(similarity),
                    meta={"date": day.isoformat(), "age_days": float(age)},
                )
            )
        return self.table.embeddings[selected.indices], events

    def _from_index(self, query: np.ndarray, reference: date) -> tuple[np.ndarray, list[Document]]:
        found = self._index.search(query.tolist(), top_k=self.candidates, published_on_or_before=reference)
        rows, kept = [], []
        for doc in found:
            day = _parse_day((doc.meta or {}).get("date"))
            if day is None or day > reference:
                continue
            kept.append((doc, day))
        if not kept:
            return np.zeros((0, query.shape[0]), dtype=np.float32), []
        missing = [doc.content or "" for doc, _ in kept if doc.embedding is None]
        encoded = (
            iter(
                self._encoder.encode(
                    missing, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
                )
            )
            if missing
            else iter(())
        )
        for doc, _ in kept:
            rows.append(
                np.asarray(doc.embedding, dtype=np.float32) if doc.embedding is not None else next(encoded)
            )
        vectors = np.stack(rows)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True).clip(min=1e-12)
        ages = np.array([(reference - day).days for _, day in kept], dtype=np.float32)
        similarities = vectors @ query
        scores = similarities + self.recency_weight * np.power(0.5, ages / max(self.half_life_days, 1e-6))
        order = np.argsort(-scores, kind="stable")[: self.top_events]
        events = [
            Document(
                id=kept[i][0].id,
                content=kept[i][0].content,
                score=float(similarities[i]),
                meta={**(kept[i][0].meta or {}), "date": kept[i][1].isoformat(), "age_days": float(ages[i])},
            )
            for i in order
        ]
        return vectors[order], events
