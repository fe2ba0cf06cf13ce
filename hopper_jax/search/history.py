"""History: every evaluated candidate with its value, outcome, phase, temperature and time.

Memory policy: array values with more than `max_array_size` elements (default 10 000) are not kept in
the history (they appear as None); the best candidate is always kept in full by `Search.best`. This
bounds the history of a neuroevolution run with 1e6-element parameters to a few numbers per candidate.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from .callbacks import CandidateType, ParamInfo

OK, FAILED, PRUNED = "ok", "failed", "pruned"


def _slim(node: Any, max_array_size: int) -> Any:
    if isinstance(node, dict):
        return {k: _slim(v, max_array_size) for k, v in node.items()}
    if isinstance(node, list):
        return [_slim(v, max_array_size) for v in node]
    if isinstance(node, np.ndarray) and node.size > max_array_size:
        return None
    return node


class History:
    """Log of all evaluations of a `Search`, across its runs.

    `len(h)`, `h[i]`, `h["key"]`, `fs`, `best_fs`, `best_f`, `steps` and `seconds` refer to successful
    evaluations (PyHopper's view); `records` holds every evaluation, failed and pruned ones included.
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
        self.records: list[dict] = []  # every evaluation: candidate, f, status, type, temperature, time

    def append(self, candidate: Any, f: float | None, info: ParamInfo, status: str = OK, slim: bool = True) -> None:
        """Log one evaluation; `slim=False` skips the large-array check (the caller knows none is large)."""
        if slim:
            candidate = _slim(candidate, self.max_array_size)
        finished = (info.finished_at or time.time()) - self.start_time
        self.records.append({"candidate": candidate, "f": f, "status": status, "type": info.type,
                             "temperature": info.temperature, "seconds": finished, "error": info.error})
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
        names = {CandidateType.INIT: "init", CandidateType.MANUALLY_ADDED: "manual",
                 CandidateType.RANDOM_SEEDING: "random", CandidateType.LOCAL_SAMPLING: "local"}
        return [names[t] for t in self.types]

    def count(self, status: str) -> int:
        return sum(record["status"] == status for record in self.records)

    def clear(self) -> None:
        self.__init__(self.direction, self.max_array_size)

    def __repr__(self) -> str:
        best = f"{self.best_f:0.3g}" if self.best_fs else "None"
        return f"hopper_jax.History(len={len(self)}, best={best})"
