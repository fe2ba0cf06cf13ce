"""One call of `Search.run`: the sequential (Python) and generational (JAX) loops and their bookkeeping."""

from __future__ import annotations

import signal
import threading
import time
from collections import defaultdict, deque
from typing import Any

import jax
import numpy as np

from ..core.algorithm import Population
from ..evaluators.outcome import FAILED, OK, PRUNED, Outcome, as_value
from .callbacks import CallbackList, CandidateType, ParamInfo
from .candidates import Encoded, apply_overrides, cache_key, fingerprint_keys
from .checkpointing import journal_record, replay_outcome, restore_record, snapshot
from .report import SummaryRow, format_summary

#: Temperature multiplier after each consecutive duplicate (PyHopper's intent, min(·, 1) after scaling).
DUPLICATE_HEAT = 1.5
#: Speculative block size of the sequential loop: candidates proposed per device call (see block_size).
MIN_BLOCK, MAX_BLOCK = 4, 64
EMPTY = Encoded((), {})
#: JAX mode: how often duplicate rows of a generation are re-drawn (hotter) before they are skipped.
DUPLICATE_RETRIES = 8
MODE_NAMES = {CandidateType.INIT: "Initial solution", CandidateType.MANUALLY_ADDED: "Manually added",
              CandidateType.RANDOM_SEEDING: "Random seeding", CandidateType.LOCAL_SAMPLING: "Local sampling"}


def block_size(array_elements: int) -> int:
    """Rows per speculative block: 64 for small candidates, fewer (down to 4) as arrays reach 1e6 elements.

    One size per run keeps it to one compilation; large rows get small blocks to stay in cache.
    """
    rows = max(1, 10**6 // max(array_elements, 1))
    return int(min(MAX_BLOCK, max(MIN_BLOCK, 2 ** (rows.bit_length() - 1))))


class ObjectiveError(ValueError):
    """The objective returned something unusable (NaN, inf, None, an array, …)."""


class Run:
    """The state of one `run` call; `Search` keeps everything that outlives it."""

    def __init__(self, search: Any, budget: Any, callbacks: Any, quiet: bool, ignore_nans: bool,
                 use_cache: bool, keep_history: bool):
        self.search, self.budget = search, budget
        self.callbacks = CallbackList(callbacks)
        self.quiet, self.ignore_nans = quiet, ignore_nans
        self.use_cache, self.keep_history = use_cache, keep_history
        self.stats: dict[CandidateType, dict[str, Any]] = defaultdict(
            lambda: {"evaluations": 0, "failed": 0, "pruned": 0, "best_f": None, "seconds": 0.0})
        self.duplicates, self.heat, self.stop_requested = 0, 1.0, False
        self.progress = None
        self.store, self.checkpoint_interval = None, 60.0  # set by Search.run when checkpointing
        self.replay: dict[int, list[dict]] = {}  # journal records of an interrupted run, by step
        self.pending: list = []  # a resumed pool run: candidates drawn but not told when it was saved
        self.pruner = None
        self.objective_keys = None  # JAX mode, a key-taking objective: (first_step, size) → (size,) keys
        self._journal: list[dict] = []  # records waiting for the next journal append
        self._last_checkpoint = time.monotonic()
        space, history = search._space, search._history
        self._slim = space.host_driven or any(space.leaves[i].encoding.size > history.max_array_size
                                              for i in space.array_leaves)

    # ---- shared bookkeeping ---------------------------------------------------------------------------
    def record(self, candidate: Any, encoded: Encoded, outcome: Outcome, info: ParamInfo,
               values: tuple | None = None) -> float:
        """Book one evaluation; return its internal score (maximised; -inf unless usable)."""
        search = self.search
        info.finished_at = info.finished_at or time.time()
        stats = self.stats[info.type]
        stats["seconds"] += outcome.seconds
        if self.pruner is not None and outcome.status != FAILED:
            self.pruner.append(list(outcome.partial), outcome.status == PRUNED)
        if outcome.status == FAILED:
            self._fail(candidate, outcome, info)
            stats["failed"] += 1
            return -np.inf
        if outcome.status == PRUNED:
            info.is_pruned = True
            stats["pruned"] += 1
            self.callbacks.on_evaluate_pruned(candidate, info)
            self._log(candidate, None, info, outcome)
            return -np.inf
        f = outcome.value
        stats["evaluations"] += 1
        better = max if search._direction == "max" else min
        stats["best_f"] = f if stats["best_f"] is None else better(stats["best_f"], f)
        self.callbacks.on_evaluate_end(candidate, f, info)
        self._log(candidate, f, info, outcome)
        if search._best_f is None or better(f, search._best_f) != search._best_f:
            search._set_best(candidate, f, encoded, values)
            self.callbacks.on_new_best(candidate, f, info)
        if self.progress is not None:
            self.progress.set_description(f"Best f: {search._best_f:0.3g}", refresh=False)
        return f if search._direction == "max" else -f

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
        self._log(candidate, None, info, outcome)

    def _log(self, candidate: Any, f: float | None, info: ParamInfo, outcome: Outcome) -> None:
        history = self.search._history
        if self.keep_history:
            history.append(candidate, f, info, outcome.status, self._slim, duration=outcome.seconds)
        if self.store is not None and not getattr(outcome, "replayed", False):
            self._journal.append(journal_record(candidate, f, info, outcome, self._last_key,
                                                info.finished_at - history.start_time, self.budget.elapsed,
                                                history.max_array_size))
        if self.use_cache:
            self.search._cache[self._last_key] = f
        if self.progress is not None:
            self.progress.update(1 if self.budget.steps is not None else 0)

    def duplicate(self, candidate: Any, info: ParamInfo) -> None:
        self.duplicates += 1
        self.heat = min(self.heat * DUPLICATE_HEAT, 1e6)
        self.callbacks.on_duplicate_sampled(candidate, info)
        if self.progress is not None and self.budget.steps is not None:
            self.progress.update(1)

    def summary(self) -> str:
        rows = [SummaryRow(MODE_NAMES[t], s["best_f"], s["evaluations"], s["failed"], s["pruned"], s["seconds"])
                for t, s in sorted(self.stats.items()) if s["evaluations"] or s["failed"] or s["pruned"]]
        return format_summary(rows, self.duplicates, self.search._direction)

    # ---- checkpoints and replay --------------------------------------------------------------------
    def replayed(self, info: ParamInfo, key: int) -> Outcome | None:
        """The journal's outcome of step `info.step` if it evaluated this very candidate (a resumed run)."""
        return replay_outcome(self.search, self.replay, info, key) if self.replay else None

    def flush_journal(self) -> None:
        if self._journal:
            self.store.journal.append(self._journal)
            self._journal = []

    def checkpoint(self, pending: list = (), finished: bool = False, force: bool = True) -> None:
        """Snapshot the search now (journal first); `pending`: drawn candidates not yet told."""
        if self.store is None:
            return
        self.flush_journal()
        if not force and time.monotonic() - self._last_checkpoint < self.checkpoint_interval:
            return
        self.store.journal.sync()  # the snapshot must never be ahead of what the journal holds on disk
        tree, meta = snapshot(self.search, self, finished, pending)
        self.store.save(meta["step"], tree, meta)
        self._last_checkpoint = time.monotonic()

    def finish(self) -> None:
        """After the loop: restore journal records never reached, then the final snapshot."""
        for step in sorted(self.replay):
            for record in self.replay.pop(step):
                restore_record(self.search, record)
        self.checkpoint(finished=self.budget.done() and not self.stop_requested)

    def pruner_state(self) -> dict | None:
        return None if self.pruner is None else self.pruner.state_dict()

    def load_pruner_state(self, state: dict | None) -> None:
        if self.pruner is not None and state is not None:
            self.pruner.load_state_dict(state)

    # ---- Ctrl+C ------------------------------------------------------------------------------------
    def install_interrupt_handler(self):
        if threading.current_thread() is not threading.main_thread():
            return None

        def handler(signum, frame):
            if self.stop_requested:
                raise KeyboardInterrupt
            self.stop_requested = True
            if not self.quiet:
                print("\nCtrl+C: finishing the current evaluation, then returning the best (again to abort).")

        return signal.signal(signal.SIGINT, handler)

    # ---- the sequential loop (Python objectives) ------------------------------------------------------
    def sequential(self, evaluate) -> None:
        """One candidate at a time, each from the best known when it is drawn (PyHopper's loop).

        Candidates are proposed in speculative blocks (one device call for several steps); a block is
        cut at the first improvement or duplicate, since later rows assumed neither, so the sequence of
        candidates is exactly the one-at-a-time sequence whatever the block size.
        """
        search, budget = self.search, self.budget
        block = block_size(search._space.array_size)
        while not budget.done() and not self.stop_requested:
            if not search._queue and search._space.size == 0:
                raise ValueError("There are no parameters to tune: the space holds no hopper_jax parameter "
                                 "and no guesses are queued. Declare parameters, e.g. Search(x=hj.float(0, 1)).")
            if search._queue:
                kind, population, encoded, values, fingerprint = self.pop_queued()
                score = self.step_one(evaluate, kind, encoded, values, fingerprint, None)
                if score is not None:
                    search._tell_population(population, np.asarray([score]), sequential=True)
            else:
                self.step_block(evaluate, block)
            self.checkpoint(force=False)

    def pop_queued(self):
        """The next queued guess: (type, one-row population, Encoded, values, fingerprint)."""
        search = self.search
        kind = CandidateType.INIT if search._queue[0] is search._initial_guess else CandidateType.MANUALLY_ADDED
        return (kind,) + search._queued_row(search._queue.pop(0))

    def step_block(self, evaluate, size: int) -> int:
        """Evaluate rows of one speculative block until it is used up or cut; return rows consumed."""
        search, budget = self.search, self.budget
        population, host = search._proposed_block(size, budget.progress(size), self.heat, budget.explore(size))
        values, fingerprints, local, temperature, _ = host
        keys, rows = fingerprint_keys(fingerprints), list(zip(*values))
        local_flags, temperatures = local.tolist(), temperature.tolist()
        scores, told = np.full(size, -np.inf), np.zeros(size, bool)
        consumed = 0
        for i in range(size):
            if budget.done() or self.stop_requested:
                break
            kind = CandidateType.LOCAL_SAMPLING if local_flags[i] else CandidateType.RANDOM_SEEDING
            if search._space.host_driven:
                row, encoded, row_values, fingerprint = search._host_driven_row(population, host, i)
            else:
                row, encoded, row_values, fingerprint = None, EMPTY, rows[i] if rows else (), keys[i]
            best_before = search._best_f
            consumed += 1
            score = self.step_one(evaluate, kind, encoded, row_values, fingerprint, temperatures[i])
            if score is None:  # a duplicate: the next candidate is drawn hotter, so the rest is stale
                break
            if row is not None:  # Python-side parameters: tell this row on its own
                search._tell_population(row, np.asarray([score]), sequential=True)
            else:
                scores[i], told[i] = score, True
            if search._best_f is not best_before:
                break
        if told.any():
            search._tell_population(population._replace(local=local & told), np.where(told, scores, -np.inf),
                                    sequential=True)
        return consumed

    def admit(self, kind, encoded: Encoded, values, fingerprint, temperature, in_flight=()):
        """Count one step for a drawn candidate; (candidate, info, cache key), or None for a duplicate."""
        search, budget = self.search, self.budget
        key = cache_key(fingerprint, encoded.objects, encoded.overrides)
        candidate = apply_overrides(search._space.to_python(values, encoded.objects), encoded.overrides)
        info = ParamInfo(kind, time.time(), temperature=temperature, step=search._steps_done)
        budget.step += 1
        search._steps_done += 1
        if self.use_cache and (key in search._cache or key in in_flight):
            self.duplicate(candidate, info)
            return None
        self.heat = 1.0
        self.callbacks.on_evaluate_start(candidate, info)
        return candidate, info, key

    def step_one(self, evaluate, kind, encoded: Encoded, values, fingerprint, temperature) -> float | None:
        """Evaluate one candidate (or skip it as a duplicate: None); return its internal score."""
        admitted = self.admit(kind, encoded, values, fingerprint, temperature)
        if admitted is None:
            return None
        candidate, info, self._last_key = admitted
        outcome = self.replayed(info, self._last_key) or evaluate(candidate)
        self.budget.record_seconds(outcome.seconds)
        score = self.record(candidate, encoded, outcome, info, values)
        if self.store is not None:
            self.flush_journal()
        return score

    # ---- the asynchronous loop (a pool of workers) -------------------------------------------------
    def parallel(self, pool) -> None:
        """Steady state over a pool: each freed slot gets a candidate drawn from the best known then.

        Outcomes are told in step order, and a candidate is drawn only once the one `capacity` steps
        before it has been told, so the search is the same whatever the timing of the workers (and an
        interrupted run resumes exactly); the price is that a slow candidate holds back later draws.
        First Ctrl+C: nothing new is submitted, running candidates finish, the best is returned. A second
        Ctrl+C (or any error) terminates the workers; none outlives the run.
        """
        search, budget = self.search, self.budget
        window: deque[list] = deque()  # [step, entry, outcome or None], in step order
        tickets: dict[int, list] = {}

        def add(entry) -> None:
            slot = [entry[3].step, entry, self.replayed(entry[3], entry[5])]
            window.append(slot)
            if slot[2] is None:
                tickets[slot[0]] = slot
                pool.submit(slot[0], entry[0], self.pruner)

        for entry in self.pending:  # a resumed run: what was in flight when it was saved
            add(entry)
        while True:
            while not self.stop_requested and not budget.done() and len(window) < pool.capacity:
                if not search._queue and search._space.size == 0:
                    raise ValueError("There are no parameters to tune: the space holds no hopper_jax parameter "
                                     "and no guesses are queued. Declare parameters, e.g. Search(x=hj.float(0, 1)).")
                entry = self.next_candidate({slot[1][5] for slot in window})
                if entry is not None:
                    add(entry)
            if not window:
                return
            if window[0][2] is None:
                for ticket, outcome in pool.wait(timeout=0.5):
                    tickets.pop(ticket)[2] = outcome
            if window[0][2] is not None:  # tell the head, then refill before telling the next one
                step, (candidate, encoded, values, info, population, key), outcome = window.popleft()
                budget.record_seconds(outcome.seconds)
                self._last_key = key
                score = self.record(candidate, encoded, outcome, info, values)
                search._tell_population(population, np.asarray([score]), sequential=True)
                self.checkpoint([slot[1] for slot in window], force=False)

    def next_candidate(self, in_flight: set):
        """(candidate, Encoded, values, info, one-row population, cache key), or None for a duplicate."""
        search, budget = self.search, self.budget
        if search._queue:
            kind, population, encoded, values, fingerprint = self.pop_queued()
            temperature = None
        else:
            population, host = search._proposed_block(1, budget.progress(1), self.heat, budget.explore(1))
            kind = CandidateType.LOCAL_SAMPLING if bool(host[2][0]) else CandidateType.RANDOM_SEEDING
            temperature = float(host[3][0])
            if search._space.host_driven:
                population, encoded, values, fingerprint = search._host_driven_row(population, host, 0)
            else:
                encoded, values, fingerprint = EMPTY, tuple(v[0] for v in host[0]), host[1][0]
        admitted = self.admit(kind, encoded, values, fingerprint, temperature, in_flight)
        if admitted is None:
            return None
        candidate, info, key = admitted
        return candidate, encoded, values, info, population, key

    # ---- the generational loop (JAX objectives) -------------------------------------------------------
    def generational(self, evaluate, size: int) -> None:
        search, budget = self.search, self.budget
        while not budget.done(next_cost=budget.candidate_seconds) and not self.stop_requested:
            started = time.perf_counter()
            count = int(min(size, budget.remaining()))
            population, values, rows = self.generation(size)
            temperatures = np.asarray(population.temperature).tolist()
            infos = [ParamInfo(kind, time.time(), temperature=temperatures[i], step=search._steps_done + i)
                     for i, (kind, _, _, _) in enumerate(rows[:count])]
            replayed = [key is not None and self.replayed(info, key) or None
                        for info, (_, _, _, key) in zip(infos, rows)]
            if all(outcome is not None or row[3] is None for outcome, row in zip(replayed, rows)):
                user_values = np.asarray([np.nan if o is None or o.value is None else o.value for o in replayed])
            elif self.objective_keys is not None:
                user_values = evaluate(values, keys=self.objective_keys(search._steps_done, size))
            else:
                user_values = evaluate(values)
            per_candidate = (time.perf_counter() - started) / size
            scores, keep = np.full(size, -np.inf), np.zeros(size, bool)
            for i, info in enumerate(infos):
                kind, encoded, candidate, key = rows[i]
                budget.step += 1
                search._steps_done += 1
                self._last_key = key
                if key is None:  # a duplicate that stayed a duplicate after the retries
                    self.duplicate(candidate, info)
                    continue
                self.callbacks.on_evaluate_start(candidate, info)
                outcome = replayed[i]
                if outcome is None:
                    value, problem = as_value(float(user_values[i]))
                    outcome = Outcome(value, FAILED if problem else OK, problem, None, per_candidate)
                scores[i] = self.record(candidate, encoded, outcome, info)
                keep[i] = True
            local = np.asarray(population.local) & keep
            search._tell_population(population._replace(local=local), np.where(keep, scores, -np.inf))
            budget.record_seconds(time.perf_counter() - started)
            self.callbacks.on_generation_end(search._space.jax_tree(tuple(v[:count] for v in values)),
                                             user_values[:count], infos)
            self.checkpoint(force=False)

    def generation(self, size: int):
        """Propose a population: queued guesses first, duplicates re-drawn hotter, then skipped."""
        search = self.search
        progress, explore = self.budget.progress(size), self.budget.explore(size)
        population, values, fingerprints = search._propose(size, progress, 1.0, explore, search._steps_done)
        population, values, fingerprints = search._inject_queue(population, values, fingerprints)
        n_queued = search._injected
        rows = self._rows(population, values, fingerprints, n_queued)
        for retry in range(1, DUPLICATE_RETRIES + 1):
            duplicated = [i for i, row in enumerate(rows) if row[3] is None]
            if not duplicated:
                break
            heat = DUPLICATE_HEAT ** retry
            hot = search._propose(size, progress, heat, explore, search._steps_done, retry)
            population, values, fingerprints = search._replace_rows(duplicated, (population, values, fingerprints), hot)
            rows = self._rows(population, values, fingerprints, n_queued)
        return population, values, rows

    def _rows(self, population: Population, values, fingerprints, n_queued: int):
        """Per row: (type, Encoded, user dict, cache key or None for a duplicate)."""
        search, seen, rows = self.search, set(), []
        host_values = jax.device_get(values)
        host_fingerprints = np.asarray(fingerprints)
        local = np.asarray(population.local)
        for i in range(host_fingerprints.shape[0]):
            if i < n_queued:
                kind = CandidateType.INIT if search._injected_initial and i == 0 else CandidateType.MANUALLY_ADDED
            else:
                kind = CandidateType.LOCAL_SAMPLING if local[i] else CandidateType.RANDOM_SEEDING
            key = cache_key(host_fingerprints[i], {}, {})
            candidate = search._space.to_python(tuple(v[i] for v in host_values), {})
            duplicate = self.use_cache and (key in seen or key in search._cache)
            seen.add(key)
            rows.append((kind, Encoded((), {}), candidate, None if duplicate else key))
        return rows

