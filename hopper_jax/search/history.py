"""History: every evaluated candidate with its value, outcome, phase, temperature and time.

Memory policy: an array value with more than `max_array_size` elements (default 10 000) is not kept; the
history holds an `ArraySummary` in its place (shape, dtype, mean, std, min, max: six numbers, computed in
the array's own precision). The best candidate is always kept in full by `Search.best`. This bounds the
history of a neuroevolution run with 1e6-element parameters to a few numbers per candidate.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np

from .callbacks import CandidateType, ParamInfo

OK, FAILED, PRUNED = "ok", "failed", "pruned"
PHASES = {CandidateType.INIT: "init", CandidateType.MANUALLY_ADDED: "manual",
          CandidateType.RANDOM_SEEDING: "random", CandidateType.LOCAL_SAMPLING: "local"}
MISSING_PANDAS = 'History.to_pandas needs pandas: pip install "hopper_jax[plots]"'


@dataclasses.dataclass(frozen=True)
class ArraySummary:
    """What the history keeps of an array too large to store: its shape, dtype and value statistics."""

    shape: tuple[int, ...]
    dtype: str
    mean: float
    std: float
    min: float
    max: float

    @classmethod
    def of(cls, array: np.ndarray) -> ArraySummary:
        if array.size == 0 or array.dtype.kind not in "biuf":
            return cls(tuple(array.shape), str(array.dtype), np.nan, np.nan, np.nan, np.nan)
        return cls(tuple(array.shape), str(array.dtype), float(array.mean()), float(array.std()),
                   float(array.min()), float(array.max()))

    def as_dict(self) -> dict[str, Any]:
        return {"shape": list(self.shape), **{f.name: getattr(self, f.name) for f in dataclasses.fields(self)[1:]}}


def summarize_arrays(node: Any, max_array_size: int) -> Any:
    """`node` (dicts and lists walked) with every array of more than `max_array_size` elements summarised."""
    if isinstance(node, dict):
        return {k: summarize_arrays(v, max_array_size) for k, v in node.items()}
    if isinstance(node, list):
        return [summarize_arrays(v, max_array_size) for v in node]
    if isinstance(node, np.ndarray) and node.size > max_array_size:
        return ArraySummary.of(node)
    return node



class History:
    """Log of all evaluations of a `Search`, across its runs.

    `len(h)`, `h[i]`, `h["key"]`, `fs`, `best_fs`, `best_f`, `steps`, `seconds` and `phases` refer to
    successful evaluations (PyHopper's view). `records` holds every evaluation, failed and pruned ones
    included, as dicts: candidate, f (None unless ok), status, type, phase, temperature, step, seconds (finish
    time since the history began), duration (seconds the evaluation took, when known) and error.
    """

    def __init__(self, direction: str = "max", max_array_size: int = 10_000):
        self.direction = direction
        self.max_array_size = max_array_size
        self.start_time = time.time()
        self.candidates: list[Any] = []
        self.fs: list[float] = []
        self.best_fs: list[float] = []
        self.types: list[CandidateType] = []
        self.temperatures: list[float | None] = []
        self.finished_at: list[float] = []
        self.records: list[dict] = []

    def append(self, candidate: Any, f: float | None, info: ParamInfo, status: str = OK, slim: bool = True,
               duration: float | None = None) -> None:
        """Log one evaluation; `slim=False` skips the large-array check (the caller knows none is large).

        duration: seconds the objective took; by default the time from sampling to finishing.
        """
        if slim:
            candidate = summarize_arrays(candidate, self.max_array_size)
        finished_at = info.finished_at or time.time()
        if duration is None:
            duration = max(finished_at - info.sampled_at, 0.0) if info.sampled_at else None
        finished = finished_at - self.start_time
        self.records.append({"candidate": candidate, "f": f, "status": status, "type": info.type,
                             "phase": PHASES[info.type], "temperature": info.temperature, "step": info.step,
                             "seconds": finished, "duration": duration, "error": info.error})
        if status != OK:
            return
        better = max if self.direction == "max" else min
        self.best_fs.append(f if not self.best_fs else better(self.best_fs[-1], f))
        self.candidates.append(candidate)
        self.fs.append(f)
        self.types.append(info.type)
        self.temperatures.append(info.temperature)
        self.finished_at.append(finished)

    def __len__(self) -> int:
        return len(self.fs)

    def __getitem__(self, key: int | str) -> Any:
        if isinstance(key, str):
            return self.marginal(key)
        return self.candidates[key]

    def marginal(self, key: str) -> list[Any]:
        """Values of top-level parameter `key` over the successful evaluations."""
        if self.candidates and not (isinstance(self.candidates[0], dict) and key in self.candidates[0]):
            raise ValueError(f"Could not find key {key!r} in the logged candidates")
        return [candidate[key] for candidate in self.candidates]

    @property
    def best_f(self) -> float:
        if not self.best_fs:
            raise IndexError("The history is empty: no successful evaluation yet")
        return self.best_fs[-1]

    @property
    def steps(self) -> list[int]:
        return list(range(len(self)))

    @property
    def seconds(self) -> list[float]:
        return list(self.finished_at)

    @property
    def minutes(self) -> list[float]:
        return [s / 60 for s in self.finished_at]

    @property
    def hours(self) -> list[float]:
        return [s / 3600 for s in self.finished_at]

    @property
    def phases(self) -> list[str]:
        """'random' (phase 1), 'local' (phase 2) or 'manual'/'init' per successful evaluation."""
        return [PHASES[t] for t in self.types]

    @property
    def pruned(self) -> list[dict]:
        """The records of pruned evaluations."""
        return [record for record in self.records if record["status"] == PRUNED]

    @property
    def failed(self) -> list[dict]:
        """The records of failed evaluations (NaN, unusable values, exceptions, crashed workers)."""
        return [record for record in self.records if record["status"] == FAILED]

    def count(self, status: str) -> int:
        return sum(record["status"] == status for record in self.records)

    def statistics(self) -> dict[str, dict[str, Any]]:
        """Per phase ('init', 'manual', 'random', 'local', those seen) and 'total': counts of ok, failed and
        pruned evaluations, best f (None without a success) and mean duration in seconds (None if unknown)."""
        groups: dict[str, list[dict]] = {}
        for record in self.records:
            groups.setdefault(record["phase"], []).append(record)
        order = [name for name in PHASES.values() if name in groups]
        return {name: self._statistics(groups[name]) for name in order} | {"total": self._statistics(self.records)}

    def _statistics(self, records: list[dict]) -> dict[str, Any]:
        fs = [record["f"] for record in records if record["status"] == OK]
        durations = [record["duration"] for record in records if record["duration"] is not None]
        better = max if self.direction == "max" else min
        return {OK: len(fs), FAILED: sum(r["status"] == FAILED for r in records),
                PRUNED: sum(r["status"] == PRUNED for r in records), "best_f": better(fs) if fs else None,
                "mean_seconds": float(np.mean(durations)) if durations else None}

    def to_pandas(self) -> Any:
        """Every record as a row of a `pandas.DataFrame`: step, phase, status, f, best_f (best so far among
        successes), temperature, seconds, duration, error, then one `params_<key>` column per top-level key."""
        try:
            import pandas as pd
        except ImportError as error:
            raise ImportError(MISSING_PANDAS) from error
        rows, best = [], None
        better = max if self.direction == "max" else min
        for record in self.records:
            if record["status"] == OK:
                best = record["f"] if best is None else better(best, record["f"])
            row = {name: record[name] for name in ("step", "phase", "status", "f")}
            row.update(best_f=best, temperature=record["temperature"], seconds=record["seconds"],
                       duration=record["duration"], error=record["error"])
            candidate = record["candidate"]
            if isinstance(candidate, dict):
                row.update({f"params_{key}": value for key, value in candidate.items()})
            else:
                row["params"] = candidate
            rows.append(row)
        columns = ["step", "phase", "status", "f", "best_f", "temperature", "seconds", "duration", "error"]
        return pd.DataFrame(rows, columns=None if rows else columns)

    def clear(self) -> None:
        self.__init__(self.direction, self.max_array_size)

    def __repr__(self) -> str:
        best = f"{self.best_f:0.3g}" if self.best_fs else "None"
        return f"hopper_jax.History(len={len(self)}, best={best})"
