"""Finding the articles that hold a (paraphrased) evidence sentence.

RealTimeQA's evidence sentence is usually a light paraphrase of a sentence in the gold article, so
exact matching finds almost nothing. An article holds the evidence when some window of it contains at
least ``threshold`` (60%) of the sentence's tokens *in order* (a longest common subsequence test).
A sparse token-presence matrix keeps only articles that contain enough of the tokens at all, and
prefix sums skip windows that cannot reach the threshold, so the LCS runs on few windows.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence

import numpy as np
from scipy import sparse

from chronorag.evals.metrics import SimpleTokenizer

__all__ = ["EvidenceMatcher", "lcs_length", "word_tokens"]

_TOKENIZER = SimpleTokenizer()
MIN_EVIDENCE_TOKENS = 5  # shorter "evidence" (a name, a number) would match far too many articles


def word_tokens(text: str) -> list[str]:
    """Lower-cased word tokens (DPR tokenisation, punctuation dropped).

    :param text: any text.
    :returns: the alphanumeric tokens.
    """
    return [token for token in _TOKENIZER.words(text) if any(ch.isalnum() for ch in token)]


def lcs_length(sequence: Sequence[Hashable], pattern: Sequence[Hashable]) -> int:
    """Length of the longest common subsequence of two token sequences.

    Uses the bit-parallel algorithm of Hyyrö (2004): one big-integer update per token of ``sequence``.

    :param sequence: the longer sequence (an article window).
    :param pattern: the shorter sequence (the evidence sentence).
    :returns: the LCS length.
    """
    masks: dict[Hashable, int] = {}
    for position, token in enumerate(pattern):
        masks[token] = masks.get(token, 0) | (1 << position)
    full = (1 << len(pattern)) - 1
    row = full
    for token in sequence:
        matches = row & masks.get(token, 0)
        row = ((row + matches) | (row - matches)) & full
    return len(pattern) - bin(row).count("1")


class EvidenceMatcher:
    """Finds the documents with a window holding >= ``threshold`` of a sentence's tokens in order.

    :param documents: ``(doc_id, text)`` pairs.
    :param threshold: the share of the sentence's tokens that must appear in order.
    :param window_factor: a window spans ``window_factor`` times the sentence's token count.
    """

    def __init__(
        self, documents: Sequence[tuple[str, str]], threshold: float = 0.6, window_factor: float = 1.5
    ) -> None:
        self.threshold = threshold
        self.window_factor = window_factor
        self._ids = [doc_id for doc_id, _ in documents]
        self._tokens = [word_tokens(text) for _, text in documents]
        self._vocabulary: dict[str, int] = {}
        rows, cols = [], []
        for row, tokens in enumerate(self._tokens):
            for token in set(tokens):
                rows.append(row)
                cols.append(self._vocabulary.setdefault(token, len(self._vocabulary)))
        self._token_ids = [
            np.fromiter((self._vocabulary[token] for token in tokens), dtype=np.int64, count=len(tokens))
            for tokens in self._tokens
        ]
        shape = (len(self._tokens), max(1, len(self._vocabulary)))
        self._presence = sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=shape)

    def find(self, sentence: str) -> list[str]:
        """The ids of the documents holding the sentence (empty for sentences under 5 tokens).

        :param sentence: the evidence sentence, as plain text.
        :returns: matching document ids, in corpus order.
        """
        pattern = word_tokens(sentence)
        if len(pattern) < MIN_EVIDENCE_TOKENS:
            return []
        needed = math.ceil(self.threshold * len(pattern))
        return [
            self._ids[row] for row in self._candidates(pattern, needed) if self._holds(row, pattern, needed)
        ]

    def _candidates(self, pattern: list[str], needed: int) -> list[int]:
        # A document must contain at least `needed` of the pattern's tokens (counted with repeats capped
        # by distinct presence): a cheap upper bound on the in-order match.
        counts: dict[int, int] = {}
        for token in pattern:
            column = self._vocabulary.get(token)
            if column is not None:
                counts[column] = counts.get(column, 0) + 1
        if not counts:
            return []
        weights = np.zeros(self._presence.shape[1], dtype=np.float32)
        for column, count in counts.items():
            weights[column] = count
        upper_bounds = self._presence @ weights
        return [int(row) for row in np.flatnonzero(upper_bounds >= needed)]

    def _holds(self, row: int, pattern: list[str], needed: int) -> bool:
        tokens = self._token_ids[row]
        pattern_ids = [self._vocabulary.get(token, -1) for token in pattern]
        width = max(len(pattern), int(self.window_factor * len(pattern)))
        stride = max(1, len(pattern) // 4)
        hits = np.concatenate([[0], np.cumsum(np.isin(tokens, pattern_ids))])
        starts = np.arange(0, max(1, len(tokens) - width + stride), stride)
        ends = np.minimum(len(tokens), starts + width)
        # Windows overlap by width - stride tokens, so a match spanning `width` tokens is never missed by
        # more than `stride` tokens at either end; the prefix sums skip windows that cannot reach `needed`.
        for start in starts[(hits[ends] - hits[starts]) >= needed]:
            window = tokens[start : start + width].tolist()
            if lcs_length(window, pattern_ids) >= needed:
                return True
        return False
