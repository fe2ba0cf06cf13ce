"""Evaluators: how candidates reach the objective (in-process, batched JAX, …)."""

from .batched import MODES, BatchedEvaluator, takes_key
from .outcome import FAILED, OK, PRUNED, Outcome, PruneEvaluation, as_value
from .pruning import should_prune
from .python import PythonEvaluator, evaluate

__all__ = ["FAILED", "MODES", "OK", "PRUNED", "BatchedEvaluator", "Outcome", "PruneEvaluation", "PythonEvaluator",
           "as_value", "evaluate", "should_prune", "takes_key"]
