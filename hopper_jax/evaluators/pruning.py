"""Estimates an objective reports while it runs, and the pruner's answer: `hj.should_prune(estimate)`.

The current evaluation (its pruner and the estimates reported so far) is set by `evaluation(pruner)`, a
context manager held only while an objective runs and always reset afterwards, so no pruner leaks into a
later run or into code called outside an evaluation. One evaluation runs at a time per process; the
context is a module global (not a context variable) so that threads the objective starts, e.g. a training
library's callback thread, see it too.
"""

from __future__ import annotations

import math
import numbers
from typing import Any


class Reports:
    """The estimates one evaluation reported (floats, in order) and the pruner that judges them."""

    def __init__(self, pruner: Any):
        self.pruner = pruner
        self.partial: list[float] = []

    def report(self, estimate: float) -> bool:
        """Record `estimate` and return the pruner's decision on the estimates so far.

        A NaN or infinite estimate is not recorded (it would poison the pruner's statistics) and prunes.
        """
        value = _as_estimate(estimate)
        if not math.isfinite(value):
            return True
        self.partial.append(value)
        return bool(self.pruner.should_prune(list(self.partial)))


_active: Reports | None = None


class evaluation:  # noqa: N801 - used as a context manager, like contextlib's
    """`with evaluation(pruner) as reports:` makes `pruner` the one `should_prune` asks while the block runs
    (None: estimates are not recorded). A class: it is entered once per evaluation, where a generator-based
    context manager costs a few microseconds more."""

    __slots__ = ("reports", "previous")

    def __init__(self, pruner: Any):
        self.reports = Reports(pruner)

    def __enter__(self) -> Reports:
        global _active
        self.previous, _active = _active, self.reports
        return self.reports

    def __exit__(self, *exc: Any) -> None:
        global _active
        _active = self.previous


def should_prune(estimate: float) -> bool:
    """Report an estimate of the objective from inside it; True means: stop, this candidate is not promising.

    Call it e.g. after each epoch with the validation score so far, and on True return (or raise
    `hj.PruneEvaluation`). Outside an evaluation, or when `run` got no pruner, it records nothing and
    returns False. Generator objectives need not call it: each yielded value is reported.
    """
    active = _active
    if active is None or active.pruner is None:
        return False
    return active.report(estimate)


def _as_estimate(estimate: Any) -> float:
    """`estimate` as a float; a TypeError for bools, strings, arrays and other non-numbers."""
    scalar = isinstance(estimate, numbers.Real) or tuple(getattr(estimate, "shape", (0,))) == ()
    try:
        if isinstance(estimate, bool) or not scalar:
            raise TypeError
        return float(estimate)
    except (TypeError, ValueError):
        raise TypeError(f"should_prune takes a real number (the current estimate of the objective), got "
                        f"{type(estimate).__name__} {estimate!r}") from None


__all__ = ["Reports", "evaluation", "should_prune"]
