"""`Search`: the stateful shell. It owns the best, the history, the guess queue and the duplicate cache."""

from __future__ import annotations

import os
import secrets
import signal
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from ..core.algorithm import Population, hopper, where_rows
from ..evaluators import MODES, BatchedEvaluator, PythonEvaluator
from ..pruners import check_pruner
from ..space.compile import Space, python_value
from .budget import Budget, parse_direction
from .candidates import Encoded, encode_candidate, host_parameters, merge_dicts, merge_guess
from .checkpointing import attach, load_search, open_store, save_search
from .compiled import Compiled, compiled, seed_key
from .history import History
from .run import Run

BACKENDS = ("auto", "multiprocessing", "ray")


def make_pool(objective, kwargs, n_jobs, backend: str, address: str | None, quiet: bool):
    """The worker pool for `n_jobs` on `backend` (imported lazily: most runs need none)."""
    if backend == "ray":
        from ..evaluators.ray_pool import RayPool

        return RayPool(objective, kwargs or {}, n_jobs, address=address, quiet=quiet)
    from ..evaluators.pool import ProcessPool

    return ProcessPool(objective, kwargs or {}, n_jobs, quiet=quiet)


class Search:
    """A search space plus everything learnt about it; `run` optimises an objective over it.

    Example::

        search = hopper_jax.Search(lr=hj.float(1e-5, 1e-1, "0.1g"), layers=hj.int(1, 4), act=hj.choice("relu", "gelu"))
        best = search.run(train_and_validate, "max", steps=100, seed=0)
    """

    def __init__(self, *templates: dict, **parameters: Any):
        self._template = merge_dicts(*templates, parameters)
        self._history = History()
        self._direction: str | None = None
        self._queue: list[Encoded] = []
        self._cache: dict[int, float | None] = {}
        self._steps_done = 0  # candidates drawn over all runs; with the seed, it fixes every PRNG key
        self.seed: int | None = None
        self._key: jax.Array | None = None  # PRNG key of the seed; set by run (or the first draw)
        self._draws = 0  # sample_solution / mutate_from_best calls, each with its own key
        self._compile()

    # ---- space and best ----------------------------------------------------------------------------
    def _compile(self) -> None:
        self._space = Space(self._template)
        self._schedule = (1.0, 0.2)
        self._algo = hopper(self._space)
        self._state = self._algo.init()
        self._best_encoded = Encoded(tuple(self._state.best), self._space.initial_objects())
        # The best's user dict and decoded arrays; None until set or first read (then decoded from the state's
        # best), so that a search which never reads its initial values never compiles a decode for them.
        self._best: Any = None
        self._best_values: tuple | None = None
        self._best_f: float | None = None

    def _set_best(self, candidate: Any, f: float, encoded: Encoded, values: tuple | None = None) -> None:
        """A new best; `values` None: its arrays are decoded from the state's best when read (after tell)."""
        self._best, self._best_f, self._best_values = candidate, f, values
        self._best_encoded = Encoded((), dict(encoded.objects))

    def _decoded_best(self) -> tuple:
        """The best's decoded array values (numpy), decoding the state's best on first need."""
        if self._best_values is None:
            self._best_values = self._decode_row(self._state.best)[0]
        return self._best_values

    @property
    def best(self) -> Any:
        """The best candidate found (before any run: the initial values)."""
        if self._best is None:
            self._best = self._space.to_python(self._decoded_best(), self._best_encoded.objects)
        return self._best

    @property
    def best_f(self) -> float | None:
        return self._best_f

    @property
    def history(self) -> History:
        return self._history

    @property
    def manual_queue_count(self) -> int:
        return len(self._queue)

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
        best, best_f, state = self.best, self._best_f, self._state
        self._template = {**self._template, key: value}
        self._compile()
        self._cache.clear()
        if best_f is None:
            return
        try:
            moved = encode_candidate(self._space, {**best, key: self.best[key]}, self._encoded_start())
            self._state = self._state._replace(best=tuple(jnp.asarray(z) for z in moved.encoded),
                                               best_score=state.best_score, log_step=state.log_step)
            self._best_encoded = Encoded((), moved.objects)
        except (ValueError, KeyError, TypeError):
            pass  # the old best does not fit the new space: phase 2 restarts from the initial values
        self._best, self._best_f = best, best_f

    # ---- manual guesses ------------------------------------------------------------------------------
    def enqueue(self, candidate: dict) -> None:
        """Queue a (partial) guess, merged now with the current best; evaluated first in the next run."""
        merged = merge_guess(candidate, self.best, self._template)
        self._queue.append(encode_candidate(self._space, merged, self._encoded_start()))

    def __iadd__(self, candidate: dict) -> Search:
        self.enqueue(candidate)
        return self

    def _encoded_start(self) -> Encoded:
        return Encoded(tuple(np.asarray(z) for z in self._state.best), dict(self._best_encoded.objects))

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
        if self._key is None:
            self.seed = secrets.randbits(31) if self.seed is None else self.seed
            self._key = seed_key(self.seed)
        self._draws += 1
        heat = temperature / max(self._schedule[0], 1e-9)  # progress 0 → T = start temperature · heat
        population, values, fingerprints = self._propose(1, [0.0], heat, [explore], self._steps_done,
                                                         retry=10**6 + self._draws)
        host = jax.device_get((values, fingerprints, population.local, population.temperature, population.actions))
        if self._space.host_driven:
            _, encoded, row_values, _ = self._host_driven_row(population, host, 0)
            return self._space.to_python(row_values, encoded.objects)
        return self._space.to_python(tuple(v[0] for v in host[0]), {})

    # ---- jitted pieces (shared by searches over equal spaces: see compiled.py) ------------------------
    def _compiled(self) -> Compiled:
        return compiled(self._space, self._algo, self._schedule)

    def _objective_keys(self, first_step: int, size: int) -> jax.Array:
        """(size,) PRNG keys for a key-taking JAX objective: one per step, apart from the proposal keys."""
        return self._compiled().keys(self._key, first_step, np.zeros(size, np.float32))

    def _propose(self, size, progress, heat, explore, first_step, retry=0, sequential=False):
        """(population, values, fingerprints) on the device; host inputs go in as numpy, unconverted."""
        return self._compiled().propose(
            self._key, first_step, retry, self._state, np.asarray(progress, np.float32),
            np.broadcast_to(np.asarray(heat, np.float32), (size,)), np.asarray(explore, bool), np.bool_(sequential))

    def _decode_row(self, encoded: tuple) -> tuple[tuple, np.ndarray]:
        """One candidate's encoded leaves → (decoded values, (2,) fingerprint), on the host."""
        if not encoded:
            return (), np.zeros(2, np.uint32)
        values, fingerprints = jax.device_get(self._compiled().decode(tuple(np.asarray(z)[None] for z in encoded)))
        return tuple(v[0] for v in values), fingerprints[0]

    def _row_population(self, encoded: tuple[np.ndarray, ...]) -> Population:
        """A one-row host population (a guess, or a candidate with Python-side parameters applied)."""
        return Population(tuple(np.asarray(z)[None] for z in encoded), np.zeros(1, bool),
                          np.zeros((1, self._space.size), np.int8), np.zeros(1, np.float32))

    def _proposed_block(self, size: int, progress, heat: float, explore):
        """`size` speculative candidates for the next steps; each row assumes every local row before it failed.

        Returns the device population and host (values, fingerprints, local, temperature, actions).
        """
        heat = np.where(np.arange(size) == 0, heat, 1.0)  # the heat of a duplicate lasts one evaluation
        population, values, fingerprints = self._propose(size, progress, heat, explore, self._steps_done,
                                                         sequential=True)
        host = jax.device_get((values, fingerprints, population.local, population.temperature, population.actions))
        return population, host

    def _host_driven_row(self, population: Population, host, i: int):
        """Row i with Python-side parameters applied: (one-row population, Encoded, values, fingerprint)."""
        _, _, local, temperature, actions = host
        best_values = {leaf: python_value(self._space.leaves[leaf].param, v)
                       for leaf, v in zip(self._space.array_leaves, self._decoded_best())}
        objects, hooked = host_parameters(self._space, actions[i], float(temperature[i]), self._best_encoded,
                                          best_values)
        z = [np.asarray(a[i]) for a in population.encoded]
        for index, value in hooked.items():
            z[self._space.array_leaves.index(index)] = self._space.project_leaf(index, value)
        row = self._row_population(tuple(z))._replace(local=np.asarray([local[i]]), actions=actions[i][None])
        return row, Encoded((), objects), *self._decode_row(tuple(z))

    def _queued_row(self, encoded: Encoded):
        """A queued guess: (population of 1, Encoded, values, fingerprint)."""
        return self._row_population(encoded.encoded), encoded, *self._decode_row(encoded.encoded)

    def _tell_population(self, population: Population, scores: np.ndarray, sequential: bool = False) -> None:
        tell = self._compiled().tell_sequential if sequential else self._compiled().tell
        self._state = tell(self._state, population, np.asarray(scores, np.float32))

    def _inject_queue(self, population: Population, values, fingerprints):
        """Put queued guesses (the initial guess first) into the first rows of a JAX-mode population."""
        size = population.local.shape[0]
        queued, self._queue = self._queue[:size], self._queue[size:]
        self._injected, self._injected_initial = len(queued), bool(queued) and queued[0] is self._initial_guess
        if not queued:
            return population, values, fingerprints
        rows = tuple(np.stack([q.encoded[j] for q in queued]) for j in range(len(population.encoded)))
        encoded, values, fingerprints = self._compiled().inject(population.encoded, values, fingerprints, rows)
        local = np.asarray(population.local).copy()
        local[: len(queued)] = False
        return population._replace(encoded=encoded, local=local), values, fingerprints

    @staticmethod
    def _replace_rows(rows: list[int], current, hot):
        """`current` with rows `rows` taken from `hot` (pytrees of (P, ...) arrays), by a (P,) mask: one
        compiled program per population shape, however many rows are replaced."""
        mask = np.zeros(jax.tree.leaves(current)[0].shape[0], bool)
        mask[rows] = True
        return _take_rows(mask, current, hot)

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
            checkpoint_interval: float = 60.0) -> Any:
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
          seed: PRNG seed; the same seed, space and steps give the same candidates. None draws one
            (kept in `search.seed`).
          ignore_nans: record NaN/inf/None results and exceptions as failed candidates and go on.
          quiet: print nothing (no progress bar, no summary).
          n_jobs: Python objectives in parallel worker processes: k, -1 (all cores), "per-gpu" or
            "2x per-gpu" (one or two workers per GPU, each pinned to its GPU for life).
          mp_backend: 'auto'/'multiprocessing' (local spawn pool) or 'ray' (a Ray cluster at `ray_address`,
            or a local one).
          devices: JAX modes: the devices a population is split over (None: jax.local_devices(); in a
            multi-host run pass jax.devices(), see docs/multi_host.md).
          chunk_size: JAX modes: evaluate this many rows at a time (for populations too large for memory).
          checkpoint_path: a directory. Every evaluation is appended to its journal as it finishes (safe
            from a kill at once, fsync'd to disk within a second) and the state
            is snapshotted with Orbax every `checkpoint_interval` seconds and at the end. If it holds a
            checkpoint, the run resumes from it and uses up what is left of its budget (a finished run
            has nothing left: `run` returns its best; give a larger budget to go on), with the saved
            seed; `overwrite_checkpoint=True` starts afresh.
        """
        pruner = check_pruner(pruner)
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
        direction = parse_direction(direction)
        if self._direction is not None and self._best_f is not None and direction != self._direction:
            raise ValueError(f"This search already maximises/minimises ('{self._direction}'); a later run cannot "
                             f"switch to '{direction}'. Create a new Search.")
        self._direction = self._history.direction = direction
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
        self.seed = secrets.randbits(31) if seed is None else int(seed)
        store, resuming = None, False
        if checkpoint_path is not None:
            store, resuming = open_store(self, checkpoint_path, overwrite_checkpoint, mode, size, seed)
        budget.seed = self.seed
        self._key = seed_key(self.seed)
        schedule = (float(start_temperature), float(end_temperature))
        if schedule != self._schedule:
            self._algo = hopper(self._space, start_temperature=schedule[0], end_temperature=schedule[1])
            self._schedule = schedule
        self._initial_guess = None
        if self._best_f is None and not self._queue and not len(self._history.records):
            self._initial_guess = self._encoded_start()
            self._queue.insert(0, self._initial_guess)
        run = Run(self, budget, callbacks, quiet, ignore_nans, enable_rejection_cache, keep_history)
        run.pruner = pruner
        self._active_run = run
        if store is not None:
            attach(self, run, store, checkpoint_interval, resuming)
        pool = None
        if mode == "python" and (n_jobs != 1 or mp_backend == "ray"):
            pool = make_pool(objective, kwargs, n_jobs, mp_backend, ray_address, quiet)
            evaluate = pool
        elif mode == "python":
            evaluate = PythonEvaluator(objective, kwargs, pruner=pruner)
        else:
            evaluate = BatchedEvaluator(objective, self._space, mode, kwargs, devices=devices, chunk_size=chunk_size)
            population, values, _ = self._propose(size, budget.progress(size), 1.0, budget.explore(size),
                                                  self._steps_done)
            evaluate.check(values)
            run.objective_keys = self._objective_keys if evaluate.takes_key else None
        previous_handler = run.install_interrupt_handler()
        if not quiet:
            print(f"Search is scheduled for {budget.describe()}")
            run.progress = tqdm(total=budget.steps, desc="Best f: -", unit="eval", leave=True)
        run.callbacks.on_search_start(self)
        try:
            if pool is not None:
                with pool:
                    run.parallel(pool)
            else:
                run.sequential(evaluate) if mode == "python" else run.generational(evaluate, size)
            if store is not None:
                run.finish()
        finally:
            if store is not None:
                run.flush_journal()
                store.close()
            if previous_handler is not None:
                signal.signal(signal.SIGINT, previous_handler)
            if run.progress is not None:
                run.progress.close()
            run.callbacks.on_search_end()  # also after an error, so loggers close their files and runs
        if not quiet:
            print(run.summary())
        return self.best

    def stop(self) -> None:
        """Ask a running search to stop, e.g. from a callback once a target is reached: nothing new is drawn,
        candidates being evaluated finish, and `run` returns the best as usual (like a first Ctrl+C)."""
        run = getattr(self, "_active_run", None)
        if run is not None:
            run.stop_requested = True

    # ---- checkpoints (see checkpointing.py) -----------------------------------------------------------
    def save(self, path: str | os.PathLike) -> str:
        """Write a checkpoint of this search (state, best, history, cache) to directory `path`; returns it."""
        return save_search(self, path, Run(self, Budget(steps=1), None, True, False, True, True))

    def load(self, path: str | os.PathLike) -> Search:
        """Restore a checkpoint written by `save` or by `run(checkpoint_path=...)` into this search."""
        load_search(self, path, Run(self, Budget(steps=1), None, True, False, True, True))
        return self


@jax.jit
def _take_rows(mask: jax.Array, current: Any, hot: Any) -> Any:
    """Leaf by leaf, rows of `hot` where `mask` (P,) is True and rows of `current` elsewhere."""
    return jax.tree.map(lambda a, b: where_rows(mask, b, a), current, hot)
