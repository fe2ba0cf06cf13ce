"""Evaluators: how candidates reach the objective (in-process, batched JAX, …)."""

from .batched import MODES, BatchedEvaluator
from .outcome import FAILED, OK, PRUNED, Outcome, PruneEvaluation, as_value
from .python import PythonEvaluator, evaluate

__all__ = ["MODES", "BatchedEvaluator", "PythonEvaluator", "evaluate", "Outcome", "PruneEvaluation",
           "as_value", "OK", "FAILED", "PRUNED"]
