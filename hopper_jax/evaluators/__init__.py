"""Evaluators: how candidates reach the objective (in-process, batched JAX, …).

Imported on first use: a pool worker needs `python` and `outcome`, not JAX (`batched`).
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

_EXPORTS = {
    "MODES": "batched:MODES", "BatchedEvaluator": "batched:BatchedEvaluator", "takes_key": "batched:takes_key",
    "FAILED": "outcome:FAILED", "OK": "outcome:OK", "PRUNED": "outcome:PRUNED", "Outcome": "outcome:Outcome",
    "PruneEvaluation": "outcome:PruneEvaluation", "as_value": "outcome:as_value",
    "should_prune": "pruning:should_prune", "PythonEvaluator": "python:PythonEvaluator", "evaluate": "python:evaluate",
}
__all__ = list(_EXPORTS)
__getattr__, __dir__ = lazy_attributes(__name__, _EXPORTS)

if TYPE_CHECKING:
    from .batched import MODES, BatchedEvaluator, takes_key  # noqa: F401
    from .outcome import FAILED, OK, PRUNED, Outcome, PruneEvaluation, as_value  # noqa: F401
    from .pruning import should_prune  # noqa: F401
    from .python import PythonEvaluator, evaluate  # noqa: F401
