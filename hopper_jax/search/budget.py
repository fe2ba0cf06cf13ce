"""Budgets: steps, generations, a runtime or endless; each turns into progress in [0, 1] per candidate."""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np

from .runtime import parse_runtime

DIRECTIONS = {"maximize": "max", "maximise": "max", "max": "max",
              "minimize": "min", "minimise": "min", "min": "min"}


def parse_direction(direction: str) -> str:
    """'max' or 'min' from PyHopper's spellings (case-insensitive here)."""
    key = direction.lower() if isinstance(direction, str) else direction
    if key not in DIRECTIONS:
        raise ValueError(f"Unknown direction {direction!r}: use 'max'/'maximize' or 'min'/'minimize'.")
    return DIRECTIONS[key]


@dataclasses.dataclass
class Budget:
    """When a run stops and how far along each new candidate is.

    Exactly one of `steps` (candidates, duplicates included), `runtime` (seconds) or `endless` is set.
    Phase 1 covers the first `seeding_steps` steps, or `seeding_runtime` seconds, or the `seeding_ratio`
    share of the budget; in endless mode each candidate is random with probability `seeding_ratio`.
    """

    steps: int | None = None
    runtime: float | None = None
    endless: bool = False
    seeding_steps: int | None = None
    seeding_runtime: float | None = None
    seeding_ratio: float = 0.25
    step: int = 0  # steps done in this run
    elapsed_before: float = 0.0  # seconds carried over from an interrupted run
    started: float = dataclasses.field(default_factory=lambda: time.monotonic())  # read at call time (a test's clock)
    candidate_seconds: float = 0.0  # running estimate of one evaluation's wall time
    warmup: float | None = None  # seconds of the runtime spent starting up (see mark_warm), once known
    seed: int = 0  # drives endless mode's random progress and phases

    def __post_init__(self) -> None:
        given = [name for name, v in (("steps", self.steps), ("runtime", self.runtime)) if v is not None]
        if self.endless:
            given.append("endless_mode")
        if len(given) != 1:
            raise ValueError("Give exactly one budget: steps=N, runtime='1h 30min' (or seconds), or "
                             f"endless_mode=True; got {given or 'none'}.")
        if self.steps is not None and (not isinstance(self.steps, int | np.integer) or isinstance(self.steps, bool)
                                       or self.steps < 1):
            raise ValueError(f"steps must be a positive int, got {self.steps!r}")
        if self.runtime is not None:
            self.runtime = parse_runtime(self.runtime)
        if self.seeding_steps is not None and self.seeding_runtime is not None:
            raise ValueError("Give at most one of seeding_steps and seeding_runtime.")
        if self.seeding_runtime is not None:
            self.seeding_runtime = parse_runtime(self.seeding_runtime)
        if self.seeding_steps is not None and (not isinstance(self.seeding_steps, int | np.integer)
                                               or self.seeding_steps < 0):
            raise ValueError(f"seeding_steps must be an int >= 0, got {self.seeding_steps!r}")
        if not isinstance(self.seeding_ratio, int | float) or not 0 <= self.seeding_ratio <= 1:
            raise ValueError(f"seeding_ratio must be a number in [0, 1], got {self.seeding_ratio!r}")

    @property
    def elapsed(self) -> float:
        return self.elapsed_before + time.monotonic() - self.started

    def search_time(self, ahead: float = 0.0) -> tuple[float, float]:
        """(seconds searched, seconds the search has in all) of a runtime budget, both counted from when the
        search became warm: start-up (compiling, starting workers) does not eat phase 1's share."""
        warmup = self.elapsed if self.warmup is None else self.warmup
        return max(self.elapsed + ahead - warmup, 0.0), max(self.runtime - warmup, 1e-9)

    def progress(self, count: int = 1, ahead: float = 0.0) -> np.ndarray:
        """(count,) progress of the next `count` candidates; endless mode draws it at random. `ahead`: seconds
        from now until they are drawn (a runtime budget planning generations in advance)."""
        if self.steps is not None:
            return (self.step + np.arange(count)) / self.steps
        if self.runtime is not None:
            searched, span = self.search_time(ahead)
            return np.full(count, min(searched / span, 1.0))
        return np.random.default_rng((self.seed, self.step, 0)).random(count)

    def explore(self, count: int = 1, ahead: float = 0.0) -> np.ndarray:
        """(count,) bool: which of the next `count` candidates belong to phase 1 (random seeding)."""
        steps_done = self.step + np.arange(count)
        if self.seeding_steps is not None:
            return steps_done < self.seeding_steps
        if self.seeding_runtime is not None:
            return np.full(count, self.search_time(ahead)[0] < self.seeding_runtime)
        if self.steps is not None:
            return steps_done < int(self.seeding_ratio * self.steps)
        if self.runtime is not None:
            searched, span = self.search_time(ahead)
            return np.full(count, searched < self.seeding_ratio * span)
        return np.random.default_rng((self.seed, self.step, 1)).random(count) < self.seeding_ratio

    def remaining(self) -> float:
        """Steps left (steps budget) or inf."""
        return self.steps - self.step if self.steps is not None else math.inf

    def done(self, next_cost: float | None = None) -> bool:
        """True when no further candidate fits; a runtime budget stops early rather than overrun."""
        if self.steps is not None:
            return self.step >= self.steps
        if self.runtime is not None:
            cost = self.candidate_seconds if next_cost is None else next_cost
            return self.elapsed + cost >= self.runtime
        return False

    def mark_warm(self) -> None:
        """The search runs at its speed from now (its functions are compiled, its workers answer): what has
        elapsed so far is start-up, which the phase split of a runtime budget leaves out. Only the first call
        counts."""
        if self.warmup is None:
            self.warmup = self.elapsed

    def record_seconds(self, seconds: float) -> None:
        """Update the running estimate of one evaluation's duration (EMA, factor 0.5)."""
        self.candidate_seconds = seconds if self.candidate_seconds == 0 else 0.5 * (self.candidate_seconds + seconds)

    def describe(self) -> str:
        if self.steps is not None:
            return f"{self.steps} steps"
        if self.runtime is not None:
            from .runtime import format_duration
            return format_duration(self.runtime)
        return "endlessly (stop with Ctrl+C)"
