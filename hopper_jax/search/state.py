"""The search state: everything a `Search` knows between runs, and what a checkpoint saves and restores.

One explicit object, written by the shell's own code paths only through its fields: the core state (the
best, its score and the step-size adaptation, on the device), the best as the user sees it, the PRNG seed
and step counter that fix every draw, the queue of guesses and the duplicate caches.

One best: the core's `tell` decides which candidate is the best (float32 scores, float64 with float64
coordinates; strict improvement); the shell mirrors that decision with `improves` (the same rule on the
host) and only stores the user's value and dict of the candidate the core kept.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ..core.algorithm import HopperState
from ..core.seen import SeenTable
from .candidates import Encoded


def scores_of(values: Any, direction: str, dtype: type = np.float32) -> np.ndarray | np.generic:
    """Internal scores of objective values, as the core compares them: `dtype` (the space's `score_dtype`),
    maximised, NaN → -inf (a numpy scalar for one Python number, else an array). Scores are clipped to the
    type's finite range, so that the worst infinity (+inf when minimising) is a value that the first such
    candidate can hold as the best, and a finite value beats it."""
    limit = float(np.finfo(dtype).max)
    if isinstance(values, float | int):  # one evaluation (the common case): a numpy scalar, no array
        score = values if direction == "max" else -values
        if -limit <= score <= limit:
            return dtype(score)
        return dtype(-np.inf) if score != score else dtype(limit if score > 0 else -limit)
    values = np.asarray(values, np.float64)
    scores = np.clip(values if direction == "max" else -values, -limit, limit).astype(dtype)
    return np.where(np.isnan(scores), dtype(-np.inf), scores)


@dataclasses.dataclass
class Best:
    """The best candidate as the user sees it; the core state holds its encoding."""

    f: float | None = None  # the objective's value (the user's direction), None before any success
    candidate: Any = None  # the user's dict; None: built from `values` and `objects` when read
    objects: dict[int, Any] = dataclasses.field(default_factory=dict)  # Python-side parameter values
    values: tuple | None = None  # decoded array leaves (numpy); None: decoded from the core state when read


@dataclasses.dataclass
class SearchState:
    """What a search knows; a checkpoint is this object (plus the history, rebuilt from the journal)."""

    core: HopperState
    best: Best
    score: np.floating = np.float32(-np.inf)  # the core's best score, mirrored on the host (its score_dtype)
    seed: int | None = None
    steps_done: int = 0  # candidates drawn over all runs: with the seed, it fixes every PRNG key
    draws: int = 0  # sample_solution / mutate_from_best calls, each with its own key
    queue: list[Encoded] = dataclasses.field(default_factory=list)
    initial: Encoded | None = None  # the initial guess while it waits at the head of the queue
    seen: dict[int, None] = dataclasses.field(default_factory=dict)  # fingerprints evaluated (Python mode)
    table: SeenTable | None = None  # JAX mode's bounded device cache of fingerprints, between runs
    direction: str | None = None

    def improves(self, score: np.floating) -> bool:
        """True when `score` (see `scores_of`) would make the core replace its best: strictly better."""
        return bool(score > self.score)

    @property
    def initial_pending(self) -> bool:
        return bool(self.queue) and self.queue[0] is self.initial
