"""Semantic relevance of passages to a question, without a cross-encoder by default.

The embedded default fuses three signals, each in [0, 1]:

- ``passage``: cosine of the bi-encoder (MiniLM) embeddings of the question and the whole passage
  (``"{title}. {content}"``, the text the store embeds; a stored ``Document.embedding`` is reused).
- ``sentence``: the best cosine between the question and one of the passage's sentences, each
  prefixed with the title (MRAG's sentence stage: the answer usually sits in one sentence).
- ``lexical``: in-batch BM25 of the question's words over the passages, divided by the batch's best,
  because names and numbers matter and MiniLM blurs them (MRAG's keyword stage).

Cosines are clipped at 0 (MiniLM rarely goes below; a negative cosine carries no relevance).
When a local CrossEncoder folder is configured it replaces the bi-encoder for the passage and
sentence signals; its logits go through a sigmoid, never a linear coefficient, so negative logits
stay ordered correctly.

Sentence embeddings are cached (LRU by text) and encoded in one call per ``score`` call, in
length-sorted batches of ``ENCODE_BATCH`` (little padding): reranking the same candidates again costs only
the question's embedding. Encoding sentences is what dominates a cold call (the transformer's cost grows
with the tokens it sees, ~0.1-0.2 ms per token on two CPU cores), so the bi-encoder path bounds it twice:
only the ``sentence_candidates`` passages best by the cheap signals (stored passage embedding + BM25) are
split into sentences, and of their sentences only ``sentence_budget`` are encoded, chosen by the same
cheap signals at sentence level (each chosen passage keeps at least its lexically best sentence).
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from haystack import Document

from chronorag.models import get_sentence_transformer, int8_copy, resolve_cross_encoder
from chronorag.temporal.meta import passage_text, source_title
from chronorag.temporal.sentences import sentence_bounds

_WORD = re.compile(r"\w+", re.UNICODE)
# Function words carry no evidence; question words would reward passages that are questions.
_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "did",
        "do",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "he",
        "her",
        "his",
        "how",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "she",
        "that",
        "the",
        "their",
        "them",
        "they",
        "this",
        "to",
        "was",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "whom",
        "whose",
        "why",
        "will",
        "with",
    ]
)
MAX_SENTENCES = 16
# Length-sorted mini-batches: one batch of 64 pads every sentence to the longest (~2x the tokens).
ENCODE_BATCH = 8


def split_sentences(text: str, limit: int = MAX_SENTENCES) -> list[str]:
    """Split a passage into sentences (the one rule, :func:`chronorag.temporal.sentences.sentence_bounds`,
    robust to TimeQA's " ." tokenisation).

    :param text: the passage content.
    :param limit: keep at most this many sentences (long articles: the lead matters most).
    :returns: non-empty sentences.
    """
    return [text[start:end] for start, end in sentence_bounds(text or "")][:limit]


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens without stopwords (numbers kept: they identify).

    :param text: any text.
    :returns: tokens.
    """
    return list(_tokens(text))


@functools.lru_cache(maxsize=8192)
def _tokens(text: str) -> tuple[str, ...]:
    # Cached: BM25 and query coverage tokenise the same candidates on every call of the ranker.
    return tuple(token for token in _WORD.findall(text.lower()) if token not in _STOPWORDS)


def bm25_scores(query: str, texts: list[str], k1: float = 1.2, b: float = 0.75) -> np.ndarray:
    """BM25 of the query over the candidate texts, with document frequencies from the candidates.

    :param query: the question (its content).
    :param texts: the candidate texts.
    :param k1: term-frequency saturation.
    :param b: length normalisation.
    :returns: raw BM25 scores, one per text.
    """
    docs = [Counter(tokenize(text)) for text in texts]
    terms = set(tokenize(query))
    if not docs or not terms:
        return np.zeros(len(texts), dtype=np.float32)
    lengths = np.array([sum(doc.values()) for doc in docs], dtype=np.float32)
    average = float(lengths.mean()) or 1.0
    scores = np.zeros(len(docs), dtype=np.float32)
    n = len(docs)
    for term in terms:
        df = sum(1 for doc in docs if term in doc)
        if df == 0:
            continue
        idf = math.log(1.0 + (n - df + 0.5) / (df + 0.5))
        tf = np.array([doc.get(term, 0) for doc in docs], dtype=np.float32)
        scores += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * lengths / average))
    return scores


def query_coverage(query: str, texts: list[str]) -> np.ndarray:
    """The share of the query's content words (``tokenize``) each text holds.

    :param query: the question (its content).
    :param texts: the candidate texts.
    :returns: one value in [0, 1] per text (0 for a query without content words).
    """
    terms = set(tokenize(query))
    if not terms:
        return np.zeros(len(texts), dtype=np.float32)
    return np.array([len(terms & set(tokenize(text))) / len(terms) for text in texts], dtype=np.float32)


@dataclass
class SemanticEvidence:
    """The semantic evidence of one passage.

    :param score: the fused semantic score in [0, 1].
    :param passage: question-passage similarity in [0, 1].
    :param sentence: best question-sentence similarity in [0, 1].
    :param lexical: BM25 divided by the batch's best, in [0, 1].
    :param coverage: share of the query's content words the passage (title + text) holds, in [0, 1]; unlike
        ``lexical`` it does not depend on the other candidates.
    :param sentences: the passage's sentences (title-prefixed), as scored.
    :param sentence_raw: raw per-sentence scores (cosine, or cross-encoder logits).
    :param best_sentence: index of the best sentence.
    """

    score: float
    passage: float
    sentence: float
    lexical: float
    coverage: float = 0.0
    sentences: list[str] = field(default_factory=list)
    sentence_raw: list[float] = field(default_factory=list)
    best_sentence: int = 0


class SemanticScorer:
    """Scores question-passage relevance with the bi-encoder (+ BM25), or a local cross-encoder.

    :param embedding_model: ``"default"`` (the embedded MiniLM) or a local sentence-transformers folder.
    :param cross_encoder: a local CrossEncoder folder, ``"env"`` to read ``CHRONORAG_CROSS_ENCODER``,
        or ``None`` for none.
    :param device: torch device or ``"auto"``.
    :param passage_weight: weight of the whole-passage similarity.
    :param sentence_weight: weight of the best-sentence similarity.
    :param lexical_weight: weight of the BM25 evidence.
    :param cache_size: sentence embeddings kept in the LRU cache.
    """

    def __init__(
        self,
        embedding_model: str = "default",
        cross_encoder: str | None = "env",
        device: str = "auto",
        passage_weight: float = 0.35,
        sentence_weight: float = 0.4,
        lexical_weight: float = 0.25,
        cache_size: int = 50_000,
    ) -> None:
        total = passage_weight + sentence_weight + lexical_weight
        if total <= 0 or min(passage_weight, sentence_weight, lexical_weight) < 0:
            raise ValueError("semantic weights must be non-negative and not all zero")
        self.embedding_model = embedding_model
        self.cross_encoder_path = cross_encoder
        self.device = device
        self.weights = (passage_weight / total, sentence_weight / total, lexical_weight / total)
        self.cache_size = cache_size
        self._encoder: Any = None
        self._int8: Any = None
        self._cross: Any = None
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        # Sentence vectors of the int8 copy are kept apart: they are not the fp32 model's vectors.
        self._cache_int8: OrderedDict[str, np.ndarray] = OrderedDict()

    def warm_up(self) -> None:
        """Load the bi-encoder and, when configured, the cross-encoder."""
        if self._encoder is None:
            self._encoder = get_sentence_transformer(self.embedding_model, device=self.device)
        path = None
        if self.cross_encoder_path is not None:
            path = resolve_cross_encoder(
                None if self.cross_encoder_path == "env" else self.cross_encoder_path
            )
        if path and self._cross is None:
            from sentence_transformers import CrossEncoder

            from chronorag.models import resolve_device

            self._cross = CrossEncoder(path, device=resolve_device(self.device), local_files_only=True)

    @property
    def uses_cross_encoder(self) -> bool:
        """True when a cross-encoder is loaded."""
        return self._cross is not None

    # --- bi-encoder -----------------------------------------------------------------------
    def warm_up_int8(self) -> bool:
        """Prepare the int8 sentence encoder (CPU only).

        :returns: whether int8 sentence encoding is available (not on a GPU, not with a cross-encoder).
        """
        self.warm_up()
        if self._int8 is None and self._cross is None:
            device = str(getattr(self._encoder, "device", "cpu"))
            self._int8 = int8_copy(self._encoder) if device.startswith("cpu") else False
        return bool(self._int8)

    def remember(self, text: str, embedding: list[float] | np.ndarray) -> bool:
        """Cache an embedding of ``text`` made elsewhere by this scorer's model (the pipeline's embedder
        already embedded the question's content for retrieval: no second forward pass for it).

        :param text: the text that was embedded.
        :param embedding: its embedding by the same bi-encoder (normalised here).
        :returns: whether it was kept (not when its size is not the model's or it is all zeros).
        """
        self.warm_up()
        vector = np.asarray(embedding, dtype=np.float32).reshape(-1)
        norm = float(np.linalg.norm(vector))
        if not text or vector.shape[0] != _dimension(self._encoder) or not np.isfinite(norm) or norm == 0:
            return False
        self._cache[text] = vector / norm
        self._cache.move_to_end(text)
        return True

    def clear_cache(self) -> None:
        """Forget every cached embedding (benchmarks measure cold calls this way)."""
        self._cache.clear()
        self._cache_int8.clear()

    def encode(self, texts: list[str], int8: bool = False) -> np.ndarray:
        """Normalised embeddings of ``texts``, from the cache where possible, the rest in one call
        (length-sorted batches).

        :param texts: texts to embed.
        :param int8: use the int8-quantised copy of the bi-encoder (CPU; ~3x faster, cosine ~0.98 to the
            fp32 vectors) when available: for sentences, never for what is compared with stored vectors.
        :returns: an ``(n, dim)`` float32 array.
        """
        self.warm_up()
        encoder, cache = self._encoder, self._cache
        if int8 and self.warm_up_int8():
            encoder, cache = self._int8, self._cache_int8
        missing = list(dict.fromkeys(text for text in texts if text not in cache))
        if missing:
            vectors = encoder.encode(
                missing,
                batch_size=ENCODE_BATCH,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            for text, vector in zip(missing, vectors, strict=True):
                cache[text] = vector.astype(np.float32)
        rows = []
        for text in texts:
            cache.move_to_end(text)
            rows.append(cache[text])
        while len(cache) > self.cache_size:
            cache.popitem(last=False)
        dim = _dimension(self._encoder)
        return np.stack(rows) if rows else np.zeros((0, dim), dtype=np.float32)

    def _passage_vectors(self, documents: list[Document], texts: list[str]) -> np.ndarray:
        """Reuse stored passage embeddings (same model, same text) and embed only the others."""
        dim = _dimension(self._encoder)
        to_embed = [
            text
            for doc, text in zip(documents, texts, strict=True)
            if doc.embedding is None or len(doc.embedding) != dim
        ]
        if not to_embed and documents:
            # The common case (every passage from the store): one array, normalised at once.
            stored = np.asarray([doc.embedding for doc in documents], dtype=np.float32)
            norms = np.linalg.norm(stored, axis=1, keepdims=True)
            return stored / np.where(norms > 0, norms, 1.0)
        embedded = iter(self.encode(to_embed)) if to_embed else iter(())
        rows = []
        for doc in documents:
            if doc.embedding is not None and len(doc.embedding) == dim:
                vector = np.asarray(doc.embedding, dtype=np.float32)
                rows.append(vector / (np.linalg.norm(vector) or 1.0))
            else:
                rows.append(next(embedded))
        return np.stack(rows) if rows else np.zeros((0, dim), dtype=np.float32)

    # --- scoring --------------------------------------------------------------------------
    def passage_similarity(self, text: str, documents: list[Document]) -> np.ndarray:
        """Cosine of ``text`` and each whole passage (the stored vector when there is one), clipped at 0.

        :param text: a question.
        :param documents: the passages.
        :returns: one similarity in [0, 1] per passage.
        """
        if not documents:
            return np.zeros(0, dtype=np.float32)
        self.warm_up()
        vectors = self._passage_vectors(documents, [passage_text(doc) for doc in documents])
        return np.clip(vectors @ self.encode([text])[0], 0.0, 1.0)

    def score(
        self,
        query: str,
        documents: list[Document],
        sentence_candidates: int | None = None,
        sentence_budget: int | None = None,
        int8_sentences: bool = False,
    ) -> list[SemanticEvidence]:
        """Semantic evidence for every passage.

        :param query: the question text to match (the ranker passes the question's content).
        :param documents: candidate passages.
        :param sentence_candidates: bi-encoder only: score sentences of this many passages (the best by
            passage similarity and BM25); ``None``: of all of them.
        :param sentence_budget: bi-encoder only: encode at most this many of those passages' sentences,
            the best by passage prescore + sentence BM25 (every such passage keeps its lexically best
            one); ``None``: all of them. A passage's sentence score is its best *encoded* sentence.
        :param int8_sentences: bi-encoder on CPU only: encode sentences with the int8 copy of the model.
        :returns: one :class:`SemanticEvidence` per document, in order.
        """
        if not documents:
            return []
        self.warm_up()
        texts = [passage_text(doc) for doc in documents]
        sentences = [self._sentences(doc) for doc in documents]
        lexical = bm25_scores(query, texts)
        lexical = lexical / lexical.max() if lexical.max() > 0 else lexical
        coverage = query_coverage(query, texts)
        if self._cross is not None:
            passage_raw, sentence_raw = self._cross_scores(query, texts, sentences)
            passage_sim = _sigmoid(passage_raw)
            sentence_sim = [_sigmoid(raw) for raw in sentence_raw]
        else:
            passage_raw, sentence_raw, sentences = self._bi_scores(
                query,
                documents,
                texts,
                sentences,
                lexical,
                sentence_candidates,
                sentence_budget,
                int8_sentences,
            )
            passage_sim = np.clip(passage_raw, 0.0, 1.0)
            sentence_sim = [np.clip(raw, 0.0, 1.0) for raw in sentence_raw]
        w_passage, w_sentence, w_lexical = self.weights
        results = []
        for i in range(len(documents)):
            best = int(np.argmax(sentence_sim[i])) if len(sentence_sim[i]) else 0
            best_value = float(sentence_sim[i][best]) if len(sentence_sim[i]) else float(passage_sim[i])
            fused = (
                w_passage * float(passage_sim[i]) + w_sentence * best_value + w_lexical * float(lexical[i])
            )
            results.append(
                SemanticEvidence(
                    score=min(max(fused, 0.0), 1.0),
                    passage=float(passage_sim[i]),
                    sentence=best_value,
                    lexical=float(lexical[i]),
                    coverage=float(coverage[i]),
                    sentences=sentences[i],
                    sentence_raw=[float(x) for x in sentence_raw[i]],
                    best_sentence=best,
                )
            )
        return results

    def _sentences(self, document: Document) -> list[str]:
        title = source_title(document.meta)
        parts = split_sentences(document.content or "") or [document.content or ""]
        return [f"{title}. {part}" if title else part for part in parts]

    def _bi_scores(
        self,
        query: str,
        documents: list[Document],
        texts: list[str],
        sentences: list[list[str]],
        lexical: np.ndarray,
        sentence_candidates: int | None,
        sentence_budget: int | None = None,
        int8_sentences: bool = False,
    ) -> tuple[np.ndarray, list[np.ndarray], list[list[str]]]:
        query_vector = self.encode([query])[0]
        passage_vectors = self._passage_vectors(documents, texts)
        passage_raw = passage_vectors @ query_vector
        # Sentence embeddings dominate the cost: only the best passages by the cheap signals (stored
        # passage embedding + BM25) get them; the others keep their passage score as "best sentence".
        w_passage, _, w_lexical = self.weights
        prescore = w_passage * np.clip(passage_raw, 0, 1) + w_lexical * lexical
        chosen = set(range(len(documents)))
        if sentence_candidates is not None and sentence_candidates < len(documents):
            chosen = set(np.argsort(-prescore, kind="stable")[:sentence_candidates].tolist())
        pool = [(i, j) for i in sorted(chosen) if len(sentences[i]) > 1 for j in range(len(sentences[i]))]
        pool = _within_budget(query, pool, sentences, prescore, sentence_budget)
        keep: dict[int, list[int]] = {}
        for i, j in pool:
            keep.setdefault(i, []).append(j)
        # One call for every kept sentence not cached yet.
        flat = [sentences[i][j] for i, j in pool]
        sentence_vectors = (
            self.encode(flat, int8=int8_sentences)
            if flat
            else np.zeros((0, passage_vectors.shape[1]), np.float32)
        )
        sentence_raw: list[np.ndarray] = []
        scored: list[list[str]] = []
        offset = 0
        for i, group in enumerate(sentences):
            if i in keep:
                count = len(keep[i])
                sentence_raw.append(sentence_vectors[offset : offset + count] @ query_vector)
                scored.append([group[j] for j in keep[i]])
                offset += count
            else:
                # A one-sentence (or unchosen) passage is scored as a whole: no second embedding.
                sentence_raw.append(np.array([passage_raw[i]], dtype=np.float32))
                scored.append([texts[i]] if len(group) > 1 else group)
        return passage_raw, sentence_raw, scored

    def _cross_scores(
        self, query: str, texts: list[str], sentences: list[list[str]]
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        import torch

        pairs = [(query, text) for text in texts]
        pairs += [(query, sentence) for group in sentences for sentence in group]
        logits = np.asarray(
            self._cross.predict(
                pairs, batch_size=32, show_progress_bar=False, activation_fn=torch.nn.Identity()
            ),
            dtype=np.float32,
        )
        if logits.ndim > 1:
            # A multi-label head: the last label is "relevant" by the usual convention.
            logits = logits[:, -1]
        passage_raw = logits[: len(texts)]
        sentence_raw = []
        offset = len(texts)
        for group in sentences:
            sentence_raw.append(logits[offset : offset + len(group)])
            offset += len(group)
        return passage_raw, sentence_raw


def _within_budget(
    query: str,
    pool: list[tuple[int, int]],
    sentences: list[list[str]],
    prescore: np.ndarray,
    budget: int | None,
) -> list[tuple[int, int]]:
    """The (passage, sentence) pairs to encode: all of them, or ``budget`` chosen by a cheap pre-score.

    The pre-score is the passage's (stored-embedding cosine + BM25) plus the sentence's own BM25 among
    the pooled sentences (names and numbers of the question): every passage first gets its lexically
    best sentence (in passage order of pre-score), then the rest of the budget goes by pre-score.
    """
    if budget is None or len(pool) <= budget:
        return pool
    lexical = bm25_scores(query, [sentences[i][j] for i, j in pool])
    lexical = lexical / lexical.max() if lexical.max() > 0 else lexical
    key = np.array([prescore[i] for i, _ in pool]) + 0.5 * lexical
    order = np.argsort(-key, kind="stable").tolist()
    best_of: dict[int, int] = {}
    for index in order:
        passage = pool[index][0]
        if passage not in best_of or lexical[index] > lexical[best_of[passage]]:
            best_of[passage] = index
    first = set(best_of.values())
    picked = [index for index in order if index in first][:budget]
    picked += [index for index in order if index not in first][: budget - len(picked)]
    return [pool[index] for index in sorted(picked)]


def _sigmoid(values: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(values, dtype=np.float64)))


def _dimension(encoder: Any) -> int:
    # sentence-transformers 6 renamed the method; keep working with 5.x too.
    getter = getattr(encoder, "get_embedding_dimension", None) or encoder.get_sentence_embedding_dimension
    return int(getter())
