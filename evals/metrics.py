"""Evaluation metrics as the MRAG paper (and DPR before it) compute them.

- AR@k: a top-k passage contains a gold answer, by DPR's ``has_answer`` token match over title + text.
- ER@k: a top-k passage contains a gold evidence sentence, by the same token match (MRAG passes the
  evidence sentences to ``has_answer`` as the "answers"), so matching is NFD-normalised, uncased and
  insensitive to whitespace and tokenisation.
- EM and token F1 after SQuAD/DrQA answer normalisation, the max over the gold answers.
- leak@k: the share of top-k passages published after the question's date.
- nDCG@k: graded by the gold units a data set has (TimeQA gold paragraphs, TempRAGEval evidence sentences,
  RealTimeQA gold articles), computed by ``ir-measures`` (trec_eval's implementation through pytrec_eval).

Every aggregate comes with a seeded percentile-bootstrap 95% confidence interval.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import date
from functools import lru_cache

import numpy as np
import regex

from chronorag.pipeline.evidence import normalize_answer  # the one answer normaliser (SQuAD's)

__all__ = [
    "SimpleTokenizer",
    "answer_recall_at_k",
    "bootstrap_ci",
    "evidence_recall_at_k",
    "exact_match",
    "first_hit_rank",
    "has_answer",
    "hit_at_k",
    "leak_at_k",
    "max_exact_match",
    "max_f1",
    "mean_with_ci",
    "ndcg_at_k",
    "normalize_answer",
    "token_f1",
]


class SimpleTokenizer:
    """DPR's (and DrQA's) ``SimpleTokenizer``: runs of letters/digits/marks, or any single other visible char.

    The regex, flags and lower-casing are DPR's exactly, so AR@k here equals AR@k in the DPR/MRAG code.
    """

    ALPHA_NUM = r"[\p{L}\p{N}\p{M}]+"
    NON_WS = r"[^\p{Z}\p{C}]"

    def __init__(self) -> None:
        self._regexp = regex.compile(
            f"({self.ALPHA_NUM})|({self.NON_WS})",
            flags=regex.IGNORECASE + regex.UNICODE + regex.MULTILINE,
        )

    def words(self, text: str, uncased: bool = True) -> list[str]:
        """The tokens of ``text``.

        :param text: any string.
        :param uncased: lower-case the tokens (DPR's ``words(uncased=True)``).
        :returns: the token strings in order.
        """
        tokens = [match.group() for match in self._regexp.finditer(text)]
        return [token.lower() for token in tokens] if uncased else tokens


_TOKENIZER = SimpleTokenizer()


def _nfd(text: str) -> str:
    # DPR normalises both sides to NFD before tokenising, so "é" and "e\u0301" match.
    return unicodedata.normalize("NFD", text)


@lru_cache(maxsize=65536)
def _tokens(text: str) -> tuple[str, ...]:
    # Passages are matched against many questions and systems: tokenise each text once.
    return tuple(_TOKENIZER.words(_nfd(text)))


def _contains_sequence(haystack: tuple[str, ...], needle: tuple[str, ...]) -> bool:
    # DPR's loop, kept as is: an empty needle matches any text (range(len + 1) yields i = 0).
    width = len(needle)
    return any(needle == haystack[i : i + width] for i in range(0, len(haystack) - width + 1))


def has_answer(answers: Iterable[str], text: str) -> bool:
    """DPR's ``has_answer`` with ``match_type="string"``: does a gold answer occur in ``text`` as a token run?

    Both sides are NFD-normalised, tokenised by :class:`SimpleTokenizer` and lower-cased; an answer matches
    when its token sequence occurs contiguously in the text's. As in DPR, an empty answer matches anything:
    loaders drop empty answers rather than change the published rule.

    :param answers: the gold answer strings.
    :param text: the passage text (title + text for AR@k).
    :returns: ``True`` when any answer occurs.
    """
    text_tokens = _tokens(text)
    return any(_contains_sequence(text_tokens, _tokens(answer)) for answer in answers)


def first_hit_rank(answers: Sequence[str], texts: Sequence[str]) -> int | None:
    """The 0-based rank of the first text holding a gold answer (DPR's ``best_hit``).

    :param answers: gold answers (or evidence sentences).
    :param texts: ranked passage texts.
    :returns: the rank, or ``None`` when no text holds one.
    """
    for rank, text in enumerate(texts):
        if has_answer(answers, text):
            return rank
    return None


def hit_at_k(first_hit: int | None, k: int) -> float:
    """1.0 when the first hit lies inside the top ``k``, else 0.0.

    :param first_hit: 0-based rank of the first relevant passage, or ``None``.
    :param k: the cut-off.
    :returns: 1.0 or 0.0.
    """
    return 1.0 if first_hit is not None and first_hit < k else 0.0


def answer_recall_at_k(answers: Sequence[str], texts: Sequence[str], k: int) -> float:
    """AR@k for one question: a top-``k`` passage (title + text) contains a gold answer.

    :param answers: gold answers.
    :param texts: ranked passage texts, each already ``f"{title}. {content}"``.
    :param k: the cut-off.
    :returns: 1.0 or 0.0.
    """
    return hit_at_k(first_hit_rank(answers, texts[:k]), k)


def evidence_recall_at_k(evidence: Sequence[str], texts: Sequence[str], k: int) -> float:
    """ER@k for one question: a top-``k`` passage contains a gold evidence sentence (token match, as MRAG).

    :param evidence: gold evidence sentences (empty ones are ignored).
    :param texts: ranked passage texts.
    :param k: the cut-off.
    :returns: 1.0 or 0.0.
    """
    sentences = [sentence for sentence in evidence if sentence.strip()]
    return answer_recall_at_k(sentences, texts, k) if sentences else 0.0


def ndcg_at_k(ranked_units: Sequence[str | None], relevant: Iterable[str], k: int) -> float:
    """nDCG@k of one ranking against binary gold units, computed by ``ir-measures`` (trec_eval).

    A unit is what counts as one relevant item: a gold passage id, an evidence sentence, a gold article.
    Several passages holding the same unit earn it once (the first); a passage holding none is ``None``.

    :param ranked_units: per rank, the gold unit the passage holds (or any id), else ``None``.
    :param relevant: the gold units (the ideal ranking holds each once).
    :param k: the cut-off.
    :returns: nDCG@k in [0, 1]; 0.0 when there is no gold unit.
    """
    import ir_measures

    gold = set(relevant)
    if not gold:
        return 0.0
    seen: set[str] = set()
    run = []
    for rank, unit in enumerate(ranked_units[:k]):
        doc = unit if unit is not None and unit not in seen else f"__rank{rank}"
        seen.add(doc)
        run.append(ir_measures.ScoredDoc("q", doc, float(k - rank)))
    qrels = [ir_measures.Qrel("q", unit, 1) for unit in sorted(gold)]
    measure = ir_measures.nDCG @ k
    return float(ir_measures.calc_aggregate([measure], qrels, run).get(measure, 0.0))


def exact_match(prediction: str, gold: str) -> float:
    """SQuAD exact match after normalisation.

    :param prediction: the predicted answer.
    :param gold: one gold answer.
    :returns: 1.0 or 0.0.
    """
    return 1.0 if normalize_answer(prediction) == normalize_answer(gold) else 0.0


def token_f1(prediction: str, gold: str) -> float:
    """SQuAD token F1 after normalisation (0.0 when either side normalises to nothing).

    :param prediction: the predicted answer.
    :param gold: one gold answer.
    :returns: F1 in [0, 1].
    """
    predicted = normalize_answer(prediction).split()
    expected = normalize_answer(gold).split()
    common = Counter(predicted) & Counter(expected)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision = same / len(predicted)
    recall = same / len(expected)
    return 2 * precision * recall / (precision + recall)


def max_exact_match(prediction: str, golds: Sequence[str]) -> float:
    """EM against the best-matching gold answer (0.0 when there is none).

    :param prediction: the predicted answer.
    :param golds: gold answers.
    :returns: 1.0 or 0.0.
    """
    return max((exact_match(prediction, gold) for gold in golds), default=0.0)


def max_f1(prediction: str, golds: Sequence[str]) -> float:
    """Token F1 against the best-matching gold answer (0.0 when there is none).

    :param prediction: the predicted answer.
    :param golds: gold answers.
    :returns: F1 in [0, 1].
    """
    return max((token_f1(prediction, gold) for gold in golds), default=0.0)


def leak_at_k(published: Sequence[date | None], as_of: date, k: int) -> float:
    """Share of the top-``k`` passages published after ``as_of`` (undated passages do not count as leaks).

    The denominator is the number of passages actually returned (at most ``k``), so a system that
    returns fewer passages is not rewarded for it.

    :param published: publication dates of the ranked passages (``None`` when unknown).
    :param as_of: the question's date.
    :param k: the cut-off.
    :returns: the share in [0, 1]; 0.0 when nothing was returned.
    """
    top = list(published[:k])
    if not top:
        return 0.0
    return sum(1 for day in top if day is not None and day > as_of) / len(top)


def bootstrap_ci(
    values: Sequence[float], n_resamples: int = 1000, seed: int = 0, confidence: float = 0.95
) -> tuple[float, float]:
    """Percentile-bootstrap confidence interval of the mean of per-question values.

    :param values: one value per question.
    :param n_resamples: bootstrap resamples.
    :param seed: the random seed (same seed, same interval).
    :param confidence: the interval's coverage.
    :returns: ``(low, high)``; ``(mean, mean)`` for fewer than two values.
    """
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return (float("nan"), float("nan"))
    if data.size == 1:
        return (float(data[0]), float(data[0]))
    rng = np.random.default_rng(seed)
    # Resample indices in chunks to bound memory on large sets (n_resamples x n ints).
    samples = [rng.integers(0, data.size, size=(chunk, data.size)) for chunk in _chunks(n_resamples)]
    means = np.concatenate([data[indices].mean(axis=1) for indices in samples])
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return (float(low), float(high))


def _chunks(total: int, size: int = 200) -> list[int]:
    return [min(size, total - start) for start in range(0, total, size)]


def mean_with_ci(values: Sequence[float], n_resamples: int = 1000, seed: int = 0) -> dict[str, object]:
    """The mean, its bootstrap 95% interval and the count, in the report's metric shape.

    :param values: one value per question.
    :param n_resamples: bootstrap resamples.
    :param seed: the random seed.
    :returns: ``{"value", "ci95": [lo, hi], "n"}``; value and bounds are ``None`` when there are no values.
    """
    if len(values) == 0:
        return {"value": None, "ci95": [None, None], "n": 0}
    low, high = bootstrap_ci(values, n_resamples=n_resamples, seed=seed)
    return {"value": float(np.mean(values)), "ci95": [low, high], "n": len(values)}
