"""Candidates for a Python objective, one job each: queued guesses first, then draws from the best known.

With one candidate evaluated at a time, candidates are proposed in speculative blocks (one device call for
several steps, each row assuming every earlier row of the block failed); a block is cut at the first
improvement or duplicate, since later rows assumed neither, and before a model candidate, which the core
proposes from a fit of every earlier score; so the sequence of candidates is exactly the one-at-a-time
sequence whatever the block size. With a pool, each freed slot gets one candidate drawn
from the best known then (blocks of one). Scores are told to the core in step order, deferred until the
next draw needs them (`flush`), which lets a block be told in one device call.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import jax
import numpy as np

from ..core.algorithm import Population
from ..evaluators.outcome import Outcome
from .booking import Booking
from .callbacks import CandidateType, ParamInfo
from .candidates import Encoded, apply_overrides, cache_key, fingerprint_keys
from .generations import DUPLICATE_HEAT
from .engine import Engine

#: Speculative block size of the sequential loop: candidates proposed per device call (see block_size).
MIN_BLOCK, MAX_BLOCK = 4, 64
EMPTY = Encoded((), {})
DRAWN = (CandidateType.RANDOM_SEEDING, CandidateType.LOCAL_SAMPLING)  # not a queued guess
NO_PARAMETERS = ("There are no parameters to tune: the space holds no hopper_jax parameter and no guesses are "
                 "queued. Declare parameters, e.g. Search(x=hj.float(0, 1)).")


def block_size(array_elements: int) -> int:
    """Rows per speculative block: 64 for small candidates, fewer (down to 4) as arrays reach 1e6 elements.

    One size per run keeps it to one compilation; large rows get small blocks to stay in cache.
    """
    rows = max(1, 10**6 // max(array_elements, 1))
    return int(min(MAX_BLOCK, max(MIN_BLOCK, 2 ** (rows.bit_length() - 1))))


@dataclasses.dataclass(eq=False)
class Job:
    """One candidate in flight: `payload` goes to the evaluator, `result` (an Outcome) comes back."""

    step: int
    payload: Any  # the candidate as the objective gets it
    info: ParamInfo
    encoded: Encoded
    values: tuple  # decoded array leaves (host)
    key: int  # duplicate-cache key
    population: Population | None  # its own one-row population to tell (guesses, Python-side parameters)
    block: _Block | None = None  # else its row of this block
    row: int = 0
    result: Outcome | None = None


@dataclasses.dataclass(eq=False)
class _Block:
    """Speculative proposals handed out row by row; told rows are told together at the next flush."""

    population: Population
    host: tuple  # (values, fingerprints, local, temperature, actions, encoded or None) on the host
    candidates: np.ndarray  # (rows,) bool: model candidates (the core's `model_candidates`)
    next_row: int = 0
    stale: bool = False  # an improvement or a duplicate: later rows assumed neither
    told: np.ndarray | None = None
    scores: np.ndarray | None = None

    @property
    def used_up(self) -> bool:
        """Nothing left to hand out: cut, exhausted, or the next row is a model candidate, before which the core
        fits its model to every earlier score (so it opens a block of its own)."""
        row = self.next_row
        if self.stale or row >= self.host[2].shape[0]:
            return True
        return row > 0 and bool(self.candidates[row])


class PythonSource:
    """Draws, admits (duplicates, budget steps) and tells the candidates of a Python-objective run."""

    def __init__(self, engine: Engine, booking: Booking, budget: Any, capacity: int, use_cache: bool,
                 replay: Any):
        self.engine, self.state, self.booking, self.budget = engine, engine.state, booking, budget
        self.space = engine.space
        self.use_cache, self.replay = use_cache, replay
        self.rows = block_size(self.space.array_size) if capacity == 1 else 1
        self._block: _Block | None = None
        self._tells: list = []  # in step order: blocks with told rows, or (one-row population, score)

    # ---- drawing --------------------------------------------------------------------------------------
    def next_job(self, window: Any) -> Job | None:
        """The next candidate, or None when the step went to a duplicate."""
        state = self.state
        if not state.queue and self.space.size == 0:
            raise ValueError(NO_PARAMETERS)
        if state.queue:
            return self._queued(window)
        if self._block is None or self._block.used_up:
            self.flush()
            self._block = self._propose(self.rows)
        block, row = self._block, self._block.next_row
        block.next_row += 1
        values, fingerprints, local, temperature, _, _ = block.host
        kind = CandidateType.LOCAL_SAMPLING if local[row] else CandidateType.RANDOM_SEEDING
        if self.space.host_driven:
            population, encoded, row_values, fingerprint = self.engine.host_driven_row(block.population,
                                                                                       block.host, row)
            return self._admit(kind, encoded, row_values, fingerprint, float(temperature[row]), window, population)
        row_values = tuple([v[row] for v in values])
        return self._admit(kind, EMPTY, row_values, fingerprints[row], float(temperature[row]), window, None,
                           block, row)

    def _queued(self, window: Any) -> Job | None:
        state = self.state
        if self._block is not None:
            self._block.stale = True  # its later rows would be told before this guess
        kind = CandidateType.INIT if state.initial_pending else CandidateType.MANUALLY_ADDED
        encoded = state.queue.pop(0)
        if encoded is state.initial:
            state.initial = None
        population, values, fingerprint = self.engine.queued_row(encoded)
        return self._admit(kind, encoded, values, fingerprint, None, window, population)

    def _propose(self, size: int) -> _Block:
        budget = self.budget
        heat = np.where(np.arange(size) == 0, self.booking.stats.heat, 1.0)  # a duplicate's heat lasts one draw
        population, values, fingerprints, candidates = self.engine.propose(
            size, budget.progress(size), heat, budget.explore(size), sequential=True)
        host = jax.device_get((values, fingerprints, population.local, population.temperature, population.actions,
                               self.engine.compiled().encode(population) if self.space.host_driven else None,
                               candidates))
        return _Block(population, (host[0], fingerprint_keys(host[1]), *host[2:6]), host[6])

    def _admit(self, kind, encoded: Encoded, values, fingerprint, temperature, window, population,
               block: _Block | None = None, row: int = 0) -> Job | None:
        """Count one step for a drawn candidate; its job, or None for a duplicate."""
        state, budget = self.state, self.budget
        if encoded is EMPTY:  # a drawn row without Python-side values: the fingerprint is the key
            key, candidate = fingerprint, self.space.to_python(values, {})
        else:
            key = cache_key(fingerprint, encoded.objects, encoded.overrides)
            candidate = apply_overrides(self.space.to_python(values, encoded.objects), encoded.overrides)
        info = ParamInfo(kind, time.time(), temperature=temperature, step=state.steps_done)
        budget.step += 1
        state.steps_done += 1
        if self.use_cache and (key in state.seen or (window and any(job.key == key for job in window))):
            stats = self.booking.stats
            stats.heat = min(stats.heat * DUPLICATE_HEAT, 1e6)
            if block is not None:
                block.stale = True  # the next candidate is drawn hotter
            self.booking.duplicate(candidate, info)
            return None
        self.booking.stats.heat = 1.0
        self.booking.callbacks.on_evaluate_start(candidate, info)
        job = Job(info.step, candidate, info, encoded, values, key, population, block, row)
        job.result = self.replay.outcome(info, key) if self.replay else None
        return job

    # ---- outcomes ---------------------------------------------------------------------------------------
    def complete(self, job: Job) -> None:
        """Book a finished job and queue its score for the core."""
        self.budget.record_seconds(job.result.seconds)
        score, improved = self.booking.record(job.payload, job.encoded.objects, job.result, job.info, job.key,
                                              job.values)
        if job.population is not None:
            self._tells.append((job.population, score, job.info.type in DRAWN))
        else:
            block = job.block
            if block.told is None:
                rows = block.host[2].shape[0]
                block.told, block.scores = np.zeros(rows, bool), np.full(rows, -np.inf, self.engine.space.score_dtype)
                self._tells.append(block)
            block.told[job.row], block.scores[job.row] = True, score
        if improved and job.block is not None:
            job.block.stale = True  # later rows of the block assumed a failure

    def flush(self) -> None:
        """Tell the core every booked score, in step order (one device call per block)."""
        drawn = False
        for entry in self._tells:
            if isinstance(entry, _Block):
                population = entry.population._replace(local=entry.host[2] & entry.told)
                self.engine.tell(population, np.where(entry.told, entry.scores, -np.inf), sequential=True)
                entry.told = entry.scores = None  # rows booked later are told at a later flush
                drawn = True
            else:
                population, score, drawn_row = entry
                self.engine.tell(population, np.asarray([score]), sequential=True)
                drawn |= drawn_row
        if drawn:  # proposing and telling drawn candidates are compiled: the search runs at its speed from now
            self.budget.mark_warm()
        self._tells = []

    def pending(self, window: Any) -> list[Job]:
        """Drawn candidates not yet told (a pool's window): a snapshot keeps them to evaluate on resume."""
        return list(window)

    def can_snapshot(self, window: Any) -> bool:
        return True  # pending candidates are kept in the snapshot

    def rewind(self, window: Any) -> int:
        return 0  # pending candidates are kept, not drawn again

    def finish(self) -> None:
        self.flush()

    def resumed_jobs(self, entries: list) -> list[Job]:
        """Jobs for a snapshot's pending entries (a pool's window when it was saved)."""
        jobs = []
        for step, payload, info, encoded, values, key, population in entries:
            job = Job(step, payload, info, encoded, values, key, population)
            job.result = self.replay.outcome(info, key) if self.replay else None
            jobs.append(job)
        return jobs
