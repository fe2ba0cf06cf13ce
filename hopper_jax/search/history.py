"""History: every evaluated candidate with its value, outcome, phase, temperature and time.

Storage is columnar: one numpy column per field (f, status, type, temperature, step, finish time,
duration) and the candidates in segments, so a JAX-mode generation of P rows is one append of arrays, and
candidate dicts are built only when read (`records`, `candidates`, `h[i]`, `h["key"]` read as before).

Memory policy:
- an array value with more than `max_array_size` elements (default 10 000) is never kept: the history
  holds an `ArraySummary` in its place (shape, dtype, mean, std, min, max);
- full array values are kept up to `max_bytes` in all (default 256 MiB); beyond it every array is
  summarised. Scalars, strings and other objects are always kept.
The best candidate is always kept in full by `Search.best`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .callbacks import CandidateType, ParamInfo
from .columns import LazyList, Table

OK, FAILED, PRUNED = "ok", "failed", "pruned"
STATUSES = (OK, FAILED, PRUNED)
STATUS_CODE = {status: code for code, status in enumerate(STATUSES)}
PHASES = {CandidateType.INIT: "init", CandidateType.MANUALLY_ADDED: "manual",
          CandidateType.RANDOM_SEEDING: "random", CandidateType.LOCAL_SAMPLING: "local"}
MISSING_PANDAS = 'History.to_pandas needs pandas: pip install "hopper_jax[plots]"'
#: Default byte budget of the full array values a history keeps.
MAX_BYTES = 256 * 2**20


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


def array_bytes(node: Any) -> int:
    """Bytes of the numpy arrays inside `node` (dicts and lists walked)."""
    if isinstance(node, dict):
        return sum(array_bytes(v) for v in node.values())
    if isinstance(node, list):
        return sum(array_bytes(v) for v in node)
    return node.nbytes if isinstance(node, np.ndarray) else 0


@dataclasses.dataclass
class Generation:
    """Candidates of a JAX-mode generation, columnar; a candidate's dict is built when read.

    leaves[j] holds, for array leaf j, either the (n, ...) decoded values (`full[j]`) or (n, 4) summaries
    (mean, std, min, max).
    """

    space: Any  # the Space (its `build` makes the dict, `leaves` give shapes and types)
    leaves: list[np.ndarray]
    full: list[bool]

    def candidate(self, i: int) -> Any:
        from ..space import declarations as d
        from ..space.compile import python_value

        space = self.space

        def leaf_value(j: int) -> Any:
            leaf = space.leaves[space.array_leaves[j]]
            if self.full[j]:
                return python_value(leaf.param, self.leaves[j][i])
            mean, std, low, high = (float(x) for x in self.leaves[j][i])
            dtype = "int64" if isinstance(leaf.param, d.IntParameter) else np.dtype(leaf.encoding.dtype).name
            return ArraySummary(tuple(leaf.encoding.shape), dtype, mean, std, low, high)

        return space.build(leaf_value)

    @property
    def nbytes(self) -> int:
        """Bytes of the full array values held (scalar leaves are not counted against the budget)."""
        return sum(leaf.nbytes for leaf, full in zip(self.leaves, self.full) if full and leaf[:1].size > 1)


#: Single rows gathered in a list before they move into the numpy columns.
SETTLE_ROWS = 4096
#: The history's columns and their dtypes, in the order of a row.
FIELDS = {"f": np.float64, "status": np.int8, "type": np.int8, "temperature": np.float64, "step": np.int64,
          "finished": np.float64, "duration": np.float64}


class History:
    """Log of all evaluations of a `Search`, across its runs.

    `len(h)`, `h[i]`, `h["key"]`, `fs`, `best_fs`, `best_f`, `steps`, `seconds` and `phases` refer to
    successful evaluations (PyHopper's view). `records` holds every evaluation, failed and pruned ones
    included, as dicts: candidate, f (None unless ok), status, type, phase, temperature, step, seconds (finish
    time since the history began), duration (seconds the evaluation took, when known) and error.
    """

    def __init__(self, direction: str = "max", max_array_size: int = 10_000, max_bytes: int = MAX_BYTES):
        self.direction = direction
        self.max_array_size, self.max_bytes = max_array_size, max_bytes
        self.start_time = time.time()
        self.bytes_kept = 0  # bytes of the full array values held
        self._table = Table(FIELDS, SETTLE_ROWS)
        self._segments: list[tuple[int, Any]] = []  # (first record, list of candidates or Generation)
        self._open: list | None = None  # the last segment while it is a list that single rows extend
        self._errors: dict[int, str] = {}
        self._ok = 0
        self._views: dict[str, Any] = {}  # cached views, valid for `_views_at` records
        self._views_at = -1

    # ---- appending ------------------------------------------------------------------------------------
    def keeps_arrays(self, nbytes: int) -> bool:
        """True when `nbytes` more bytes of full array values fit in the budget."""
        return self.bytes_kept + nbytes <= self.max_bytes

    def leaf_forms(self, sizes: list[int], rows: int) -> list[bool]:
        """Per array leaf of `sizes` elements, for `rows` more rows: keep full values (True) or summaries.

        Scalars are always kept; a leaf over `max_array_size` never is; others while the budget lasts.
        """
        budget, full = self.max_bytes - self.bytes_kept, []
        for size in sizes:
            nbytes = rows * size * 4  # decoded values are 32-bit
            keep = size == 1 or (size <= self.max_array_size and nbytes <= budget)
            budget -= nbytes if keep and size > 1 else 0
            full.append(keep)
        return full

    def append(self, candidate: Any, f: float | None, info: ParamInfo, status: str = OK, slim: bool = True,
               duration: float | None = None) -> None:
        """Log one evaluation; `slim=False` skips the large-array check (the caller knows none is large).

        duration: seconds the objective took; by default the time from sampling to finishing.
        """
        if slim:
            candidate = summarize_arrays(candidate, self.max_array_size)
            nbytes = array_bytes(candidate)
            if nbytes and not self.keeps_arrays(nbytes):
                candidate, nbytes = summarize_arrays(candidate, -1), 0
            self.bytes_kept += nbytes
        finished_at = info.finished_at or time.time()
        if duration is None:
            duration = max(finished_at - info.sampled_at, 0.0) if info.sampled_at else None
        index = self._table.size
        if self._open is None:  # the first single row after a generation (or ever) opens a segment
            self._open = []
            self._segments.append((index, self._open))
        self._open.append(candidate)
        self._table.append((f if status == OK else np.nan, STATUS_CODE[status], int(info.type),
                            np.nan if info.temperature is None else info.temperature, info.step,
                            finished_at - self.start_time, np.nan if duration is None else duration))
        if info.error is not None:
            self._errors[index] = info.error
        self._ok += status == OK

    def append_generation(self, generation: Generation, f: np.ndarray, status: np.ndarray, types: np.ndarray,
                          temperature: np.ndarray, steps: np.ndarray, finished_at: float, duration: float,
                          errors: dict[int, str] | None = None) -> None:
        """Log the rows of a JAX-mode generation at once (columns of equal length n; `status` as codes)."""
        index = self._table.size
        self._segments.append((index, generation))
        self._open = None
        self.bytes_kept += generation.nbytes
        self._table.extend(f=np.where(status == STATUS_CODE[OK], f, np.nan), status=status, type=types,
                           temperature=temperature, step=steps, finished=np.full(len(f), finished_at - self.start_time),
                           duration=np.full(len(f), duration))
        for row, error in (errors or {}).items():
            self._errors[index + row] = error
        self._ok += int(np.count_nonzero(status == STATUS_CODE[OK]))

    # ---- reading --------------------------------------------------------------------------------------
    def _candidate(self, index: int) -> Any:
        """The candidate of record `index`."""
        lo, hi = 0, len(self._segments) - 1
        while lo < hi:  # the last segment starting at or before index
            middle = (lo + hi + 1) // 2
            if self._segments[middle][0] <= index:
                lo = middle
            else:
                hi = middle - 1
        start, segment = self._segments[lo]
        return segment[index - start] if isinstance(segment, list) else segment.candidate(index - start)

    def _record(self, index: int) -> dict:
        kind = CandidateType(int(self._table["type"][index]))
        temperature, duration = self._table["temperature"][index], self._table["duration"][index]
        status = STATUSES[self._table["status"][index]]
        return {"candidate": self._candidate(index), "f": float(self._table["f"][index]) if status == OK else None,
                "status": status, "type": kind, "phase": PHASES[kind],
                "temperature": None if np.isnan(temperature) else float(temperature),
                "step": int(self._table["step"][index]), "seconds": float(self._table["finished"][index]),
                "duration": None if np.isnan(duration) else float(duration), "error": self._errors.get(index)}

    def _view(self, name: str, make: Callable[[], Any]) -> Any:
        if self._views_at != self._table.size:
            self._views, self._views_at = {}, self._table.size
        if name not in self._views:
            self._views[name] = make()
        return self._views[name]

    @property
    def _ok_rows(self) -> np.ndarray:
        return self._view("ok_rows", lambda: np.flatnonzero(self._table["status"] == STATUS_CODE[OK]))

    @property
    def records(self) -> Sequence[dict]:
        return LazyList(self._table.size, self._record)

    @property
    def candidates(self) -> Sequence[Any]:
        rows = self._ok_rows
        return LazyList(len(rows), lambda i: self._candidate(int(rows[i])))

    @property
    def fs(self) -> list[float]:
        return list(self._view("fs", lambda: self._table["f"][self._ok_rows].tolist()))

    @property
    def best_fs(self) -> list[float]:
        def running() -> list[float]:
            fs = self._table["f"][self._ok_rows]
            return (np.maximum if self.direction == "max" else np.minimum).accumulate(fs).tolist() if len(fs) else []

        return list(self._view("best_fs", running))

    @property
    def types(self) -> list[CandidateType]:
        return [CandidateType(int(t)) for t in self._table["type"][self._ok_rows]]

    @property
    def temperatures(self) -> list[float | None]:
        return [None if np.isnan(t) else float(t) for t in self._table["temperature"][self._ok_rows]]

    @property
    def finished_at(self) -> list[float]:
        return self._table["finished"][self._ok_rows].tolist()

    def __len__(self) -> int:
        return self._ok

    def __getitem__(self, key: int | str) -> Any:
        if isinstance(key, str):
            return self.marginal(key)
        return self.candidates[key]

    def marginal(self, key: str) -> list[Any]:
        """Values of top-level parameter `key` over the successful evaluations."""
        candidates = self.candidates
        if len(candidates) and not (isinstance(candidates[0], dict) and key in candidates[0]):
            raise ValueError(f"Could not find key {key!r} in the logged candidates")
        return [candidate[key] for candidate in candidates]

    @property
    def best_f(self) -> float:
        if not self._ok:
            raise IndexError("The history is empty: no successful evaluation yet")
        return self.best_fs[-1]

    @property
    def steps(self) -> list[int]:
        return list(range(len(self)))

    @property
    def seconds(self) -> list[float]:
        return self.finished_at

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

    def _with_status(self, status: str) -> list[dict]:
        return [self._record(int(i)) for i in np.flatnonzero(self._table["status"] == STATUS_CODE[status])]

    @property
    def pruned(self) -> list[dict]:
        """The records of pruned evaluations."""
        return self._with_status(PRUNED)

    @property
    def failed(self) -> list[dict]:
        """The records of failed evaluations (NaN, unusable values, exceptions, crashed workers)."""
        return self._with_status(FAILED)

    def count(self, status: str) -> int:
        return int(np.count_nonzero(self._table["status"] == STATUS_CODE[status]))

    def statistics(self) -> dict[str, dict[str, Any]]:
        """Per phase ('init', 'manual', 'random', 'local', those seen) and 'total': counts of ok, failed and
        pruned evaluations, best f (None without a success) and mean duration in seconds (None if unknown)."""
        types = self._table["type"]
        out = {PHASES[kind]: self._statistics(types == int(kind)) for kind in PHASES if np.any(types == int(kind))}
        return out | {"total": self._statistics(np.ones(types.shape, bool))}

    def _statistics(self, rows: np.ndarray) -> dict[str, Any]:
        status, durations = self._table["status"][rows], self._table["duration"][rows]
        fs = self._table["f"][rows][status == STATUS_CODE[OK]]
        durations = durations[~np.isnan(durations)]
        best = (np.max if self.direction == "max" else np.min)(fs) if len(fs) else None
        return {OK: len(fs), FAILED: int(np.count_nonzero(status == STATUS_CODE[FAILED])),
                PRUNED: int(np.count_nonzero(status == STATUS_CODE[PRUNED])),
                "best_f": None if best is None else float(best),
                "mean_seconds": float(np.mean(durations)) if len(durations) else None}

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
        self.__init__(self.direction, self.max_array_size, self.max_bytes)

    def __repr__(self) -> str:
        best = f"{self.best_f:0.3g}" if self._ok else "None"
        return f"hopper_jax.History(len={len(self)}, best={best})"
