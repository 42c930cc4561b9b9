"""Evaluation: batched full ranking, per-user metrics with bootstrap CIs, paired tests, beyond-accuracy."""

from lmrec.eval.evaluate import EvalOptions, EvalResult, evaluate, write_recommendations
from lmrec.eval.ranking import Ranking, rank_holdout
from lmrec.eval.stats import bootstrap_ci, paired_test

__all__ = ["EvalOptions", "EvalResult", "Ranking", "bootstrap_ci", "evaluate", "paired_test", "rank_holdout",
           "write_recommendations"]
