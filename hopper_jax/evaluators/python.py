"""In-process evaluation of a Python objective, one candidate at a time, with optional pruning.

An objective returns a number, or is a generator that yields estimates: each is reported to the pruner
(as if passed to `hj.should_prune`), the evaluation stops as PRUNED when the pruner says so, and the last
yield is the objective value. A yield that is not a finite number (e.g. NaN) stops it as FAILED, and so
does a generator that yields nothing.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Generator
from typing import Any

from ..pruners import Pruner, check_pruner
from .outcome import FAILED, OK, PRUNED, Outcome, PruneEvaluation, as_value
from .pruning import Reports, evaluation


def _drain(generator: Generator, reports: Reports) -> Outcome:
    """Run a generator objective to its end, or until a yield is unusable or the pruner says stop."""
    count, value = 0, None
    try:
        for item in generator:
            count += 1
            value, problem = as_value(item)
            if problem:
                return Outcome(None, FAILED, f"{problem.replace('returned', 'yielded', 1)} as estimate {count}")
            if reports.pruner is not None and reports.report(value):
                return Outcome(None, PRUNED)
    finally:
        generator.close()
    if count == 0:
        return Outcome(None, FAILED, "yielded nothing: a generator objective must yield at least one value "
                                     "(its last yield is the objective value)")
    return Outcome(value, OK)


def evaluate(objective: Callable[..., Any], candidate: Any, kwargs: dict[str, Any],
             pruner: Pruner | None = None) -> Outcome:
    """Call `objective(candidate, **kwargs)` with `pruner` answering `should_prune`; never raises.

    The outcome's `partial` lists the estimates reported (empty without a pruner); `seconds` is wall time.
    """
    start = time.perf_counter()
    with evaluation(pruner) as reports:
        try:
            result = objective(candidate, **kwargs)
            if inspect.isgenerator(result):
                outcome = _drain(result, reports)
            else:
                value, problem = as_value(result)
                outcome = Outcome(value, FAILED if problem else OK, problem)
        except PruneEvaluation:
            outcome = Outcome(None, PRUNED)
        except Exception as error:  # noqa: BLE001 - reported to the user by the shell, never swallowed
            outcome = Outcome(None, FAILED, f"raised {type(error).__name__}: {error}", error)
    outcome.seconds = time.perf_counter() - start
    outcome.partial = reports.partial
    return outcome


class PythonEvaluator:
    """Evaluates candidates in this process, one at a time; `pruner` (the run's own) decides on estimates.

    The driver's protocol for evaluators that answer at once: `answer(candidate)` evaluates it now.
    """

    capacity = 1

    def __init__(self, objective: Callable[..., Any], kwargs: dict[str, Any] | None = None,
                 pruner: Pruner | None = None):
        if not callable(objective):
            raise ValueError(f"The objective must be callable, got {objective!r}")
        self.objective, self.kwargs = objective, dict(kwargs or {})
        self.pruner = check_pruner(pruner)

    def answer(self, candidate: Any) -> Outcome:
        """Evaluate `candidate` now."""
        return evaluate(self.objective, candidate, self.kwargs, self.pruner)

    __call__ = answer

    def __enter__(self) -> PythonEvaluator:
        return self

    def __exit__(self, *exc: Any) -> None:
        pass
