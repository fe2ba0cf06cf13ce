"""Callbacks: hooks the search calls as candidates are sampled and evaluated (PyHopper's protocol)."""

from __future__ import annotations

import dataclasses
import enum
from typing import Any


class CandidateType(enum.IntEnum):
    """Where a candidate came from."""

    INIT = 0
    MANUALLY_ADDED = 1
    RANDOM_SEEDING = 2
    LOCAL_SAMPLING = 3


@dataclasses.dataclass(slots=True)
class ParamInfo:
    """Metadata of one candidate: its origin, times (epoch seconds), temperature and outcome."""

    type: CandidateType
    sampled_at: float
    finished_at: float | None = None
    temperature: float | None = None
    step: int = 0
    is_pruned: bool = False
    is_nan: bool = False  # failed: NaN/inf/invalid value or an exception, with ignore_nans=True
    error: str | None = None


class Callback:
    """Subclass and override any hook; every hook is a no-op by default.

    In JAX mode the per-candidate hooks fire once per candidate after the whole generation was evaluated,
    in population order, and only if some callback overrides them (building a dict per candidate is the
    costly part of a large generation); `on_new_best` fires for the generation's best row when it became
    the search's best. `on_generation_end(values, fs, infos)` fires once per generation with the batched
    results: `values` is the population as the objective saw it (a dict of device arrays with a leading
    axis of the generation's rows), `fs` the (rows,) values, `infos` one ParamInfo per row (made when read).
    """

    def on_search_start(self, search: Any) -> None: ...

    def on_evaluate_start(self, candidate: Any, info: ParamInfo) -> None: ...

    def on_evaluate_end(self, candidate: Any, f: float, info: ParamInfo) -> None: ...

    def on_new_best(self, new_best: Any, f: float, info: ParamInfo) -> None: ...

    def on_duplicate_sampled(self, candidate: Any, info: ParamInfo) -> None: ...

    def on_evaluate_pruned(self, candidate: Any, info: ParamInfo) -> None: ...

    def on_evaluate_nan(self, candidate: Any, info: ParamInfo) -> None: ...

    def on_generation_end(self, values: Any, fs: Any, infos: list[ParamInfo]) -> None: ...

    def on_search_end(self) -> None: ...


class CallbackList:
    """Fans one event out to several callbacks; the user's own list is copied, never mutated."""

    def __init__(self, callbacks: Callback | list[Callback] | None):
        if callbacks is None:
            callbacks = []
        elif isinstance(callbacks, Callback):
            callbacks = [callbacks]
        callbacks = list(callbacks)
        for callback in callbacks:
            if not isinstance(callback, Callback):
                raise ValueError(f"callbacks must be hopper_jax.callbacks.Callback instances, got {callback!r}")
        self.callbacks = callbacks

    def defines(self, *hooks: str) -> bool:
        """True when some callback overrides one of `hooks` (the others need not be called at all)."""
        return any(getattr(type(callback), hook) is not getattr(Callback, hook)
                   for callback in self.callbacks for hook in hooks)

    def __getattr__(self, hook: str):
        if not hook.startswith("on_"):
            raise AttributeError(hook)
        methods = [getattr(callback, hook) for callback in self.callbacks]

        def fire(*args: Any) -> None:
            for method in methods:
                method(*args)

        setattr(self, hook, fire)  # later lookups find it directly, without __getattr__
        return fire
