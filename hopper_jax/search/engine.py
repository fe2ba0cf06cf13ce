"""The shell's hands on the core: proposing, decoding and telling through the shared jitted functions.

An `Engine` binds a space and its temperature schedule to a `SearchState`; every device call of a run
goes through it. Host inputs go in as numpy (no eager device programs), outputs stay on the device until
a caller fetches what it needs.
"""

from __future__ import annotations

import atexit
import functools
import gc
from typing import Any

import jax
import numpy as np

from ..core.algorithm import Hopper, Population, Schedule, clipped, hopper
from ..space.compile import Space, python_value
from .candidates import Encoded, host_parameters
from .compiled import Compiled, compiled, schedule_identity, seed_key
from .state import SearchState


@functools.cache
def collect_once_at_exit() -> None:
    """At interpreter exit (once per process that built an engine): collect the garbage there is, then
    `gc.freeze()` what is alive, so that the collections of the interpreter's teardown do not walk JAX's
    hundred thousand objects again. Teardown went from 0.25 to 0.10 s after a small search (RESULTS §35), a
    quarter of a short pool program's wall time. Garbage that exists at exit is finalised as usual."""
    atexit.register(_collect_and_freeze)


def _collect_and_freeze() -> None:
    gc.collect()
    gc.freeze()


class Engine:
    """Propose, decode and tell for one space and schedule, on one `SearchState`.

    A schedule is `(start, end)` for PyHopper's linear one, or any `Schedule` of progress (an optax schedule).
    """

    def __init__(self, space: Space, state: SearchState, schedule: tuple[float, float] | Schedule = (1.0, 0.2)):
        self.space, self.state = space, state
        collect_once_at_exit()
        self.schedule_id: tuple | None = None
        self.reschedule(schedule)
        self.key: jax.Array | None = None  # the PRNG key of the state's seed

    def reschedule(self, schedule: tuple[float, float] | Schedule) -> None:
        identity = schedule_identity(schedule)
        if identity != self.schedule_id:
            self.schedule, self.schedule_id = schedule, identity
            self.algo: Hopper = (hopper(self.space, temperature=schedule) if callable(schedule) else
                                 hopper(self.space, start_temperature=schedule[0], end_temperature=schedule[1]))

    @property
    def start_temperature(self) -> float:
        """The temperature at progress 0, in [0, 1]."""
        if callable(self.schedule):
            return float(clipped(self.schedule)(np.zeros(1, np.float32))[0])
        return min(max(float(self.schedule[0]), 0.0), 1.0)

    def seed(self, seed: int) -> None:
        self.state.seed, self.key = int(seed), seed_key(int(seed))

    def compiled(self) -> Compiled:
        return compiled(self.space, self.algo, self.schedule_id)

    # ---- device calls ----------------------------------------------------------------------------------
    def propose(self, size: int, progress, heat, explore, *, first_step: int | None = None, retry: int = 0,
                sequential: bool = False):
        """(population, values, fingerprints, model candidates (size,) bool) on the device, for the steps from
        `first_step` (default: next). A `sequential` ask whose first row is a model candidate fits the model
        first (the core's `refit`), which changes the state."""
        first = self.state.steps_done if first_step is None else first_step
        progress, explore = np.asarray(progress, np.float32), np.asarray(explore, bool)
        heat = np.broadcast_to(np.asarray(heat, np.float32), (size,))
        functions = self.compiled()
        if sequential and self.state.core.model_points.shape[0]:  # a space with a model (else prepare copies the state)
            self.state.core = functions.prepare(self.key, first, retry, self.state.core, progress[:1], heat[:1],
                                                explore[:1])
        return functions.propose(self.key, first, retry, self.state.core, progress, heat, explore, np.bool_(sequential))

    def tell(self, population: Population, scores: np.ndarray, sequential: bool = False) -> None:
        functions = self.compiled()
        tell = functions.tell_sequential if sequential else functions.tell
        self.state.core = tell(self.state.core, population, np.asarray(scores, self.space.score_dtype))

    def objective_keys(self, first_step: int, size: int) -> jax.Array:
        """(size,) PRNG keys for a key-taking JAX objective: one per step, apart from the proposal keys."""
        return self.compiled().keys(self.key, first_step, np.zeros(size, np.float32))

    def decode_row(self, encoded: tuple) -> tuple[tuple, np.ndarray]:
        """One candidate's encoded leaves → (decoded values, (2,) fingerprint), on the host."""
        if not encoded:
            return (), np.zeros(2, np.uint32)
        values, fingerprints = jax.device_get(self.compiled().decode(tuple(np.asarray(z)[None] for z in encoded)))
        return tuple(v[0] for v in values), fingerprints[0]

    def value_shapes(self, size: int) -> tuple:
        """Shapes and dtypes of the decoded values of a population of `size` (no device work)."""
        encoded = tuple(jax.ShapeDtypeStruct((size, *self.space.leaves[i].encoding.shape),
                                             self.space.leaves[i].encoding.dtype) for i in self.space.array_leaves)
        return jax.eval_shape(jax.vmap(self.space.decode), encoded)

    # ---- the best --------------------------------------------------------------------------------------
    def best_values(self) -> tuple:
        """The best's decoded array values (numpy), decoding the core state's best on first need."""
        best = self.state.best
        if best.values is None:
            best.values = self.decode_row(self.state.core.best)[0]
        return best.values

    def best_candidate(self) -> Any:
        best = self.state.best
        if best.candidate is None:
            best.candidate = self.space.to_python(self.best_values(), best.objects)
        return best.candidate

    def encoded_best(self) -> Encoded:
        """The best as host encodings and objects (where a guess's missing entries come from)."""
        return Encoded(tuple(np.asarray(z) for z in self.state.core.best), dict(self.state.best.objects))

    # ---- rows with host-side parts -----------------------------------------------------------------------
    def row_population(self, encoded: tuple[np.ndarray, ...]) -> Population:
        """A one-row host population (a guess, or a candidate with Python-side parameters applied)."""
        return self.algo.given(tuple(np.asarray(z)[None] for z in encoded))

    def queued_row(self, encoded: Encoded):
        """A queued guess: (population of 1, values, fingerprint)."""
        return self.row_population(encoded.encoded), *self.decode_row(encoded.encoded)

    def host_driven_row(self, population: Population, host, i: int):
        """Row i with Python-side parameters applied: (one-row population, Encoded, values, fingerprint)."""
        space = self.space
        _, _, local, temperature, actions, encoded = host
        best_values = {leaf: python_value(space.leaves[leaf].param, v)
                       for leaf, v in zip(space.array_leaves, self.best_values())}
        objects, hooked = host_parameters(space, actions[i], float(temperature[i]),
                                          Encoded((), self.state.best.objects), best_values)
        z = [np.asarray(a[i]) for a in encoded]
        for index, value in hooked.items():
            z[space.array_leaves.index(index)] = space.project_leaf(index, value)
        row = self.row_population(tuple(z))._replace(local=np.asarray([local[i]]), actions=actions[i][None])
        return row, Encoded((), objects), *self.decode_row(tuple(z))
