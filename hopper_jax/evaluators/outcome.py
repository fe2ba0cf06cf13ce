"""What an objective returned, classified: a value, a failure (with the reason) or a pruned run."""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Any

OK, FAILED, PRUNED = "ok", "failed", "pruned"


class PruneEvaluation(Exception):
    """Raise inside an objective to stop this candidate's evaluation and mark it pruned."""


@dataclasses.dataclass
class Outcome:
    """The result of evaluating one candidate."""

    value: float | None  # the objective value (user's direction); None unless status is OK
    status: str = OK
    problem: str | None = None  # why the value is unusable (FAILED without an exception)
    error: BaseException | None = None  # the objective's exception, traceback attached
    seconds: float = 0.0
    crashed: bool = False  # the worker running it died: always recorded as failed, never raised
    partial: list[float] = dataclasses.field(default_factory=list)  # estimates reported (yields, should_prune)


def as_value(result: Any) -> tuple[float | None, str | None]:
    """(float value, None) for a real scalar other than NaN, else (None, what is wrong with `result`).

    Infinities are values: +inf when minimising is the worst value there is (a diverged simulation, an
    infeasible point) and is recorded as one (see `hopper_jax.search.state.scores_of`)."""
    if type(result) is float:  # the common case, checked first
        return (None, "returned NaN") if result != result else (result, None)
    if result is None:
        return None, "returned None (a missing 'return'? to skip a candidate raise hopper_jax.PruneEvaluation)"
    if isinstance(result, bool):
        return None, f"returned a bool ({result!r}); return a number"
    if hasattr(result, "shape") and hasattr(result, "dtype"):  # numpy or JAX scalars and arrays
        import numpy as np  # loaded by whoever made `result`; a pool worker of plain objectives never needs it

        if tuple(result.shape) != ():
            return None, f"returned an array of shape {tuple(result.shape)}; return a scalar"
        kind = np.dtype(result.dtype).kind
        if kind == "b":
            return None, f"returned a bool ({result!r}); return a number"
        if kind not in "iuf":
            return None, f"returned a {result.dtype} scalar; return a real number"
        value = float(np.asarray(result))
    elif isinstance(result, numbers.Real):
        value = float(result)
    else:
        return None, f"returned {type(result).__name__} {result!r}; return a real number"
    if math.isnan(value):
        return None, "returned NaN"
    return value, None
