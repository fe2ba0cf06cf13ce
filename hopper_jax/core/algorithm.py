"""The two-phase algorithm as pure functions: `init`, `ask`, `tell`.

Phase 1 (progress < seeding_fraction) samples every parameter from its prior. Phase 2 perturbs the best
candidate at a temperature T(progress) that anneals linearly from `start_temperature` to
`end_temperature`: T sets how many parameters move (max(1, round(T · n_params)), as in PyHopper), how
many elements of an array parameter move (see `encodings.mutation_cap`) and the step size, which is
multiplied by an adaptive factor exp(log_step) following the 1/5 success rule, so that steps shrink
when they stop improving and grow when they do. Only candidates that moved floats alone count towards
that rule: a move of an int or a choice fails or succeeds whatever the float step size, and counting
such candidates froze the float steps of mixed spaces (benchmarks/RESULTS.md, mixed spaces).

After duplicates the shell asks with `heat` > 1: steps grow, and the number of moved parameters is drawn
uniformly between the cold and the heated count, so that a hot retry can still move a single parameter.

Everything here is jittable and works on a whole population at once; `progress` is one value per
candidate, so a population may straddle the phase boundary. Scores are maximised (the shell negates
for "min"); NaN scores never win.

Example (inside your own jitted loop)::

    algo = hopper_jax.core.hopper(space, seeding_fraction=0.25)
    state = algo.init()
    def generation(state, key_and_progress):
        key, progress = key_and_progress
        population = algo.ask(key, state, jnp.full((64,), progress))
        scores = jax.vmap(my_objective)(algo.decode(population))
        return algo.tell(state, population, scores), scores.max()
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..space.compile import Space
from ..space.encodings import Continuous, Draws, reflect_unit

KEEP, MUTATE, RESAMPLE = 0, 1, 2
#: Success rate the step adaptation aims for (Rechenberg's 1/5 rule).
SUCCESS_TARGET = 0.2
#: Change of log_step per unit of (success - target) / (1 - target), for one sequential evaluation.
STEP_ADAPTATION = 0.2
LOG_STEP_RANGE = (-12.0, 1.0)
#: On CPU, phase 1 samples a population this many array elements at a time (a scan over row batches):
#: threefry's intermediates then stay in cache, which made sampling (256, 1e5) and (64, 1e6) populations
#: 1.6-1.9x faster than one vmap (benchmarks/RESULTS.md §7). The values are identical either way. Phase 2
#: draws O(sqrt(d)) numbers per row and is faster as one vmap.
CPU_BATCH_ELEMENTS = 2**20


class HopperState(NamedTuple):
    """The search state; a pytree of arrays."""

    best: tuple[jax.Array, ...]  # internal encoding of the best candidate, one array per array leaf
    best_score: jax.Array  # () float32, maximised; -inf until a finite score is told
    log_step: jax.Array  # () float32, log of the adaptive step multiplier
    count: jax.Array  # () int32, candidates told so far
    merged: tuple[jax.Array, ...]  # all improving moves of the last population applied at once
    has_merged: jax.Array  # () bool: `merged` is to be tried (as row 0) by the next ask


class Population(NamedTuple):
    """A population of P candidates in the internal encoding."""

    encoded: tuple[jax.Array, ...]  # (P, *shape) per array leaf
    local: jax.Array  # (P,) bool: phase-2 rows (perturbations of the best)
    actions: jax.Array  # (P, n_params) int8: KEEP / MUTATE / RESAMPLE for every parameter
    temperature: jax.Array  # (P,) float32


class Hopper(NamedTuple):
    """A pair of pure functions over `HopperState` (plus `init` and `decode`), optax style."""

    init: Callable[[], HopperState]
    ask: Callable[..., Population]
    tell: Callable[[HopperState, Population, jax.Array], HopperState]
    decode: Callable[[Population], Any]


def temperature_schedule(start: float, end: float) -> Callable[[jax.Array], jax.Array]:
    """T(progress) = start + (end - start) · progress, clipped to [0, 1]."""
    return lambda progress: jnp.clip(start + (end - start) * jnp.clip(progress, 0.0, 1.0), 0.0, 1.0)


def hopper(space: Space, *, seeding_fraction: float = 0.25, start_temperature: float = 1.0,
           end_temperature: float = 0.2, step_adaptation: float = STEP_ADAPTATION) -> Hopper:
    """Build the algorithm for `space`.

    Args:
      space: the compiled search space.
      seeding_fraction: share of the budget (in progress units) spent in phase 1.
      start_temperature, end_temperature: linear temperature schedule over the whole budget.
      step_adaptation: rate of the success-based step adaptation (0 disables it).
    """
    schedule = temperature_schedule(start_temperature, end_temperature)
    encodings = [space.leaves[i].encoding for i in space.array_leaves]
    n_params = space.size
    unit_of = space.array_leaves  # parameter index of each array leaf
    driven = [space.leaves[i].host_driven for i in space.array_leaves]
    conditional = [bool(space.leaves[i].conditions) for i in space.array_leaves]
    # (n_params,) True for parameters whose moves are scaled by the adaptive step: the float leaves
    scaled = np.isin(np.arange(n_params), [unit_of[j] for j, enc in enumerate(encodings)
                                           if enc.dtype == jnp.float32 and not driven[j]])

    def init() -> HopperState:
        # numpy values put on the device: no eager XLA program (each costs a compile the first time)
        best = tuple(jax.device_put(np.asarray(z)) for z in space.initial_encoding())
        scalars = jax.device_put((np.float32(-np.inf), np.float32(0.0), np.int32(0), np.bool_(False)))
        return HopperState(best, *scalars[:3], best, scalars[3])

    sample_draws = sum(enc.sample_draws for enc in encodings)
    perturb_draws = 1 + n_params + sum(enc.perturb_draws + (enc.sample_draws if conditional[j] else 0)
                                   for j, enc in enumerate(encodings))

    def sample_one(key):
        draws = Draws(key, sample_draws)
        return tuple(enc.sample(draws) for enc in encodings)

    # Sequential changes of log_step are multiples of 2^-16: float32 adds them exactly, so a sequential run
    # does not depend on how many candidates the shell proposes per device call (speculative blocks).
    success_change = _dyadic(step_adaptation)
    failure_change = _dyadic(step_adaptation * SUCCESS_TARGET / (1 - SUCCESS_TARGET))

    def moved_count(draws, temperature, cold_temperature):
        fewest, most = (jnp.maximum(1, jnp.round(t * n_params)).astype(jnp.int32)
                        for t in (cold_temperature, temperature))
        extra = jnp.floor(draws.uniform(()) * (most - fewest + 1).astype(jnp.float32)).astype(jnp.int32)
        return jnp.minimum(fewest + extra, most)

    def counts_for_step(local, selected):
        """(P,) float32 1/0: local rows that moved floats only, whose outcome reflects the float step size."""
        return (local & ~jnp.any(selected & ~scaled, axis=1)).astype(jnp.float32)

    def select_one(key, temperature, cold_temperature):
        """A row's draws and its (n_params,) moved parameters (the first draws of the row)."""
        draws = Draws(key, perturb_draws)
        n_move = moved_count(draws, temperature, cold_temperature)
        return draws.values, jnp.argsort(jnp.argsort(draws.uniform((n_params,)))) < n_move

    def perturb_one(values, selected, state, temperature, failures):
        draws = Draws.resume(values, 1 + n_params)
        log_step = jnp.maximum(state.log_step - failures * failure_change, LOG_STEP_RANGE[0])
        step = temperature * jnp.exp(log_step)
        moved = []
        for j, (enc, z) in enumerate(zip(encodings, state.best)):
            new = z if driven[j] else enc.perturb(draws, z, step, temperature)
            new = jnp.where(selected[unit_of[j]], new, z)
            if conditional[j]:  # switched on by a choice: start from a fresh sample, as in phase 1
                new = jnp.where(_switched_on(space, state.best, moved, unit_of[j]), enc.sample(draws), new)
            moved.append(new)
        return tuple(moved)

    def perturb(keys, state, local, temperature, cold_temperature, sequential):
        """Phase-2 rows; with `sequential`, row i takes the step size left by failed tells of the rows before
        it that count towards the step adaptation (speculative sequential asks; see `tell`)."""
        values, selected = jax.vmap(select_one)(keys, temperature, cold_temperature)
        counted = counts_for_step(local, selected)
        failures = jnp.where(sequential, jnp.cumsum(counted) - counted, 0.0)
        moved = jax.vmap(perturb_one, in_axes=(0, 0, None, 0, 0))(values, selected, state, temperature, failures)
        return moved, selected

    def ask(key: jax.Array, state: HopperState, progress: jax.Array, heat: float | jax.Array = 1.0,
            explore: jax.Array | None = None, sequential: bool | jax.Array = False) -> Population:
        """P candidates for `progress` of shape (P,) in [0, 1].

        `key` is one PRNG key (split into P) or P keys, one per row. `heat` ≥ 1 (scalar or (P,)) multiplies the
        temperature (after duplicates); `explore` (P,) bool, when given, says which rows are phase-1
        samples instead of `progress < seeding_fraction`. `sequential`: the rows are the next P sequential
        steps, each proposed as if every earlier row of the block had failed (speculative asks; see `tell`).
        """
        progress = jnp.atleast_1d(jnp.asarray(progress, jnp.float32))
        size = progress.shape[0]
        cold_temperature = schedule(progress)
        temperature = jnp.clip(cold_temperature * heat, 0.0, 1.0)
        local = progress >= seeding_fraction if explore is None else ~jnp.asarray(explore, bool)
        keys = key if jnp.ndim(key) == 1 else jax.random.split(key, size)
        best_rows = tuple(jnp.broadcast_to(z, (size,) + z.shape) for z in state.best)
        fresh = jax.lax.cond(jnp.any(~local), lambda k: map_rows(sample_one, k, space.array_size), lambda _: best_rows,
                             keys)
        moved, selected = jax.lax.cond(
            jnp.any(local),
            lambda k: perturb(k, state, local, temperature, cold_temperature, sequential),
            lambda _: (best_rows, jnp.zeros((size, n_params), bool)),
            keys,
        )
        encoded = tuple(where_rows(local, m, f) for f, m in zip(fresh, moved))
        # the merged candidate goes in row 0, except in hot asks: it may itself be the duplicate being retried
        use_merged = state.has_merged & local[0] & (jnp.ravel(jnp.asarray(heat, jnp.float32))[0] <= 1.0)
        encoded = tuple(z.at[0].set(jnp.where(use_merged, m, z[0])) for z, m in zip(encoded, state.merged))
        actions = jnp.where(local[:, None], jnp.where(selected, MUTATE, KEEP), RESAMPLE).astype(jnp.int8)
        return Population(encoded, local, actions, temperature)

    def tell(state: HopperState, population: Population, scores: jax.Array, sequential: bool = False) -> HopperState:
        """Keep the best of population and incumbent (strict improvement); adapt the step size.

        The success rate of the n local rows that moved floats only moves log_step like sqrt(n) sequential
        tells would. With `sequential=True` those rows count as that many tells one after the other, which
        is exact when only the last local row may improve (the shell's speculative blocks guarantee it).
        """
        scores = jnp.where(jnp.isnan(scores), -jnp.inf, jnp.asarray(scores, jnp.float32))
        winner = jnp.argmax(scores)
        improved = scores[winner] > state.best_score
        best = tuple(jnp.where(improved, z[winner], b) for z, b in zip(population.encoded, state.best))
        counted = counts_for_step(population.local, population.actions == MUTATE)
        n_local = jnp.sum(counted)
        successes = jnp.sum(jnp.where(scores > state.best_score, counted, 0.0))  # of the counted rows
        if sequential:
            log_step = jnp.maximum(state.log_step - (n_local - successes) * failure_change, LOG_STEP_RANGE[0])
            log_step = jnp.minimum(log_step + successes * success_change, LOG_STEP_RANGE[1])
        else:
            rate = successes / jnp.maximum(n_local, 1)
            pressure = (rate - SUCCESS_TARGET) / (1 - SUCCESS_TARGET)
            change = step_adaptation * jnp.sqrt(n_local.astype(jnp.float32)) * pressure
            log_step = jnp.clip(state.log_step + jnp.where(n_local > 0, change, 0.0), *LOG_STEP_RANGE)
        best_score = jnp.maximum(state.best_score, scores[winner])
        improving = population.local & (scores > state.best_score)
        merged = tuple(_merge(enc, b, z, improving) for enc, b, z in zip(encodings, state.best, population.encoded))
        merged = tuple(jnp.where(improved, m, b) for m, b in zip(merged, best))
        has_merged = (~jnp.asarray(sequential)) & (jnp.sum(improving) >= 2)
        return HopperState(best, best_score, log_step, state.count + scores.shape[0], merged, has_merged)

    def decode(population: Population) -> tuple[jax.Array, ...]:
        return jax.vmap(space.decode)(population.encoded)

    return Hopper(init, ask, tell, decode)


def _dyadic(x: float, bits: int = 16) -> float:
    """`x` rounded to a multiple of 2^-bits."""
    return round(x * 2**bits) / 2**bits


def map_rows(fn: Callable, rows: Any, row_elements: int) -> Any:
    """`jax.vmap(fn)(rows)`, computed in batches of about `CPU_BATCH_ELEMENTS` elements on CPU.

    `rows` is a pytree with a leading population axis; `row_elements` is the size of one output row.
    Other backends (GPU, TPU) want the whole population at once and get the plain vmap.
    """
    size = jax.tree.leaves(rows)[0].shape[0]
    batch = max(1, CPU_BATCH_ELEMENTS // max(row_elements, 1))
    if jax.default_backend() != "cpu" or batch >= size:
        return jax.vmap(fn)(rows)
    return jax.lax.map(fn, rows, batch_size=batch)


def _merge(encoding, best: jax.Array, rows: jax.Array, improving: jax.Array) -> jax.Array:
    """The best plus the sum of all improving rows' moves (float leaves; others take the last winner)."""
    if encoding.dtype != jnp.float32:
        return best
    delta = jnp.sum(where_rows(improving, rows - best, 0.0), axis=0)
    merged = best + delta
    return reflect_unit(merged) if isinstance(encoding, Continuous) else merged


def where_rows(mask: jax.Array, on_true: jax.Array, on_false: jax.Array | float) -> jax.Array:
    """Row i of `on_true` (P, ...) where mask (P,) is True, else row i (or the scalar) of `on_false`."""
    return jnp.where(mask.reshape(mask.shape + (1,) * (on_true.ndim - 1)), on_true, on_false)


def _switched_on(space: Space, best: tuple, candidate_so_far: list, parameter: int) -> jax.Array:
    """True when `parameter` is active in the candidate but was inactive in the best."""
    position = {leaf: j for j, leaf in enumerate(space.array_leaves)}
    now, before = jnp.bool_(True), jnp.bool_(True)
    for choice, option in space.leaves[parameter].conditions:
        now &= candidate_so_far[position[choice]] == option  # choices precede their options' leaves
        before &= best[position[choice]] == option
    return now & ~before
