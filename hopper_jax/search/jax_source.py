"""Generations for a JAX objective: proposed, freed of duplicates, evaluated and told on the device.

A job is a chunk of generations of P rows. The host sends only the plan (progress and phase flags, P numbers
a generation) and receives only what it books: fingerprints, objective values, phase flags and
temperatures (P numbers each), and decoded values only where the history keeps them or a callback asks for
them. Two chunks are in flight at a time, so the host books one while the device works on the next.

Two ways to run a chunk, chosen by the size of a generation (so a seed always gives the same bits):
- small generations (`FUSED_ELEMENTS`): engine calls (`Compiled.tell_generation` tells the last generation,
  `Compiled.propose_generation` proposes the next and re-draws duplicates) and one evaluator call per
  generation; the engine is compiled quickly and kept on disk, which is what a short run of a small space
  pays for, and its tell compiles in the background while the first generation is evaluated;
- large ones: up to `FUSED_SLOTS` generations — engine step and objective — in one `lax.scan`
  (`generations.fused_generations`), which reuses its buffers from one generation to the next. A chunk
  holds one generation when the host needs each one (a callback that reads values, queued guesses, a
  snapshot due, a journal to replay).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections import OrderedDict
from typing import Any

import jax
import numpy as np

from ..core import seen
from .booking import ROW_HOOKS, Booking, GenerationResult
from .candidates import fingerprint_keys
from .engine import Engine
from .generations import Plan, Told, fused_generations, generation_step

#: Guess slots of a generation when no more than one guess waits (the initial guess, or none).
MIN_GUESS_SLOTS = 1
#: A generation of at least this many array elements (P × candidate size) runs fused, in chunks.
FUSED_ELEMENTS = 2**18
#: Generations one fused call can hold, and the wall seconds a call aims at.
FUSED_SLOTS, CHUNK_SECONDS = 32, 2.0
#: Fused runs book leaves of at most this many elements in full, larger ones as summaries.
FULL_LEAF = 16
#: Hooks whose callbacks need each generation's values on the host.
VALUE_HOOKS = (*ROW_HOOKS, "on_new_best", "on_generation_end")
_fused: OrderedDict[tuple, Any] = OrderedDict()  # jitted fused programs of recent runs


@dataclasses.dataclass(eq=False)
class Job:
    """A chunk of generations in flight; `result` is set when it was dispatched (device arrays)."""

    step: int  # global step of its first row
    generations: list[tuple[int, int, int, bool]]  # (first step, count, guesses, initial) per generation
    started: float
    payload: Any = None  # (values, keys) for the evaluator: one generation outside a fused scan
    population: Any = None  # outside a fused scan: the generation's population, fingerprints, duplicates
    fingerprints: Any = None
    duplicate: Any = None
    records: Any = None  # a fused scan's stacked records
    values: Any = None  # decoded values of the last generation (device), when kept
    winners: list = dataclasses.field(default_factory=list)  # per generation: (device array, index) of the
    # winner, from the call that told it (no eager indexing: that would wait for the device)
    result: Any = None
    replayed: list = dataclasses.field(default_factory=list)  # journal records used, per generation


class JaxSource:
    """Plans, dispatches and books the generations of a JAX-objective run."""

    def __init__(self, engine: Engine, booking: Booking, budget: Any, size: int, evaluator: Any, f_dtype: Any,
                 replay: Any):
        self.engine, self.state, self.booking, self.budget = engine, engine.state, booking, budget
        self.space, self.size, self.evaluator, self.replay = engine.space, size, evaluator, replay
        self.f_dtype = np.dtype(f_dtype)
        self.sign = np.float32(1.0 if self.state.direction == "max" else -1.0)
        self.table = self.state.table = _table_for(self.state, size)
        self.snapshot_due = lambda: False  # set by the driver when it checkpoints
        self.fused = size * self.space.array_size >= FUSED_ELEMENTS
        self._told = nothing_told(engine, size, self.f_dtype, self.sign) if self.fused else None  # the scan's carry
        self.keep_values = booking.callbacks.defines(*VALUE_HOOKS)
        self._untold: Job | None = None  # the last dispatched chunk, its last generation not told yet
        self._seconds = 0.0  # wall time of one generation (running estimate)
        if not self.fused:  # the objective compiles while the engine does (their first calls need both)
            evaluator.compile_ahead(engine.value_shapes(size))
        else:
            self._full = tuple(self.space.leaves[i].encoding.size <= FULL_LEAF for i in self.space.array_leaves)
            self._program = self._fused_program()
            self._no_guesses = jax.device_put(no_guesses(self.space))
            self._last_values = () if not self.keep_values else tuple(
                np.zeros(s.shape, s.dtype) for s in engine.value_shapes(size))

    @property
    def job_seconds(self) -> float:
        return self._seconds

    def can_snapshot(self, window: Any) -> bool:
        """True when the state covers exactly the booked generations plus those of `window` drawn again."""
        return all(len(job.generations) == 1 for job in window)

    # ---- planning -------------------------------------------------------------------------------------
    def _plan(self, guesses: tuple, n_guesses: int, ahead: float = 0.0) -> tuple[Plan, int]:
        """The plan of the next generation (its steps counted now), and its count of budget steps."""
        state, budget, size = self.state, self.budget, self.size
        count = int(min(size, budget.remaining()))
        plan = Plan(np.int32(state.steps_done), np.asarray(budget.progress(size, ahead), np.float32),
                    np.asarray(budget.explore(size, ahead), bool), np.arange(size) < count, guesses,
                    np.int32(n_guesses), np.bool_(True))
        budget.step += count
        state.steps_done += count
        return plan, count

    def _guesses(self, limit: int) -> tuple[tuple, int, bool]:
        """Queued guesses for the next generation, at most `limit`: (encoded (G, ...) per leaf, how many are
        real, initial)."""
        state = self.state
        taken = state.queue[: min(self.size, limit)]
        del state.queue[: len(taken)]
        initial = bool(taken) and taken[0] is state.initial
        if initial:
            state.initial = None
        slots = max(MIN_GUESS_SLOTS, 1 << (len(taken) - 1).bit_length()) if taken else MIN_GUESS_SLOTS
        encoded = []
        for j, z in enumerate(self.space.initial_encoding()):
            rows = [g.encoded[j] for g in taken] + [z] * (slots - len(taken))
            encoded.append(np.stack([np.asarray(r, z.dtype).reshape(z.shape) for r in rows]))
        return tuple(encoded), len(taken), initial

    def next_job(self, window: Any) -> Job:
        return self._next_chunk() if self.fused else self._next_generation()

    # ---- one generation per call ---------------------------------------------------------------------
    def _next_generation(self) -> Job:
        guesses, n_guesses, initial = self._guesses(self.size)
        plan, count = self._plan(guesses, n_guesses)
        job = Job(int(plan.first_step), [(int(plan.first_step), count, n_guesses, initial)], time.perf_counter())
        job.population, values, job.fingerprints, job.duplicate = self._engine(plan, job)
        keys = self.engine.objective_keys(job.step, self.size) if self.evaluator.takes_key else None
        job.payload, job.values = (values, keys), values
        if self.replay and self.replay.waiting(job.step):
            record = self.replay.take(job.step)
            if np.array_equal(record_keys(record), np.asarray(fingerprint_keys(np.asarray(job.fingerprints)))[:count]):
                job.result, job.replayed = self.replay.values(record, self.size).astype(self.f_dtype), [True]
            else:
                self.replay.restore(record)
        return job

    def _engine(self, plan: Plan, job: Job | None):
        """Tell the untold generation (its winner goes to it); then, for a `job`, propose from `plan`."""
        compiled, untold = self.engine.compiled(), self._untold
        if untold is not None:
            self.state.core, self.table, winner = compiled.tell_generation(self.state.core, self.table,
                                                                           self._told_of(untold))
            untold.winners[-1] = (winner, None)
        self._untold = job
        if job is None:
            return None
        job.winners = [None]
        if untold is None:  # a run's first proposal: tell is traced while propose compiles, and compiles while
            # the first generation is evaluated (which needs no tell)
            compiled.propose_generation.compile_ahead(self.engine.key, self.state.core, self.table, plan)
            compiled.tell_generation.compile_ahead(self.state.core, self.table,
                                                   nothing_told(self.engine, self.size, self.f_dtype, self.sign))
        return compiled.propose_generation(self.engine.key, self.state.core, self.table, plan)

    def _told_of(self, job: Job) -> Told:
        f = job.result if isinstance(job.result, jax.Array) else np.asarray(job.result, self.f_dtype)
        return Told(job.population, f, job.duplicate, np.int32(job.generations[0][1]), job.fingerprints, self.sign)

    # ---- many generations per call (fused) -------------------------------------------------------------
    def _fused_program(self):
        key = (id(self.engine.compiled()), self.evaluator.cache_key, self._full, self.keep_values, self.size,
               str(self.f_dtype))
        if None not in key and key in _fused:
            _fused.move_to_end(key)
            return _fused[key]
        step = generation_step(self.engine.algo)
        program = jax.jit(fused_generations(step, self.evaluator.traced, self._full, self.keep_values,
                                            self.evaluator.takes_key, self.f_dtype))
        if None not in key:
            _fused[key] = program
            while len(_fused) > 4:
                _fused.popitem(last=False)
        return program

    def _chunk_length(self) -> int:
        budget = self.budget
        generations = math.ceil(budget.remaining() / self.size) if budget.steps is not None else FUSED_SLOTS
        if self._seconds > 0:
            generations = min(generations, max(1, int(CHUNK_SECONDS / self._seconds)))
            if budget.runtime is not None:
                left = budget.runtime - budget.elapsed - self._seconds  # one chunk may still be in flight
                generations = min(generations, max(1, int(left / self._seconds)))
        if self.state.queue or self.keep_values or self.snapshot_due() or (self.replay and self.replay.waiting(
                self.state.steps_done)):
            generations = 1
        return max(1, min(FUSED_SLOTS, generations))

    def _next_chunk(self) -> Job:
        size, slots = self.size, FUSED_SLOTS
        # one guess a generation: another guess-slot count would compile the whole scan again
        guesses, n_guesses, initial = self._guesses(1) if self.state.queue else (self._no_guesses, 0, False)
        plans, generations, given, given_fp, use_given, records_used = [], [], [], [], [], []
        for index in range(self._chunk_length()):
            if self.budget.done(next_cost=index * self._seconds):
                break
            plan, count = self._plan((), n_guesses if index == 0 else 0, ahead=index * self._seconds)
            first = int(plan.first_step)
            generations.append((first, count, n_guesses if index == 0 else 0, initial and index == 0))
            record = self.replay.take(first) if self.replay and self.replay.waiting(first) else None
            records_used.append(record)
            given.append(np.zeros(size) if record is None else self.replay.values(record, size))
            given_fp.append(np.zeros((size, 2), np.uint32) if record is None else _pairs(record_keys(record), size))
            use_given.append(record is not None)
            plans.append(plan)
        n = len(plans)
        idle = Plan(np.int32(0), np.zeros(size, np.float32), np.zeros(size, bool), np.zeros(size, bool), (),
                    np.int32(0), np.bool_(False))
        plans += [idle] * (slots - n)
        job = Job(generations[0][0], generations, time.perf_counter())
        self._call(jax.tree.map(lambda *x: np.stack(x), *plans), np.arange(slots) < n, guesses, n_guesses,
                   _stacked(given, slots, (size,), self.f_dtype), _stacked(given_fp, slots, (size, 2), np.uint32),
                   np.asarray(use_given + [False] * (slots - n)), job)
        job.replayed = records_used
        return job

    def _call(self, plans, active, guesses, n_guesses, given, given_fp, use_given, job: Job | None) -> None:
        (core, self.table, self._told, values), records = self._program(
            self.engine.key, self.state.core, self.table, self._told, plans, active, guesses, np.int32(n_guesses),
            given, given_fp, use_given, self._last_values)
        self.state.core = core
        if self.keep_values:
            self._last_values = values
        if self._untold is not None:
            self._untold.winners[-1] = (records.winner, 0)
        self._untold = job
        if job is not None:
            n = len(job.generations)
            job.records, job.values, job.result = records, values if self.keep_values else None, records
            job.winners = [(records.winner, i + 1) for i in range(n - 1)] + [None]

    # ---- telling and booking -----------------------------------------------------------------------------
    def _tell_untold(self) -> None:
        """Tell the last dispatched generation now, with no new proposal."""
        if self._untold is None:
            return
        size = self.size
        nothing = np.zeros(size, bool)
        idle = Plan(np.int32(self.state.steps_done), np.zeros(size, np.float32), nothing, nothing, (), np.int32(0),
                    np.bool_(False))
        if not self.fused:
            self._engine(idle, None)
            return
        plans = jax.tree.map(lambda x: np.stack([x] * FUSED_SLOTS), idle)
        self._call(plans, np.arange(FUSED_SLOTS) < 1, self._no_guesses, 0,
                   np.zeros((FUSED_SLOTS, size), self.f_dtype), np.zeros((FUSED_SLOTS, size, 2), np.uint32),
                   np.zeros(FUSED_SLOTS, bool), None)

    def complete(self, job: Job) -> None:
        if job.winners[-1] is None:
            self._tell_untold()
        seconds = time.perf_counter() - job.started
        per_generation = seconds / len(job.generations)
        self._seconds = per_generation if self._seconds == 0 else 0.5 * (self._seconds + per_generation)
        self.budget.record_seconds(per_generation)
        self.budget.mark_warm()  # the first generation's time went mostly into compiling
        for index, result in enumerate(self._results(job, per_generation)):
            if job.replayed and job.replayed[index] is not None and not result.replayed:
                self.replay.restore(job.replayed[index])  # the journal held other candidates for these steps
            self.booking.record_generation(result)

    def _results(self, job: Job, seconds: float) -> list[GenerationResult]:
        """The host's view of each generation of a booked chunk."""
        winners = [int(w) if i is None else int(w[i]) for w, i in jax.device_get(job.winners)]
        if job.records is None:
            host = jax.device_get((job.result, job.fingerprints, job.duplicate, job.population.local,
                                   job.population.temperature))
            first, count, n_guesses, initial = job.generations[0]
            return [GenerationResult(first, count, np.asarray(host[0], np.float64), *map(np.asarray, host[2:5]),
                                     np.asarray(fingerprint_keys(host[1])), n_guesses, initial, winners[0],
                                     job.values, seconds, bool(job.replayed and job.replayed[0]))]
        n = len(job.generations)
        records = jax.tree.map(lambda x: np.asarray(x)[:n], jax.device_get(job.records))
        results = []
        for i, (first, count, n_guesses, initial) in enumerate(job.generations):
            values = job.values if self.keep_values else tuple(
                leaf[i] if full else None for leaf, full in zip(records.leaves, self._full))
            summaries = None if self.keep_values else [None if full else leaf[i]
                                                       for leaf, full in zip(records.leaves, self._full)]
            results.append(GenerationResult(
                first, count, np.asarray(records.values[i], np.float64), records.duplicate[i], records.local[i],
                records.temperature[i], np.asarray(fingerprint_keys(records.fingerprints[i])), n_guesses, initial,
                int(winners[i]), values, seconds, bool(records.replayed[i]), summaries))
        return results

    # ---- checkpoints and the end ----------------------------------------------------------------------
    def flush(self) -> None:
        """Make the state cover every booked generation (a snapshot is taken): the seen table."""
        self.state.table = self.table

    def pending(self, window: Any) -> list:
        return []  # generations in flight are drawn again from the same keys on resume

    def rewind(self, window: Any) -> int:
        """Steps of the generations in `window` (drawn, not booked): a snapshot is taken before them."""
        return sum(count for job in window for _, count, _, _ in job.generations)

    def finish(self) -> None:
        """After the run: tell what is untold and keep the seen table for the next run."""
        self._tell_untold()
        self.flush()


def record_keys(record: dict) -> np.ndarray:
    from ..persistence import unpack

    return unpack(record["keys"])


def _pairs(keys: np.ndarray, size: int) -> np.ndarray:
    """(size, 2) uint32 fingerprints of 64-bit keys (rows past the keys: zeros)."""
    pairs = np.zeros((size, 2), np.uint32)
    keys = np.asarray(keys, np.uint64)
    pairs[: len(keys), 0], pairs[: len(keys), 1] = keys >> np.uint64(32), keys & np.uint64(0xFFFFFFFF)
    return pairs


def _stacked(rows: list[np.ndarray], slots: int, shape: tuple, dtype: Any) -> np.ndarray:
    out = np.zeros((slots, *shape), dtype)
    for i, row in enumerate(rows):
        out[i] = row
    return out


def no_guesses(space: Any) -> tuple:
    """Guess slots holding nothing (n_guesses 0)."""
    return tuple(np.zeros((MIN_GUESS_SLOTS, *z.shape), z.dtype) for z in space.initial_encoding())


def nothing_told(engine: Engine, size: int, f_dtype: Any = np.float32, sign: float = 1.0) -> Told:
    """A `Told` of no rows (the first engine call of a run tells nothing)."""
    one = engine.row_population(engine.space.initial_encoding())
    per_row = ("keys", "sampled", "index", "moved", "local", "actions", "temperature")
    population = one._replace(**{name: jax.tree.map(lambda a: np.repeat(np.asarray(a), size, axis=0),
                                                    getattr(one, name)) for name in per_row})
    return Told(population, np.zeros(size, f_dtype), np.zeros(size, bool), np.int32(0), np.zeros((size, 2), np.uint32),
                np.float32(sign))


def first_call(engine: Engine, size: int) -> tuple:
    """Arguments of a run's first engine call for populations of `size` (benchmarks compile with these)."""
    state = engine.state
    plan = Plan(np.int32(0), np.zeros(size, np.float32), np.ones(size, bool), np.ones(size, bool),
                no_guesses(engine.space), np.int32(0), np.bool_(True))
    return engine.key, state.core, _table_for(state, size), nothing_told(engine, size), plan


def _table_for(state: Any, size: int) -> seen.SeenTable:
    """The seen table for populations of `size`: the state's, or a new one holding the state's keys."""
    capacity = seen.capacity_for(size)
    table = state.table
    if table is not None and table.occupied.shape[0] == capacity:
        table = seen.SeenTable(*map(np.asarray, table))
        held = set(seen.host_keys(table)) if state.seen else set()
        extra = [key for key in state.seen if key not in held]
    else:
        extra = (seen.host_keys(table) if table is not None else []) + list(state.seen)
        table = seen.empty(capacity)
    return seen.insert_host(table, extra)
