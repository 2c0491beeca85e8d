"""``AnchorResolver``: dates the event a question is anchored to, from the store, as of the question's time.

"Who chaired the council when the new stadium opened?" is decomposed into "Who chaired the council?",
relation ``in`` and the anchor "the new stadium opened" (``chronorag.temporal.anchors``). This component
looks the event up in the store and gives the constraint the event's interval, so the retrievers, the
ranker and the answerer treat the question like "Who chaired the council in May 2019?".

Where it looks (never past the reference time):

- the passages most similar to the event text (dense search with the shared bi-encoder, passages
  published after the reference time excluded by the store);
- the store's event index (``chronorag.indexers.events``: title + lead of every dated document), for
  news that reports the event, restricted to events dated by the reference time.

How it dates: :func:`chronorag.temporal.anchor_dating.date_event` (the sentence most similar to the
event, the time span nearest the event's words, spans after the reference time ignored, a news lead's
*given* publication date when its sentence has no date, agreement across passages).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import date
from typing import Any

import numpy as np
from haystack import Document, component

from chronorag.indexers.backend import ChronoStore, store_component_from_dict, store_component_to_dict
from chronorag.indexers.text import passage_text
from chronorag.temporal.anchor_dating import EventEvidence, date_event
from chronorag.temporal.anchors import interval_text, without_dates
from chronorag.temporal.decompose import constraint_interval
from chronorag.temporal.extractor import extract_mentions
from chronorag.temporal.meta import TIME_SPANS, TITLE, proven_publication_date, source_title
from chronorag.temporal.model import EventAnchor, Interval, TemporalConstraint, TimeMention
from chronorag.temporal.sentences import sentence_bounds

logger = logging.getLogger(__name__)


@component
class AnchorResolver:
    """Resolves a constraint's event anchor to the event's interval, read from the store as of the question.

    A constraint without an anchor passes through unchanged. A resolved anchor sets the constraint's
    interval (the relation applied to the event: "before the merger" ends the day before it) and records
    the evidence in ``constraint.anchor``; an unresolved one keeps the date written in the anchor ("the
    2020 crash": 2020) or, with none, has no interval and puts the anchor back into the content, so its
    words still guide retrieval. ``constraint.anchor.how`` says which happened and why.

    Usage::

        resolver = AnchorResolver(ChronoDocumentStore("store"))  # or any ChronoStore backend
        resolver.warm_up()
        constraint = decompose("Who chaired the council when the new stadium opened?", as_of="2024-01-01")
        resolved = resolver.run(constraint=constraint)["constraint"]
        resolved.interval, resolved.anchor.how
    """

    def __init__(
        self,
        document_store: ChronoStore,
        top_k: int = 8,
        events_top_k: int = 4,
        min_relevance: float = 0.5,
        word_weight: float = 0.15,
        agreement_weight: float = 0.25,
        use_events: bool = True,
        embedding_model: str = "default",
        device: str = "auto",
    ) -> None:
        """
        :param document_store: the store to search (the pipeline's own; any :class:`ChronoStore` backend).
        :param top_k: passages searched for sentences that describe the event.
        :param events_top_k: events taken from the store's event index (0: passages only).
        :param min_relevance: least relevance of a sentence to the event (cosine similarity plus
            ``word_weight`` times the share of the event's words it contains) for it to count as describing
            the event. With all-MiniLM-L6-v2 a sentence stating the event scores 0.55-1.0, one about
            something else on the same page or with the same word 0.1-0.45.
        :param word_weight: weight of the event's own words found in the sentence.
        :param agreement_weight: weight of other passages that date the event alike.
        :param use_events: also search the store's event index (news leads).
        :param embedding_model: ``"default"`` or a local sentence-transformers folder (the store's model).
        :param device: torch device or ``"auto"``.
        :raises ValueError: on a store of the wrong type or numbers out of range.
        """
        if not isinstance(document_store, ChronoStore):
            raise ValueError("document_store must be a ChronoStore (such as a ChronoDocumentStore)")
        if top_k < 1 or events_top_k < 0 or min(word_weight, agreement_weight) < 0:
            raise ValueError("top_k must be >= 1, events_top_k, word_weight and agreement_weight >= 0")
        self.document_store = document_store
        self.top_k = top_k
        self.events_top_k = events_top_k
        self.min_relevance = min_relevance
        self.word_weight = word_weight
        self.agreement_weight = agreement_weight
        self.use_events = use_events
        self.embedding_model = embedding_model
        self.device = device
        self._encoder: Any = None
        self._events: Any = None

    def warm_up(self) -> None:
        """Load (or reuse) the shared bi-encoder and open the store's event index."""
        if self._encoder is None:
            from chronorag.models import get_sentence_transformer

            name = None if self.embedding_model == "default" else self.embedding_model
            self._encoder = get_sentence_transformer(name, device=self.device)
        if self.use_events and self.events_top_k and self._events is None:
            from chronorag.indexers.events import EventIndex

            self._events = EventIndex(self.document_store.path, embed=self._embed)

    def to_dict(self) -> dict[str, Any]:
        """
        :returns: the init parameters, the store as its own ``to_dict``.
        """
        return store_component_to_dict(
            self,
            top_k=self.top_k,
            events_top_k=self.events_top_k,
            min_relevance=self.min_relevance,
            word_weight=self.word_weight,
            agreement_weight=self.agreement_weight,
            use_events=self.use_events,
            embedding_model=self.embedding_model,
            device=self.device,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AnchorResolver:
        """
        :param data: the output of :meth:`to_dict`.
        :returns: the component, with its store reopened (of the backend its ``type`` names).
        """
        return store_component_from_dict(cls, data)

    @component.output_types(constraint=TemporalConstraint, content=str)
    def run(self, constraint: TemporalConstraint) -> dict[str, Any]:
        """
        :param constraint: the decomposed question.
        :returns: ``constraint``: the constraint with the anchor resolved (or explained);
            ``content``: the text to retrieve with (the constraint's content).
        """
        anchor = constraint.anchor
        if anchor is None:
            return {"constraint": constraint, "content": constraint.content}
        self.warm_up()
        resolved = self._resolve(constraint, anchor)
        return {"constraint": resolved, "content": resolved.content}

    # ------------------------------------------------------------------ resolution
    def _resolve(self, constraint: TemporalConstraint, anchor: EventAnchor) -> TemporalConstraint:
        reference = constraint.reference_time
        event = without_dates(anchor.text, reference)  # "the 2020 crash": search "the crash" within 2020
        query = self._embed([event])[0]
        evidence = self._passage_evidence(query, reference, anchor.fallback)
        evidence += self._event_evidence(query, reference)
        found, why = date_event(
            event,
            _best_per_sentence(evidence),
            reference,
            within=anchor.fallback,
            min_relevance=self.min_relevance,
            word_weight=self.word_weight,
            agreement_weight=self.agreement_weight,
        )
        if found is not None:
            interval = constraint_interval(constraint.relation, found.interval)
            anchor = replace(
                anchor,
                resolved=found.interval,
                source_id=found.source_id,
                evidence=found.evidence,
                how=found.how,
            )
            return replace(constraint, interval=interval, anchor=anchor)
        notes = [*constraint.notes, f"the event '{anchor.text}' could not be dated from the store: {why}"]
        if anchor.fallback is not None:
            written = interval_text(anchor.fallback)
            how = f"not resolved: {why}; kept the date written in the anchor ({written})"
            return replace(constraint, anchor=replace(anchor, how=how), notes=notes)
        how = f"not resolved: {why}; no interval, so the anchor stays in the content"
        content = " ".join(constraint.question.split())
        anchor = replace(anchor, how=how)
        return replace(constraint, content=content, interval=None, anchor=anchor, notes=notes)

    def _embed(self, texts: list[str]) -> np.ndarray:
        return np.asarray(
            self._encoder.encode(texts, normalize_embeddings=True, show_progress_bar=False), dtype=np.float32
        )

    def _passage_evidence(
        self, query: np.ndarray, reference: date, within: Interval | None
    ) -> list[EventEvidence]:
        """The dated sentences of the passages most similar to the event, with their similarity; with a
        date written in the anchor, also of the most similar passages that mention a time within it."""
        search = self.document_store.search
        passages = search(query, top_k=self.top_k, published_on_or_before=reference)
        if within is not None:
            seen = {doc.id for doc in passages}
            timed = search(query, top_k=self.top_k, time_window=within, published_on_or_before=reference)
            passages += [doc for doc in timed if doc.id not in seen]
        pending: list[tuple[Document, str, tuple[TimeMention, ...], date | None]] = []
        for doc in passages:
            published = proven_publication_date(doc.meta)
            lead = int((doc.meta or {}).get("passage_index") or 0) == 0
            for index, (sentence, mentions) in enumerate(_dated_sentences(doc, published)):
                sentence_published = published if lead and index == 0 else None
                if mentions or sentence_published is not None:
                    pending.append((doc, sentence, mentions, sentence_published))
        if not pending:
            return []
        texts = [_titled(doc, sentence) for doc, sentence, _, _ in pending]
        similarities = self._embed(texts) @ query
        return [
            EventEvidence(doc.id, sentence, float(similarity), mentions, published)
            for (doc, sentence, mentions, published), similarity in zip(pending, similarities, strict=True)
        ]

    def _event_evidence(self, query: np.ndarray, reference: date) -> list[EventEvidence]:
        """News leads from the store's event index, scored by the index's own cosine."""
        if self._events is None:
            return []
        events = self._events.search(query, top_k=self.events_top_k, published_on_or_before=reference)
        if not events:
            return []
        sources = [str(event.meta.get("doc_id")) for event in events]
        filters = {"field": "meta.doc_id", "operator": "in", "value": sources}
        leads: dict[str, Document] = {}
        for doc in self.document_store.filter_documents(filters):
            source = str(doc.meta.get("doc_id"))
            position = int(doc.meta.get("passage_index") or 0)
            if source not in leads or position < int(leads[source].meta.get("passage_index") or 0):
                leads[source] = doc
        evidence = []
        for event, source in zip(events, sources, strict=True):
            lead = leads.get(source)
            if lead is None:
                continue  # the store changed since the event index was read
            published = proven_publication_date(lead.meta)
            sentences = _dated_sentences(lead, published)
            if not sentences:
                continue
            sentence, mentions = sentences[0]
            evidence.append(EventEvidence(lead.id, sentence, float(event.score or 0.0), mentions, published))
        return evidence


def _dated_sentences(doc: Document, published: date | None) -> list[tuple[str, tuple[TimeMention, ...]]]:
    """The passage's sentences with the time spans inside each (offsets relative to the sentence)."""
    content = doc.content or ""
    mentions = _mentions(doc, published)
    result = []
    for start, end in sentence_bounds(content):
        inside = tuple(
            replace(m, char_start=m.char_start - start, char_end=m.char_end - start)
            for m in mentions
            if start <= m.char_start and m.char_end <= end
        )
        result.append((content[start:end], inside))
    return result


def _mentions(doc: Document, published: date | None) -> list[TimeMention]:
    """The passage's stored spans (``meta["time_spans"]``), or extracted now when it has none recorded."""
    spans = (doc.meta or {}).get(TIME_SPANS)
    if spans is None:
        return extract_mentions(doc.content or "", reference=published)
    mentions = []
    for span in spans:
        try:
            mentions.append(TimeMention.from_dict(span))
        except (KeyError, TypeError, ValueError):
            continue  # a malformed span dates nothing
    return mentions


def _titled(doc: Document, sentence: str) -> str:
    """The sentence as the store embeds its passage: after the title, which names what "it" is."""
    return passage_text(Document(content=sentence, meta={TITLE: source_title(doc.meta)}))


def _best_per_sentence(evidence: list[EventEvidence]) -> list[EventEvidence]:
    """One item per (passage, sentence): a lead found by both searches keeps its higher similarity."""
    best: dict[tuple[str, str], EventEvidence] = {}
    for item in evidence:
        key = (item.source_id, item.sentence)
        if key not in best or item.similarity > best[key].similarity:
            best[key] = item
    return list(best.values())
