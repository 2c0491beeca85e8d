"""Evaluation: data set loaders, metrics, the systems side by side, reports and plots.

``chronorag eval DATASET --out DIR`` (``cli/eval.py``) runs :func:`chronorag.evals.runner.run_evaluation`:

- ``metrics``: DPR ``has_answer`` (AR@k, ER@k), SQuAD EM/F1, leak@k, seeded bootstrap CIs.
- ``loaders`` / ``temprageval``: TimeQA, RealTimeQA, SituatedQA, TimeBench and the TempRAGEval CSV.
- ``evidence``: finding the articles that hold a paraphrased evidence sentence (RealTimeQA gold).
- ``systems``: bm25, dense, dense+semantic, mrag, chronorag, chronorag+events and the ablations.
- ``records`` / ``runner`` / ``report`` / ``plots``: cached per-question results, reports, PNGs.
- ``generation`` / ``decomposition``: the pipeline's reader for EM/F1/accuracy; decomposition accuracy.
- ``decomposition_eval`` / ``dating_eval``: the temporal stage's own measurements (reused here).
"""
