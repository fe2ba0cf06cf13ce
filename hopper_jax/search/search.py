"""`Search`: the stateful shell. It owns a `SearchState` (best, seed, queue, caches) and the history."""

from __future__ import annotations

import inspect
import os
import secrets
import warnings
from typing import Any

import jax
import numpy as np

from ..core import seen
from ..core.algorithm import Schedule
from ..evaluators import MODES, BatchedEvaluator, PythonEvaluator
from ..pruners import check_pruner
from ..space.compile import Space
from . import checkpointing
from .booking import Booking
from .budget import Budget, parse_direction
from .callbacks import CallbackList
from .candidates import cache_key, encode_candidate, merge_dicts, merge_guess
from .driver import Driver
from .engine import Engine
from .history import History
from .jax_source import JaxSource
from .memory import check_generation_fits
from .python_source import PythonSource
from .state import Best, SearchState

BACKENDS = ("auto", "multiprocessing", "ray")


def make_pool(objective, kwargs, n_jobs, backend: str, address: str | None, quiet: bool, pruner: Any,
              timeout: float | None = None, max_tasks_per_worker: int | None = None):
    """The worker pool for `n_jobs` on `backend` (imported lazily: most runs need none)."""
    if backend == "ray":
        if timeout is not None or max_tasks_per_worker is not None:
            raise ValueError("timeout= and max_tasks_per_worker= apply to the local process pool (mp_backend='auto' "
                             "or 'multiprocessing'), not to mp_backend='ray': Ray cannot tell when a queued task "
                             "starts. Drop them, or bound the time inside the objective.")
        from ..evaluators.ray_pool import RayPool

        return RayPool(objective, kwargs or {}, n_jobs, address=address, quiet=quiet, pruner=pruner)
    from ..evaluators.pool import ProcessPool

    return ProcessPool(objective, kwargs or {}, n_jobs, quiet=quiet, pruner=pruner, timeout=timeout,
                       max_tasks_per_worker=max_tasks_per_worker, wait_until_ready=False)


class Search:
    """A search space plus everything learnt about it; `run` optimises an objective over it.

    Example::

        search = hopper_jax.Search(lr=hj.float(1e-5, 1e-1, "0.1g"), layers=hj.int(1, 4), act=hj.choice("relu", "gelu"))
        best = search.run(train_and_validate, "max", steps=100, seed=0)
    """

    def __init__(self, *templates: dict, **parameters: Any):
        self._template = merge_dicts(*templates, parameters)
        self._history = History()
        self._driver: Driver | None = None
        self._compile(SearchState(None, Best()))

    def _compile(self, state: SearchState) -> None:
        """Compile the template into a space and an engine over `state` (whose core state is reset)."""
        self._space = Space(self._template)
        schedule = self.engine.schedule if hasattr(self, "engine") else (1.0, 0.2)
        self.engine = Engine(self._space, state, schedule)
        state.core = self.engine.algo.init()
        state.best = Best(objects=self._space.initial_objects())
        state.score = self._space.score_dtype(-np.inf)
        state.table = None

    # ---- what the search knows ------------------------------------------------------------------------
    @property
    def state(self) -> SearchState:
        """The search state: what a checkpoint saves (see `hopper_jax.search.state`)."""
        return self.engine.state

    @property
    def best(self) -> Any:
        """The best candidate found (before any run: the initial values)."""
        return self.engine.best_candidate()

    @property
    def best_f(self) -> float | None:
        return self.state.best.f

    @property
    def seed(self) -> int | None:
        """The PRNG seed of the last run (drawn when `run` was given none)."""
        return self.state.seed

    @property
    def history(self) -> History:
        return self._history

    @property
    def manual_queue_count(self) -> int:
        return len(self.state.queue)

    @property
    def free_param_count(self) -> int:
        return self._space.size

    @property
    def space(self) -> Space:
        return self._space

    def __setitem__(self, key: str, value: Any) -> None:
        """Replace a top-level entry (a constant freezes it, a declaration makes it searchable).

        Before any evaluation the best takes the new entry's initial value; afterwards the best keeps its
        old value until a better candidate is found, and phase 2 goes on from it.
        """
        state = self.state
        best, old = self.best, (state.best.f, state.score, state.core)
        self._template = {**self._template, key: value}
        self._compile(state)
        state.seen.clear()
        if old[0] is None:
            return
        try:
            moved = encode_candidate(self._space, {**best, key: self.best[key]}, self.engine.encoded_best())
        except (ValueError, KeyError, TypeError):
            moved = None  # the old best does not fit the new space: phase 2 restarts from the initial values
        if moved is not None:
            state.core = state.core._replace(best=tuple(np.asarray(z) for z in moved.encoded),
                                             best_score=old[2].best_score, log_step=old[2].log_step)
            state.score = old[1]
        state.best = Best(old[0], best, {} if moved is None else moved.objects)

    # ---- manual guesses ------------------------------------------------------------------------------
    def enqueue(self, candidate: dict) -> None:
        """Queue a (partial) guess, merged now with the current best; evaluated first in the next run."""
        merged = merge_guess(candidate, self.best, self._template)
        self.state.queue.append(encode_candidate(self._space, merged, self.engine.encoded_best()))

    def __iadd__(self, candidate: dict) -> Search:
        self.enqueue(candidate)
        return self

    # ---- the duplicate cache (PyHopper's forget_cached / clear_cache) ----------------------------------
    def forget_cached(self, candidate: dict) -> None:
        """Let `candidate` (a dict; missing entries come from the best, as for a guess) be evaluated again."""
        merged = merge_guess(candidate, self.best, self._template)
        encoded = encode_candidate(self._space, merged, self.engine.encoded_best())
        _, _, fingerprint = self.engine.queued_row(encoded)
        key = cache_key(np.asarray(fingerprint), encoded.objects, encoded.overrides)
        state = self.state
        state.seen.pop(key, None)
        if state.table is not None:  # JAX mode's device table: rebuilt without the key
            kept = [k for k in seen.host_keys(state.table) if k != key]
            state.table = seen.insert_host(seen.empty(state.table.occupied.shape[0]), kept)

    def clear_cache(self) -> None:
        """Forget every evaluated candidate: any may be evaluated again."""
        self.state.seen.clear()
        self.state.table = None

    # ---- single draws (PyHopper's sample_solution / mutate_from_best) ---------------------------------
    def sample_solution(self) -> Any:
        """One phase-1 candidate (every parameter drawn from its prior), as a dict; nothing is evaluated."""
        return self._draw(explore=True, temperature=1.0)

    def mutate_from_best(self, temperature: float) -> Any:
        """One phase-2 candidate: the best perturbed at `temperature` in [0, 1]; nothing is evaluated."""
        if not 0 <= temperature <= 1:
            raise ValueError(f"temperature must lie in [0, 1], got {temperature!r}")
        return self._draw(explore=False, temperature=temperature)

    def _draw(self, explore: bool, temperature: float) -> Any:
        engine, state = self.engine, self.state
        if engine.key is None:
            engine.seed(secrets.randbits(31) if state.seed is None else state.seed)
        state.draws += 1
        heat = temperature / max(engine.start_temperature, 1e-9)  # progress 0 → T = start temperature · heat
        population, values, fingerprints, _ = engine.propose(1, [0.0], heat, [explore], retry=10**6 + state.draws)
        host = jax.device_get((values, fingerprints, population.local, population.temperature, population.actions,
                               engine.compiled().encode(population) if self._space.host_driven else None))
        if self._space.host_driven:
            _, encoded, row_values, _ = engine.host_driven_row(population, host, 0)
            return self._space.to_python(row_values, encoded.objects)
        return self._space.to_python(tuple(v[0] for v in host[0]), {})

    # ---- run ---------------------------------------------------------------------------------------
    def run(self, objective, direction: str = "maximize", runtime: float | str | None = None,
            steps: int | None = None, endless_mode: bool = False, seeding_steps: int | None = None,
            seeding_runtime: float | str | None = None, seeding_ratio: float = 0.25, pruner: Any = None,
            n_jobs: int | str = 1, quiet: bool = False, ignore_nans: bool = False, mp_backend: str = "auto",
            enable_rejection_cache: bool = True, callbacks: Any = None, start_temperature: float = 1.0,
            end_temperature: float = 0.2, kwargs: dict | None = None, checkpoint_path: str | None = None,
            overwrite_checkpoint: bool = False, keep_history: bool = True, *, seed: int | None = None,
            mode: str = "python", population_size: int = 64, generations: int | None = None,
            ray_address: str | None = None, devices: Any = None, chunk_size: int | None = None,
            checkpoint_interval: float = 60.0, allow_pickle: bool = False, timeout: float | None = None,
            max_tasks_per_worker: int | None = None, temperature_schedule: Schedule | None = None) -> Any:
        """Optimise `objective` over the space and return the best candidate (a dict).

        Args:
          objective: mode='python': `f(candidate, **kwargs) -> number` (or a generator of numbers);
            mode='jax': a JAX function of one candidate dict → scalar, vmapped over each population;
            mode='jax-batched': a JAX function of a population dict (leading axis P) → (P,) values.
          direction: 'max'/'maximize' or 'min'/'minimize'.
          runtime / steps / endless_mode / generations: the budget (give exactly one). `steps` counts
            candidates, duplicates included; `generations` (JAX modes) means generations × population_size.
          seeding_steps / seeding_runtime / seeding_ratio: length of phase 1 (random search).
          start_temperature, end_temperature: the linear temperature schedule over the budget.
          temperature_schedule: replaces the linear schedule: a function of progress (a float32 scalar in
            [0, 1], the share of the budget spent) to the temperature in [0, 1], e.g. any optax schedule with
            one "step" for the whole budget: `optax.cosine_decay_schedule(1.0, decay_steps=1, alpha=0.2)`.
          seed: PRNG seed; the same seed, space and steps give the same candidates. None draws one
            (kept in `search.seed`).
          ignore_nans: record NaN/None results and exceptions as failed candidates and go on. Infinities are
            values: +inf when minimising (-inf when maximising) is the worst one and is recorded as such.
          quiet: print nothing (no progress bar, no summary).
          n_jobs: Python objectives in parallel worker processes: k, -1 (all cores), "per-gpu" or
            "2x per-gpu" (one or two workers per GPU, each pinned to its GPU for life).
          mp_backend: 'auto'/'multiprocessing' (local spawn pool) or 'ray' (a Ray cluster at `ray_address`,
            or a local one).
          timeout: process pool (n_jobs > 1): seconds one evaluation may run; a longer one is recorded as
            failed ("timed out") and its worker is killed and replaced. None: no limit.
          max_tasks_per_worker: process pool: replace a worker by a fresh process after this many
            evaluations (an objective that leaks memory starts afresh). None: never.
          devices: JAX modes: the devices a population is split over (None: jax.local_devices(); in a
            multi-host run pass jax.devices(), see docs/multi_host.md).
          chunk_size: JAX modes: evaluate this many rows at a time (for populations too large for memory).
          keep_history: False: this run adds nothing to `search.history` (memory stays flat).
          checkpoint_path: a directory. Every evaluation (a JAX generation: one compact record) is appended to
            its journal as it finishes (safe from a kill at once, fsync'd to disk within a second) and the
            state is snapshotted with Orbax every `checkpoint_interval` seconds and at the end. If it holds a
            checkpoint, the run resumes from it and uses up what is left of its budget (a finished run
            has nothing left: `run` returns its best; give a larger budget to go on), with the saved
            seed; `overwrite_checkpoint=True` starts afresh. One process writes a checkpoint at a time (a
            second one fails at once, naming the first). Checkpoints hold data only; `allow_pickle=True`
            lets them store (and read back) values that need pickling, e.g. `custom()` objects — reading
            runs code from the files, so use it only with checkpoints you wrote.
        """
        pruner = check_pruner(pruner)
        self._check_run_arguments(pruner, mp_backend, n_jobs, mode, devices, chunk_size)
        check_takes_a_candidate(objective, kwargs, gets_key=mode != "python")
        if (timeout is not None or max_tasks_per_worker is not None) and (mode != "python" or n_jobs == 1):
            raise ValueError("timeout= and max_tasks_per_worker= apply to evaluations in worker processes: pass "
                             "n_jobs >= 2 (mode='python'). An evaluation in this process cannot be stopped safely.")
        state = self.state
        direction = parse_direction(direction)
        if state.direction is not None and state.best.f is not None and direction != state.direction:
            raise ValueError(f"This search already maximises/minimises ('{state.direction}'); a later run cannot "
                             f"switch to '{direction}'. Create a new Search.")
        state.direction = self._history.direction = direction
        if pruner is not None:
            pruner.direction = direction
        size = 1 if mode == "python" else int(population_size)
        if size < 1:
            raise ValueError(f"population_size must be >= 1, got {population_size!r}")
        if generations is not None:
            if mode == "python" or steps is not None:
                raise ValueError("generations= is a JAX-mode budget and replaces steps=; give one of them.")
            steps = int(generations) * size
        budget = Budget(steps, runtime, endless_mode, seeding_steps, seeding_runtime, seeding_ratio)
        self.engine.seed(secrets.randbits(31) if seed is None else _checked_seed(seed))
        store, resuming = None, False
        if checkpoint_path is not None:
            store, resuming = checkpointing.open_store(self, checkpoint_path, overwrite_checkpoint, mode, size, seed,
                                                        allow_pickle)
        try:  # whatever fails before the driver owns the store must not leave it locked
            budget.seed = state.seed
            self.engine.reschedule(_temperature(temperature_schedule, start_temperature, end_temperature))
            if state.best.f is None and not state.queue and not len(self._history.records):
                state.initial = self.engine.encoded_best()
                state.initial.overrides = dict(self._space.initial_overrides)  # inits outside: as given
                state.queue.insert(0, state.initial)
            booking = Booking(self, state, self._history, CallbackList(callbacks), ignore_nans=ignore_nans,
                              keep_history=keep_history, use_cache=enable_rejection_cache, pruner=pruner,
                              journal=None if store is None else store.codec)
            replay, pending = (checkpointing.resume(self.engine, self._history, store, booking, budget) if resuming
                               else (None, []))
            booking.elapsed = lambda: budget.elapsed
            if resuming and not quiet:
                print(f"Restored search from checkpoint '{store.path}' ({len(self._history.records)} evaluations, "
                      f"best f {state.best.f})", flush=True)
            if mode == "python":
                _warn_if_large(self._space)
                if n_jobs != 1 or mp_backend == "ray":
                    evaluator = make_pool(objective, kwargs, n_jobs, mp_backend, ray_address, quiet, pruner, timeout,
                                          max_tasks_per_worker)
                else:
                    evaluator = PythonEvaluator(objective, kwargs, pruner=pruner)
                source = PythonSource(self.engine, booking, budget, evaluator.capacity, enable_rejection_cache, replay)
            else:
                evaluator = BatchedEvaluator(objective, self._space, mode, kwargs, devices=devices,
                                             chunk_size=chunk_size)
                check_generation_fits(size, self.engine.value_shapes(size), evaluator.devices[0])
                result = evaluator.check(self.engine.value_shapes(size))
                source = JaxSource(self.engine, booking, budget, size, evaluator, result.dtype, replay)
            driver = Driver(self, source, evaluator, booking, budget, quiet=quiet, store=store,
                            checkpoint_interval=checkpoint_interval, generational=mode != "python")
            if pending:
                driver.pending = source.resumed_jobs(pending)
            if store is not None and not resuming:
                checkpointing.start_journal(self, store)
                driver.snapshot_now()
        except BaseException:
            if store is not None:
                store.close()
            raise
        self._driver = driver
        booked = len(self._history.records)
        try:
            driver.run()
        finally:
            self._driver = None
        if len(self._history.records) == booked and not driver.stop_requested and budget.runtime is not None:
            warnings.warn(f"hopper_jax: the run made no evaluation: its runtime budget ({budget.describe()}) was "
                          f"used up by start-up ({budget.elapsed:.1f} s: compiling, starting workers) before the "
                          f"first evaluation finished. Give it more time.", UserWarning, stacklevel=2)
        return self.best

    @staticmethod
    def _check_run_arguments(pruner, mp_backend, n_jobs, mode, devices, chunk_size) -> None:
        if pruner is not None and mode != "python":
            raise ValueError("pruner= needs a Python objective (mode='python') that reports estimates with "
                             "hj.should_prune(x) or by yielding them; a JAX objective reports none.")
        if mp_backend not in BACKENDS:
            raise ValueError(f"Unknown mp_backend {mp_backend!r}: use one of {BACKENDS} ('auto' is a local "
                             f"process pool; 'ray' runs on a Ray cluster, see ray_address=).")
        if n_jobs != 1 and mode != "python":
            raise ValueError("n_jobs is for Python objectives (mode='python'); a JAX objective is already "
                             "evaluated a population at a time, across all local devices.")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if mode == "python" and (devices is not None or chunk_size is not None):
            raise ValueError("devices= and chunk_size= place a JAX objective's population on devices; they need "
                             "mode='jax' or mode='jax-batched' (for Python objectives use n_jobs=).")

    def stop(self) -> None:
        """Ask a running search to stop, e.g. from a callback once a target is reached: nothing new is drawn,
        candidates being evaluated finish, and `run` returns the best as usual (like a first Ctrl+C)."""
        if self._driver is not None:
            self._driver.stop_requested = True

    # ---- checkpoints (see checkpointing.py) -----------------------------------------------------------
    def save(self, path: str | os.PathLike, pruner: Any = None, allow_pickle: bool = False) -> str:
        """Write a checkpoint of this search (state, best, history, cache) to directory `path`; returns where.

        As in PyHopper, an existing folder that is not a checkpoint gets `pyhopper_run_<i:05d>.ckpt` inside it.
        `pruner`: its state is saved too. `allow_pickle`: also store values that need pickling (see `run`)."""
        booking = Booking(self, self.state, self._history, CallbackList(None), ignore_nans=False,
                          keep_history=True, use_cache=True, pruner=check_pruner(pruner))
        return checkpointing.save_search(self, path, booking, Budget(steps=1), allow_pickle)

    def load(self, path: str | os.PathLike, pruner: Any = None, allow_pickle: bool = False) -> Search:
        """Restore a checkpoint written by `save` or by `run(checkpoint_path=...)` into this search.

        `pruner`: gets the saved pruner's state. `allow_pickle`: read pickled values too (only from checkpoints
        you wrote: it runs their code)."""
        checkpointing.load_search(self, path, allow_pickle, check_pruner(pruner))
        return self


#: Python mode warns above this many array elements per candidate (each one is copied to the host as numpy).
LARGE_PYTHON_CANDIDATE = 10_000_000


def _warn_if_large(space: Space) -> None:
    if space.array_size > LARGE_PYTHON_CANDIDATE:
        warnings.warn(f"hopper_jax: a candidate holds {space.array_size:,} array elements; in mode='python' every "
                      f"candidate is copied to the host as numpy arrays, which takes seconds per step at this size. "
                      f"Write the objective in JAX and pass mode='jax' to keep populations on the device.",
                      UserWarning, stacklevel=3)


def _temperature(schedule: Schedule | None, start: float, end: float) -> tuple[float, float] | Schedule:
    """The engine's schedule from run()'s arguments: `schedule` when given, else the linear (start, end)."""
    if schedule is None:
        return float(start), float(end)
    if not callable(schedule):
        raise TypeError(f"temperature_schedule must be a function of progress in [0, 1] (e.g. an optax schedule), "
                        f"got {type(schedule).__name__}")
    if (start, end) != (1.0, 0.2):
        raise ValueError("temperature_schedule= replaces start_temperature= and end_temperature=; give one or the "
                         "other (e.g. optax.linear_schedule(start, end, transition_steps=1) for the linear one).")
    return schedule


def _checked_seed(seed: Any) -> int:
    """`seed` as an int, or a ValueError that says what a seed is."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        if isinstance(seed, str) and seed.strip().lstrip("-").isdigit():
            return int(seed)
        raise ValueError(f"seed={seed!r} is not an integer: pass e.g. seed=0 (or seed=None to draw one).")
    return int(seed)


def check_takes_a_candidate(objective: Any, kwargs: dict | None = None, gets_key: bool = False) -> None:
    """A ValueError when `objective` cannot be called as `objective(candidate, **kwargs)` (plus `key=` where
    `gets_key`: a JAX objective with a `key` parameter gets one per candidate)."""
    try:
        signature = inspect.signature(objective)
    except (TypeError, ValueError):  # builtins without a signature, and non-callables (refused later)
        return
    extra = dict(kwargs or {})
    if gets_key and "key" in signature.parameters and "key" not in extra:
        extra["key"] = None
    try:
        signature.bind(None, **extra)
    except TypeError as error:
        name = getattr(objective, "__name__", type(objective).__name__)
        raise ValueError(f"The objective {name}{signature} cannot be called with a candidate ({error}): it must "
                         f"take the candidate dict as its first argument, e.g. def {name}(params): ..., and "
                         f"get any other argument from run(..., kwargs={{...}}).") from None
