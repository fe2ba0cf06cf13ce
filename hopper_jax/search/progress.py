"""The progress bar of a run: the share of the budget used, elapsed and remaining time, evaluations per second
and the best value, from the first candidate on.

A steps budget estimates the remaining time from the rate since the search became warm (its functions
compiled), so the first ETA does not count compilation as search speed; a runtime budget shows its clock.
"""

from __future__ import annotations

import time
from typing import Any

#: Seconds between redraws (a per-candidate update costs a counter increment and a clock read).
REFRESH_SECONDS = 0.2


class ProgressBar:
    """A tqdm bar over `budget`: steps (candidates), a runtime (seconds) or none (endless)."""

    def __init__(self, budget: Any, best_f: float | None = None, file: Any = None):
        from tqdm.auto import tqdm

        self.budget = budget
        self.steps = 0  # candidates done in this run (duplicates included)
        self.best = "-"
        if best_f is not None:  # a later run of the same search starts from its best
            self.new_best(best_f)
        self._warm: tuple[float, int] | None = None  # (elapsed, steps) when the budget became warm
        self._drawn = 0.0
        total = budget.steps if budget.steps is not None else budget.runtime
        # the counts and times are ours (tqdm's rate would count compiling as search speed): written into
        # the format's {unit} field, which this format uses for nothing else and prints as it is
        fmt = "{desc} {percentage:3.0f}%|{bar}| {unit}" if total is not None else "{desc} {unit}"
        self._clock = tqdm.format_interval  # seconds → "mm:ss" or "h:mm:ss", as tqdm prints its own times
        self.bar = tqdm(total=total, bar_format=fmt, desc=f"Best f: {self.best}", unit="",
                        leave=True, file=file, dynamic_ncols=True)
        self.draw(force=True)

    def advance(self, steps: int = 1) -> None:
        self.steps += steps
        self.draw()

    def new_best(self, f: float) -> None:
        self.best = f"{f:0.4g}"

    def draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._drawn < REFRESH_SECONDS:
            return
        self._drawn = now
        budget, elapsed = self.budget, self.budget.elapsed
        if self._warm is None and budget.warmup is not None:
            self._warm = (elapsed, self.steps)
        rate = None
        if self._warm is not None and elapsed > self._warm[0]:
            rate = (self.steps - self._warm[1]) / (elapsed - self._warm[0])
        if budget.steps is not None:
            self.bar.n = min(budget.step, budget.steps)
            left = (budget.steps - budget.step) / rate if rate else None
            counted = f"{budget.step}/{budget.steps} eval"
        elif budget.runtime is not None:
            self.bar.n = min(elapsed, budget.runtime)
            left = max(budget.runtime - elapsed, 0.0)
            counted = f"{self.steps} eval"
        else:
            left, counted = None, f"{self.steps} eval"
        remaining = "?" if left is None else self._clock(left)
        speed = "?" if rate is None else f"{rate:.3g}"
        self.bar.set_description_str(f"Best f: {self.best}", refresh=False)
        self.bar.unit = f"{counted} [{self._clock(elapsed)}<{remaining}, {speed} eval/s]"
        self.bar.refresh()

    def close(self) -> None:
        self.draw(force=True)
        self.bar.close()

