"""Booking outcomes: statistics, callbacks, the history, the journal, the progress bar and the best.

Both ways candidates are evaluated come through here: one candidate at a time (Python objectives,
`record`) and a whole JAX generation at once (`record_generation`, columnar: per-candidate hooks and
dicts only where a callback asks for them).
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from typing import Any

import numpy as np

from ..evaluators.outcome import FAILED, OK, PRUNED, Outcome
from .journal_records import generation_record, journal_record
from .callbacks import CallbackList, CandidateType, ParamInfo
from .columns import LazyList
from .history import STATUS_CODE, Generation, History
from .report import SummaryRow, format_summary
from .state import Best, SearchState, scores_of

MODE_NAMES = {CandidateType.INIT: "Initial solution", CandidateType.MANUALLY_ADDED: "Manually added",
              CandidateType.RANDOM_SEEDING: "Random seeding", CandidateType.LOCAL_SAMPLING: "Local sampling"}
#: A generation's leaf of at most this many elements (P × leaf size) is read on the host for one row's values.
HOST_LEAF_ELEMENTS = 2**16
#: Hooks that take one candidate each: in JAX mode a generation builds candidate dicts only for these.
ROW_HOOKS = ("on_evaluate_start", "on_evaluate_end", "on_evaluate_nan", "on_duplicate_sampled")


class ObjectiveError(ValueError):
    """The objective returned something unusable (NaN, inf, None, an array, …)."""


@dataclasses.dataclass
class TypeStats:
    """Counts of one candidate type in one run (the summary table's row)."""

    evaluations: int = 0
    failed: int = 0
    pruned: int = 0
    best_f: float | None = None
    seconds: float = 0.0


@dataclasses.dataclass
class RunStats:
    """The counters of one run: per-type statistics, duplicates and the duplicate heat."""

    types: dict[CandidateType, TypeStats] = dataclasses.field(default_factory=dict)
    duplicates: int = 0
    heat: float = 1.0

    def of(self, kind: CandidateType) -> TypeStats:
        if kind not in self.types:
            self.types[kind] = TypeStats()
        return self.types[kind]

    def as_json(self) -> dict:
        return {"duplicates": self.duplicates, "heat": self.heat,
                "types": {str(int(kind)): dataclasses.asdict(stats) for kind, stats in self.types.items()}}

    @classmethod
    def from_json(cls, data: dict) -> RunStats:
        types = {CandidateType(int(kind)): TypeStats(**stats) for kind, stats in data["types"].items()}
        return cls(types, data["duplicates"], data["heat"])


@dataclasses.dataclass
class GenerationResult:
    """One JAX-mode generation on the host: P rows, of which the first `count` are steps of the budget."""

    first_step: int
    count: int
    f: np.ndarray  # (P,) float64 objective values
    duplicate: np.ndarray  # (P,) bool
    local: np.ndarray  # (P,) bool
    temperature: np.ndarray  # (P,) float32
    keys: np.ndarray  # (P,) uint64 fingerprints
    n_guesses: int
    initial: bool  # row 0 is the initial guess
    winner: int  # row that became the best, or -1
    values: Any  # tuple of (P, ...) device arrays (decoded)
    seconds: float  # wall time of the generation
    replayed: bool = False
    summaries: list | None = None  # (P, 4) per array leaf, computed when first needed


class Booking:
    """Books every evaluation of one run; `stats` and the journal lines are what a checkpoint needs.
    `journal`: the checkpoint's Codec when the run keeps a journal, else None."""

    def __init__(self, search: Any, state: SearchState, history: History, callbacks: CallbackList, *,
                 ignore_nans: bool, keep_history: bool, use_cache: bool, pruner: Any = None, journal: Any = None):
        self.search, self.state, self.history, self.callbacks = search, state, history, callbacks
        self.space = search.space
        self.ignore_nans, self.keep_history, self.use_cache = ignore_nans, keep_history, use_cache
        self.pruner, self.journal = pruner, journal
        self.stats = RunStats()
        self.lines: list[dict] = []  # journal records waiting for the next append
        self.progress = None  # a ProgressBar, set by the driver
        self.elapsed = lambda: 0.0  # seconds of the budget used (set by the driver)
        self._better = max if state.direction == "max" else min
        self._slim = self.space.host_driven or any(self.space.leaves[i].encoding.size > history.max_array_size
                                                   for i in self.space.array_leaves)

    # ---- one candidate (Python objectives) -----------------------------------------------------------
    def record(self, candidate: Any, objects: dict, outcome: Outcome, info: ParamInfo, key: int,
               values: tuple | None = None) -> tuple[np.floating, bool]:
        """Book one evaluation; return its internal score (see `scores_of`; -inf unless usable) and whether
        it became the best."""
        info.finished_at = info.finished_at or time.time()
        stats = self.stats.of(info.type)
        stats.seconds += outcome.seconds
        if self.pruner is not None and outcome.status != FAILED:
            self.pruner.append(list(outcome.partial), outcome.status == PRUNED)
        if outcome.status == FAILED:
            self._fail(candidate, outcome, info)
            stats.failed += 1
            self._log(candidate, None, info, outcome, key)
            return self.space.score_dtype(-np.inf), False
        if outcome.status == PRUNED:
            info.is_pruned = True
            stats.pruned += 1
            self.callbacks.on_evaluate_pruned(candidate, info)
            self._log(candidate, None, info, outcome, key)
            return self.space.score_dtype(-np.inf), False
        f = outcome.value
        if f in (math.inf, -math.inf):
            self._check_infinity(f)
        stats.evaluations += 1
        stats.best_f = f if stats.best_f is None else self._better(stats.best_f, f)
        self.callbacks.on_evaluate_end(candidate, f, info)
        self._log(candidate, f, info, outcome, key)
        score = scores_of(f, self.state.direction, self.space.score_dtype)[()]
        improved = self.state.improves(score)
        if improved:
            self.new_best(score, Best(f, candidate, dict(objects), values))
            self.callbacks.on_new_best(candidate, f, info)
        return score, improved

    def _check_infinity(self, values: float | np.ndarray) -> None:
        """Warn when an objective value is infinitely good (-inf when minimising): nothing can beat it, so it
        ends all progress (PyHopper keeps it as the best, and so does hopper_jax). The worst infinity is an
        ordinary value (a diverged simulation, an infeasible point)."""
        good = np.inf if self.state.direction == "max" else -np.inf
        if np.any(np.asarray(values) == good):
            warnings.warn(f"The objective returned {good} while {self.state.direction}imising: no later value can "
                          f"beat it, so it stays the best. Return {-good} for a failed or infeasible candidate "
                          f"(the worst value), or raise / return NaN with ignore_nans=True to record it as "
                          f"failed.", RuntimeWarning, stacklevel=2)

    def _fail(self, candidate: Any, outcome: Outcome, info: ParamInfo) -> None:
        info.is_nan, info.error = True, outcome.problem
        if not self.ignore_nans and not outcome.crashed:
            if outcome.error is not None:
                outcome.error.add_note(f"hopper_jax: raised while evaluating candidate {candidate!r}; "
                                       f"pass ignore_nans=True to record such candidates as failed instead.")
                raise outcome.error
            raise ObjectiveError(f"The objective {outcome.problem} for candidate {candidate!r}. Pass "
                                 f"ignore_nans=True to record such candidates as failed and go on.")
        self.callbacks.on_evaluate_nan(candidate, info)

    def _log(self, candidate: Any, f: float | None, info: ParamInfo, outcome: Outcome, key: int) -> None:
        if self.keep_history:
            self.history.append(candidate, f, info, outcome.status, self._slim, duration=outcome.seconds)
        if self.journal and not getattr(outcome, "replayed", False):
            self.lines.append(journal_record(
                candidate, f, info, outcome, key, info.finished_at - self.history.start_time, self.elapsed(),
                self.history.max_array_size, self.journal))
        if self.use_cache:
            self.state.seen[key] = None
        self._advance(1)

    def duplicate(self, candidate: Any, info: ParamInfo, steps: int = 1) -> None:
        self.stats.duplicates += steps
        self.callbacks.on_duplicate_sampled(candidate, info)
        self._advance(steps)

    def new_best(self, score: np.floating, best: Best) -> None:
        self.state.score, self.state.best = self.space.score_dtype(score), best
        if self.progress is not None:
            self.progress.new_best(best.f)

    def _advance(self, steps: int) -> None:
        if self.progress is not None:
            self.progress.advance(steps)

    # ---- a JAX generation ----------------------------------------------------------------------------
    def record_generation(self, result: GenerationResult) -> None:
        """Book the first `count` rows of a generation: statistics, hooks, history, journal, best."""
        n = result.count
        finished = time.time()
        f, duplicate = result.f[:n], result.duplicate[:n]
        usable = ~np.isnan(f) & ~duplicate
        failed = np.isnan(f) & ~duplicate
        if np.isinf(f[usable]).any():
            self._check_infinity(f[usable])
        kinds = np.where(result.local[:n], int(CandidateType.LOCAL_SAMPLING), int(CandidateType.RANDOM_SEEDING))
        kinds[: result.n_guesses] = int(CandidateType.MANUALLY_ADDED)
        if result.initial:
            kinds[0] = int(CandidateType.INIT)
        if failed.any() and not self.ignore_nans:
            self._raise_failed(result, int(np.flatnonzero(failed)[0]))
        per_row = result.seconds / max(n, 1)
        self._count(kinds, f, usable, failed, per_row)
        infos = LazyList(n, lambda i: self._info(result, kinds, i, finished, failed))
        self._generation_hooks(result, kinds, infos, usable, failed)
        kept = ~duplicate
        if self.keep_history and kept.any():
            rows = np.flatnonzero(kept)
            errors = {i: _problem(f[row]) for i, row in enumerate(rows) if failed[row]}
            self.history.append_generation(
                self._columns(result, rows), f[rows], np.where(failed[rows], STATUS_CODE[FAILED], STATUS_CODE[OK]),
                kinds[rows], result.temperature[rows].astype(np.float64), result.first_step + rows,
                finished, per_row, errors)
        if self.journal and not result.replayed:
            self.lines.append(generation_record(result, kinds, finished - self.history.start_time,
                                                self.elapsed(), self._journal_leaves(result)))
        self.stats.duplicates += int(np.count_nonzero(duplicate))
        if self.callbacks.defines("on_generation_end"):
            self.callbacks.on_generation_end(self.space.jax_tree(tuple(v[:n] for v in result.values)), f, infos)
        self._advance(n)

    def _count(self, kinds: np.ndarray, f: np.ndarray, usable: np.ndarray, failed: np.ndarray, per_row: float):
        for kind in np.unique(kinds):
            rows = kinds == kind
            stats = self.stats.of(CandidateType(int(kind)))
            stats.evaluations += int(np.count_nonzero(rows & usable))
            stats.failed += int(np.count_nonzero(rows & failed))
            stats.seconds += per_row * int(np.count_nonzero(rows))
            if np.any(rows & usable):
                best = float(self._better(f[rows & usable]))
                stats.best_f = best if stats.best_f is None else self._better(stats.best_f, best)

    def _info(self, result: GenerationResult, kinds: np.ndarray, i: int, finished: float,
              failed: np.ndarray) -> ParamInfo:
        info = ParamInfo(CandidateType(int(kinds[i])), finished - result.seconds, finished,
                         float(result.temperature[i]), result.first_step + i)
        if failed[i]:
            info.is_nan, info.error = True, _problem(result.f[i])
        return info

    def row_values(self, result: GenerationResult, row: int) -> tuple | None:
        """One row's decoded values (fetched from the device), or None when the run did not keep them."""
        if any(v is None for v in result.values):
            return None
        # a small leaf comes to the host whole (the history fetches it anyway); indexing a device array runs a
        # program, which compiles the first time (about 0.04 s of a short run's start-up)
        return tuple(np.asarray(v)[row] if v.size <= HOST_LEAF_ELEMENTS else np.asarray(v[row]) for v in result.values)

    def row_candidate(self, result: GenerationResult, row: int) -> Any:
        """The user's dict of one row (its values fetched from the device)."""
        return self.space.to_python(self.row_values(result, row), {})

    def _generation_hooks(self, result: GenerationResult, kinds, infos, usable, failed) -> None:
        """Per-candidate hooks for callbacks that define them, in row order; the new best after its row."""
        winner = result.winner
        best = None
        if winner >= 0:  # values None: decoded from the core state when read
            best = Best(float(result.f[winner]), None, {}, self.row_values(result, winner))
            self.new_best(scores_of(best.f, self.state.direction, self.space.score_dtype)[()], best)
        if not self.callbacks.defines(*ROW_HOOKS):
            if best is not None and self.callbacks.defines("on_new_best"):
                self.callbacks.on_new_best(self.row_candidate(result, winner), best.f, infos[winner])
            return
        host = [np.asarray(v) for v in result.values]
        for i in range(result.count):
            candidate = self.space.to_python(tuple(v[i] for v in host), {})
            if result.duplicate[i]:
                self.callbacks.on_duplicate_sampled(candidate, infos[i])
                continue
            self.callbacks.on_evaluate_start(candidate, infos[i])
            if failed[i]:
                self.callbacks.on_evaluate_nan(candidate, infos[i])
            else:
                self.callbacks.on_evaluate_end(candidate, float(result.f[i]), infos[i])
            if i == winner:
                self.callbacks.on_new_best(candidate, best.f, infos[i])

    def _raise_failed(self, result: GenerationResult, row: int) -> None:
        values = self.row_values(result, row)
        candidate = f"candidate {self.space.to_python(values, {})!r}" if values is not None else "a candidate"
        raise ObjectiveError(f"The objective {_problem(result.f[row])} for {candidate} (step "
                             f"{result.first_step + row}). Pass ignore_nans=True to record such candidates as "
                             f"failed and go on.")

    def _columns(self, result: GenerationResult, rows: np.ndarray) -> Generation:
        """The history's columnar candidates of `rows`: full values where kept and the budget allows, else
        summaries."""
        sizes = [self.space.leaves[i].encoding.size for i in self.space.array_leaves]
        full = [keep and v is not None for keep, v in zip(self.history.leaf_forms(sizes, len(rows)), result.values)]
        return self._leaves(result, rows, full)

    def _journal_leaves(self, result: GenerationResult) -> Generation:
        """What the journal keeps of the first `count` rows: full values of leaves within `max_array_size`
        elements (where kept), summaries of larger ones (a resumed history then reads as the original did)."""
        full = [self.space.leaves[i].encoding.size <= self.history.max_array_size and v is not None
                for i, v in zip(self.space.array_leaves, result.values)]
        return self._leaves(result, np.arange(result.count), full)

    def _leaves(self, result: GenerationResult, rows: np.ndarray, full: list[bool]) -> Generation:
        summaries = None if all(full) else self._summaries(result)
        leaves = [np.asarray(result.values[j])[rows] if keep else summaries[j][rows] for j, keep in enumerate(full)]
        return Generation(self.space, leaves, full)

    def _summaries(self, result: GenerationResult) -> list[np.ndarray]:
        """(P, 4) summaries of every array leaf of the generation: those the run made, the rest from its
        values (on the device, once)."""
        have = list(result.summaries or [None] * len(result.values))
        if all(s is not None for s in have):
            return have
        if all(v is not None for v in result.values):
            made = self.search.engine.compiled().summarize(tuple(result.values))
            have = [np.asarray(m) if s is None else s for s, m in zip(have, made)]
        else:  # a fused run: the leaves kept in full are small
            have = [_host_summaries(np.asarray(v)) if s is None else s for s, v in zip(have, result.values)]
        result.summaries = have
        return have

    # ---- the end ------------------------------------------------------------------------------------
    def summary(self) -> str:
        rows = [SummaryRow(MODE_NAMES[kind], s.best_f, s.evaluations, s.failed, s.pruned, s.seconds)
                for kind, s in sorted(self.stats.types.items()) if s.evaluations or s.failed or s.pruned]
        return format_summary(rows, self.stats.duplicates, self.state.direction)


def _host_summaries(values: np.ndarray) -> np.ndarray:
    """(P, 4) mean, std, min, max of each row of (P, ...) values, as `generations.summaries` on the device."""
    flat = values.reshape(values.shape[0], -1).astype(np.float32)
    return np.stack([flat.mean(1), flat.std(1), flat.min(1), flat.max(1)], axis=1)


def _problem(value: float) -> str:
    return "returned NaN"  # the only value that fails in JAX modes (infinities are values)


