"""In-process evaluation of a Python objective, one candidate at a time."""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from typing import Any

from .outcome import FAILED, PRUNED, Outcome, PruneEvaluation, as_value


def evaluate(objective: Callable[..., Any], candidate: Any, kwargs: dict[str, Any]) -> Outcome:
    """Call `objective(candidate, **kwargs)`; a generator's last yielded value is the objective."""
    start = time.perf_counter()
    try:
        result = objective(candidate, **kwargs)
        if inspect.isgenerator(result):
            last = None
            for last in result:
                pass
            result = last
    except PruneEvaluation:
        return Outcome(None, PRUNED, seconds=time.perf_counter() - start)
    except Exception as error:  # noqa: BLE001 - reported to the user by the shell, never swallowed
        return Outcome(None, FAILED, f"raised {type(error).__name__}: {error}", error,
                       time.perf_counter() - start)
    value, problem = as_value(result)
    return Outcome(value, FAILED if problem else "ok", problem, None, time.perf_counter() - start)


class PythonEvaluator:
    """Evaluates candidates in this process, one at a time."""

    capacity = 1

    def __init__(self, objective: Callable[..., Any], kwargs: dict[str, Any] | None = None):
        if not callable(objective):
            raise ValueError(f"The objective must be callable, got {objective!r}")
        self.objective, self.kwargs = objective, dict(kwargs or {})

    def __call__(self, candidate: Any) -> Outcome:
        return evaluate(self.objective, candidate, self.kwargs)
