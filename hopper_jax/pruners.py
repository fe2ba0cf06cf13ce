"""Pruners: stop unpromising evaluations early from the estimates they report (PyHopper's protocol).

An objective reports estimates of its final value (by yielding them, or with `hj.should_prune(x)`); the
pruner compares the estimates so far with those of earlier evaluations and says whether to stop. The
search sets `pruner.direction` ('max'/'min') and, in the main process, calls `pruner.append(partial,
was_pruned)` after every evaluation that was not a failure (a plain objective reports `[]`). With worker
processes, decisions are made by a copy of the pruner taken when the candidate was submitted.

The decisions equal PyHopper 1.2.3's on the same reports, with its bugs fixed: an empty report (a plain
objective) does not fix the report length, `q` must be a fraction (PyHopper read `q=1` as 1 %), and a
`TopKPruner` is not broken by plain objectives. `state_dict()` is plain JSON (ints, floats, lists).
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Callable, Sequence
from typing import Any

DIRECTIONS = ("max", "min")


def _length_error(length: int, n: int) -> ValueError:
    return ValueError(f"An evaluation reported {length} estimates, while the first complete evaluation reported "
                      f"{n}. A pruner compares the i-th estimate of every evaluation, so the objective must report "
                      f"the same number of estimates (yields or hj.should_prune calls) on every call.")


class Pruner:
    """Base class. Subclasses implement `append`, `should_prune`, `state_dict` and `load_state_dict`.

    Attributes:
      direction: 'max' or 'min', set by `Search.run` before the first evaluation.
    """

    def __init__(self) -> None:
        self.direction: str | None = None

    def is_better_or_equal(self, new: Any, old: Any, reduction: Callable | None = None) -> Any:
        """Elementwise `new >= old` when maximising, `new <= old` when minimising (a bool array), reduced by
        `reduction` (e.g. `numpy.any`) if given, as PyHopper's custom pruners expect."""
        if self.direction not in DIRECTIONS:
            raise ValueError(f"pruner.direction is {self.direction!r}; set it to 'max' or 'min' (Search.run does "
                             f"this) before asking the pruner.")
        import numpy as np  # here, not at import: a pool worker of a plain objective starts without numpy

        new, old = np.asarray(new, dtype=np.float64), np.asarray(old, dtype=np.float64)
        result = new >= old if self.direction == "max" else new <= old
        return result if reduction is None else reduction(result)

    def append(self, partial_results: Sequence[float], was_pruned: bool) -> None:
        """Learn from one finished evaluation's estimates (main process only)."""
        raise NotImplementedError

    def should_prune(self, partial_results: Sequence[float]) -> bool:
        """True if the evaluation that reported `partial_results` (so far) should stop."""
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """The learned state as plain JSON-able Python (for checkpoints)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned."""

    def _check_state(self, state: dict[str, Any], keys: tuple[str, ...]) -> None:
        missing = [key for key in keys if key not in state]
        if missing:
            raise ValueError(f"{type(self).__name__}.load_state_dict needs the keys {keys}, got {sorted(state)}: "
                             f"pass what {type(self).__name__}.state_dict() returned.")


def _floats(values: Sequence[Any]) -> list[float]:
    return [float(v) for v in values]


class QuantilePruner(Pruner):
    """Prunes an evaluation whose latest estimate is worse than the `q`-quantile of earlier ones at that step.

    Args:
      q: a fraction in (0, 1), or as in PyHopper a percentage in [1, 100) (80 means 0.8). When maximising,
        estimate i must reach the `q`-quantile of the i-th estimates
        of earlier evaluations (so q=0.8 keeps the top 20 %); when minimising, the `(1 - q)`-quantile.
      warmup: no decision at step i before `warmup` earlier evaluations reported an i-th estimate.
    """

    def __init__(self, q: float, warmup: int = 5):
        super().__init__()
        if isinstance(q, numbers.Real) and not isinstance(q, bool) and 1 <= q < 100:
            if q == 1:
                warnings.warn("QuantilePruner(1) is read as PyHopper reads it, a percentage: the 1 % quantile "
                              "(q=0.01). Pass a fraction (e.g. 0.99) to say what you mean.", stacklevel=2)
            q = q / 100  # PyHopper's percentage form: QuantilePruner(80) is the 80 % quantile
        if isinstance(q, bool) or not isinstance(q, numbers.Real) or not 0 < q < 1:
            raise ValueError(f"QuantilePruner(q={q!r}): q must be a fraction strictly between 0 and 1 (0.5 for the "
                             f"median) or a percentage in [1, 100) as in PyHopper (50 for the median).")
        if isinstance(warmup, bool) or not isinstance(warmup, numbers.Integral) or warmup < 0:
            raise ValueError(f"QuantilePruner(warmup={warmup!r}): warmup must be an int >= 0 (evaluations seen "
                             f"before any decision).")
        self.q, self.warmup = float(q), int(warmup)
        self.n: int | None = None  # estimates per complete evaluation, fixed by the first one
        self.pools: list[list[float]] = []  # pools[i]: every earlier evaluation's i-th estimate

    def append(self, partial_results: Sequence[float], was_pruned: bool) -> None:
        partial = _floats(partial_results)
        if self.n is not None and len(partial) > self.n:
            raise _length_error(len(partial), self.n)
        if self.n is None and partial and not was_pruned:
            self.n = len(partial)
        while len(self.pools) < len(partial):
            self.pools.append([])
        for pool, value in zip(self.pools, partial, strict=False):
            pool.append(value)

    def should_prune(self, partial_results: Sequence[float]) -> bool:
        step = len(partial_results) - 1
        if step < 0 or (self.n is not None and step + 1 >= self.n) or step >= len(self.pools):
            return False
        pool = self.pools[step]
        if len(pool) < max(self.warmup, 1):
            return False
        import numpy as np

        q = self.q if self.direction == "max" else 1.0 - self.q
        threshold = np.quantile(pool, q)
        return not bool(self.is_better_or_equal(partial_results[step], threshold))

    def state_dict(self) -> dict[str, Any]:
        return {"n": self.n, "pools": [list(pool) for pool in self.pools]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._check_state(state, ("n", "pools"))
        self.n = None if state["n"] is None else int(state["n"])
        self.pools = [_floats(pool) for pool in state["pools"]]


class TopKPruner(Pruner):
    """Prunes an evaluation once an estimate is worse than every one of the k best complete evaluations' there.

    The k best are ranked by their last estimate; an evaluation enters if it is at least as good as one of
    them, and the worst (the first of equals) leaves. No decision before k complete evaluations were seen.
    """

    def __init__(self, k: int):
        super().__init__()
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
            raise ValueError(f"TopKPruner(k={k!r}): k must be a positive int (the number of best evaluations kept).")
        self.k = int(k)
        self.n: int | None = None
        self.top: list[list[float]] = []  # the estimates of the k best complete evaluations

    def append(self, partial_results: Sequence[float], was_pruned: bool) -> None:
        partial = _floats(partial_results)
        if not partial:
            return  # a plain objective reports nothing
        if self.n is None:
            if was_pruned:
                return  # a pruned report may be short: the first complete one fixes n
            self.n = len(partial)
        if len(partial) > self.n:
            raise _length_error(len(partial), self.n)
        if len(partial) < self.n:
            return  # pruned: it never finished, so it cannot be among the best
        finals = [run[-1] for run in self.top]
        if len(self.top) >= self.k and not self.is_better_or_equal(partial[-1], finals).any():
            return
        self.top.append(partial)
        if len(self.top) > self.k:
            import numpy as np

            finals.append(partial[-1])
            worst = int(np.argmin(finals) if self.direction == "max" else np.argmax(finals))
            del self.top[worst]

    def should_prune(self, partial_results: Sequence[float]) -> bool:
        if len(self.top) < self.k or (self.n is not None and len(partial_results) >= self.n):
            return False
        for step, value in enumerate(partial_results):
            if not self.is_better_or_equal(value, [run[step] for run in self.top]).any():
                return True
        return False

    def state_dict(self) -> dict[str, Any]:
        return {"n": self.n, "top": [list(run) for run in self.top]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._check_state(state, ("n", "top"))
        self.n = None if state["n"] is None else int(state["n"])
        self.top = [_floats(run) for run in state["top"]]


def check_pruner(pruner: Any) -> Pruner | None:
    """`pruner` if it is None or a `Pruner`, else a ValueError saying what to pass."""
    if pruner is None or isinstance(pruner, Pruner):
        return pruner
    if all(callable(getattr(pruner, name, None)) for name in ("append", "should_prune")):
        return pruner  # duck-typed, as PyHopper allowed
    raise ValueError(f"pruner must be None or a hopper_jax.pruners.Pruner (e.g. hj.pruners.QuantilePruner(0.5)), "
                     f"got {pruner!r}")


__all__ = ["DIRECTIONS", "Pruner", "QuantilePruner", "TopKPruner", "check_pruner"]
