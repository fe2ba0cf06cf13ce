"""The two-phase algorithm as pure functions: `init`, `ask`, `tell`, and `decode` for the objective.

Phase 1 (progress < seeding_fraction) samples every parameter from its prior. Phase 2 perturbs the best
candidate at a temperature T(progress) given by a schedule: any optax-style schedule of progress in [0, 1]
(the share of the budget spent), by default PyHopper's linear one from `start_temperature` to
`end_temperature` (`linear_temperature`). T sets how many parameters move (max(1, round(T · n_params)), as
in PyHopper), how many elements of an array parameter move (see `encodings.mutation_cap`) and the step
size, which is multiplied by an adaptive factor exp(log_step) following the 1/5 success rule (`step_size`), so
that steps shrink when they stop improving and grow when they do; a step that has shrunk to the floor of its
range (the search converged as far as it resolves) starts again from full size around the same best, which
finds better basins of multimodal functions (benchmarks/RESULTS.md §27). In a small continuous block the moves
go along the columns of a learned factor instead of the axes (`covariance`), so that they follow the
landscape's shape.
A few phase-2 rows step to the minimum of a quadratic model of the block (`surrogate`), and a few hop: one
block element drawn afresh from its prior (`hops`). Only candidates that moved floats alone count towards
that rule: a move of an int or a choice fails or succeeds whatever the float step size, and counting such
candidates froze the float steps of mixed spaces (benchmarks/RESULTS.md, mixed spaces).

A population is kept the way it was drawn, not as P dense rows (`population`): a phase-1 row is the
sample of its PRNG key, a phase-2 row is the best with a few elements replaced. `tell` rebuilds only the
winner, so a phase-2 generation costs about a copy of the population, however large the arrays.

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
        scores = jax.vmap(my_objective)(space.jax_tree(algo.decode(population)))
        return algo.tell(state, population, scores), scores.max()
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..space.compile import Space
from ..space.encodings import Continuous, Draws, into_unit_box, random_subset
from . import covariance as cov
from . import hops, step_size, surrogate
from .population import Population, layout

#: A parameter's action in a row: kept, moved, sampled afresh (phase 1), moved by a model step (`surrogate`), or
#: a block element resampled from its prior (`hops`). Model steps and hops leave the step size and shape alone.
KEEP, MUTATE, RESAMPLE, MODEL, HOP = 0, 1, 2, 3, 4


class HopperState(NamedTuple):
    """The search state; a pytree of arrays."""

    best: tuple[jax.Array, ...]  # internal encoding of the best candidate, one array per array leaf
    best_score: jax.Array  # () the score type (`Space.score_dtype`), maximised; -inf until a finite score
    log_step: jax.Array  # () float32, log of the adaptive step multiplier
    count: jax.Array  # () int32, candidates told so far
    merged: tuple[jax.Array, ...]  # all improving moves of the last population applied at once
    has_merged: jax.Array  # () bool: `merged` is to be tried (as row 0) by the next ask
    covariance: jax.Array  # (n, n) float32: the learned shape of continuous-block moves (n = 0: no block)
    factor: jax.Array  # (n, n) float32: its lower Cholesky factor A, so that a block step is y = A g
    path: jax.Array  # (n,) float32: the evolution path of winning block steps
    # phase 2's model steps (`surrogate.Model`; K = 0: no model): the best block points and the fitted step
    model_points: jax.Array  # (K, n) block coordinates
    model_scores: jax.Array  # (K,) float32
    model_count: jax.Array  # () int32: points recorded so far
    model_step: jax.Array  # (n,) from the best to the fitted minimum
    model_ok: jax.Array  # () bool: the next model row takes `model_step`

    @property
    def model(self) -> surrogate.Model:
        return surrogate.Model(*self[-5:])


class Hopper(NamedTuple):
    """Pure functions over `HopperState` and `Population`, optax style."""

    init: Callable[[], HopperState]
    ask: Callable[..., Population]
    tell: Callable[..., HopperState]
    decode: Callable[..., tuple]  # (P, ...) values the objective sees, per array leaf (`population.layout`)
    encode: Callable[[Population], tuple]  # (P, *shape) internal encodings, per array leaf
    row: Callable[[Population, jax.Array], tuple]  # one row's internal encoding
    fingerprints: Callable[[Population, tuple], jax.Array]  # (P, 2) uint32, from the decoded values
    given: Callable[..., Population]  # a population of rows given in full
    model_candidates: Callable[..., jax.Array]  # (P,) bool: the rows of a sequential ask that may be model steps
    refit: Callable[[HopperState], HopperState]  # the model fitted before a sequential model candidate


#: A temperature schedule: progress () float32 in [0, 1] (share of the budget spent) -> temperature (), as
#: an `optax.Schedule` maps a step count to a value. Any optax schedule works, e.g.
#: `optax.cosine_decay_schedule(1.0, decay_steps=1, alpha=0.2)` (one "step" is the whole budget).
Schedule = Callable[[jax.Array], jax.Array]


def linear_temperature(start: float, end: float) -> Schedule:
    """PyHopper's schedule: `start` at progress 0, falling linearly to `end` at progress 1 (optax's)."""
    def schedule(progress: jax.Array) -> jax.Array:
        # optax and chex are imported where a function is traced: a run whose compiled functions load from
        # the engine cache never traces, and skips their imports (0.18 s of a small pool's start-up, §30)
        import optax

        return optax.linear_schedule(start, end, transition_steps=1)(progress)
    return schedule


def clipped(schedule: Schedule) -> Callable[[jax.Array], jax.Array]:
    """`schedule` applied to each element of a progress array (P,), with progress and temperature clipped
    to [0, 1]. Schedules are written for one scalar count (optax's joined schedules do not broadcast)."""
    def temperatures(progress: jax.Array) -> jax.Array:
        import chex

        values = jax.vmap(lambda p: jnp.asarray(schedule(p), jnp.float32))(jnp.clip(progress, 0.0, 1.0))
        chex.assert_shape(values, progress.shape)  # one temperature per candidate: a scalar schedule
        return jnp.clip(values, 0.0, 1.0)
    return temperatures


def hopper(space: Space, *, seeding_fraction: float = 0.25, start_temperature: float = 1.0,
           end_temperature: float = 0.2, temperature: Schedule | None = None,
           step_adaptation: float | None = None, covariance_limit: int | None = None,
           model_steps: bool | None = None, hop_share: float | None = None) -> Hopper:
    """Build the algorithm for `space`.

    Args:
      space: the compiled search space.
      seeding_fraction: share of the budget (in progress units) spent in phase 1.
      start_temperature, end_temperature: the default linear temperature schedule over the whole budget.
      temperature: a `Schedule` (e.g. an optax schedule of progress) replacing the linear one.
      step_adaptation: rate of the success-based step adaptation (0 disables it; None: `adaptation_rate` of
        the space's float elements).
      covariance_limit: the largest continuous block that moves as one learned correlated step
        (`covariance.COVARIANCE_LIMIT` when None; 0 turns the learned shape off).
      model_steps: phase 2 also steps to the minimum of a quadratic model fitted to the best evaluations of a
        small continuous block (`surrogate`; None: `surrogate.MODEL_STEPS`).
      hop_share: the share of phase-2 rows that resample one element of a bounded continuous block from its
        prior (`hops`; None: `hops.HOP_SHARE`; 0: no hops).
    """
    schedule = clipped(linear_temperature(start_temperature, end_temperature) if temperature is None
                       else temperature)
    encodings = [space.leaves[i].encoding for i in space.array_leaves]
    n_params = space.size
    unit_of = space.array_leaves  # parameter index of each array leaf
    driven = [space.leaves[i].host_driven for i in space.array_leaves]
    conditional = [bool(space.leaves[i].conditions) for i in space.array_leaves]
    floats = [jnp.issubdtype(enc.dtype, jnp.floating) and not drive for enc, drive in zip(encodings, driven)]
    score_dtype = space.score_dtype
    log_step_range = step_size.log_step_range(space.float64)
    block = cov.find_block(encodings, [f and not c for f, c in zip(floats, conditional)], unit_of, n_params,
                           cov.COVARIANCE_LIMIT if covariance_limit is None else covariance_limit)
    in_block = {j: (offset, size) for j, offset, size, _, _ in (block.leaves if block else ())}
    # a leaf switched on by a choice is sampled afresh, every element, and a block step may change every element
    # of a block leaf: their moves need a slot per element
    slots = [enc.size if cond or j in in_block else enc.cap
             for j, (enc, cond) in enumerate(zip(encodings, conditional))]
    # (n_params,) True for parameters whose moves are scaled by the adaptive step: the float leaves
    scaled = np.isin(np.arange(n_params), [unit_of[j] for j, f in enumerate(floats) if f])
    if step_adaptation is None:
        step_adaptation = step_size.adaptation_rate(sum(enc.size for enc, f in zip(encodings, floats) if f))
    model_steps = surrogate.MODEL_STEPS if model_steps is None else model_steps
    archive_size = surrogate.archive_rows(block.size, space.array_size) if block and model_steps else 0
    block_dtype = encodings[block.leaves[0][0]].dtype if block else np.float32

    def block_of(rows: tuple, count: int | None = None) -> jax.Array:
        """The block's elements of encodings `rows` (per array leaf), concatenated: (n,), or (count, n)."""
        shape = (-1,) if count is None else (count, -1)
        return jnp.concatenate([rows[j].reshape(shape) for j, *_ in block.leaves], axis=-1)

    def init() -> HopperState:
        # numpy values put on the device: no eager XLA program (each costs a compile the first time)
        best = tuple(jax.device_put(np.asarray(z)) for z in space.initial_encoding())
        scalars = jax.device_put((score_dtype(-np.inf), np.float32(0.0), np.int32(0), np.bool_(False)))
        return HopperState(best, *scalars[:3], best, scalars[3], *cov.identity(block.size if block else 0),
                           *surrogate.empty(archive_size, block.size if block else 0, block_dtype, score_dtype))

    sample_draws = sum(enc.sample_draws for enc in encodings)
    perturb_draws = 1 + n_params + sum(0 if j in in_block else enc.move_words(s) + (enc.sample_draws if c else 0)
                                       for j, (enc, s, c) in enumerate(zip(encodings, slots, conditional)))

    def sample_one(key):
        draws = Draws(key, sample_draws)
        return tuple(enc.sample(draws) for enc in encodings)

    views = layout(space, slots, sample_one)

    failure_change = step_size.sequential_changes(step_adaptation)[1]  # a speculative row's earlier rows failed

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
        return draws.words, random_subset(draws.take(n_params), n_move)

    # hops resample an element in its bounds: a block of bounded, linear floats (their unit box is their prior)
    hop_share = hops.HOP_SHARE if hop_share is None else float(hop_share)
    hoppable = bool(block) and hop_share > 0 and all(isinstance(encodings[j], Continuous) and not encodings[j].log
                                                     for j, *_ in block.leaves)

    def perturb_one(key, words, selected, state, temperature, failures, modelled, model_factor, hopping):
        """One phase-2 row: per array leaf, (positions, new values) of its moved elements; a `modelled` row's
        block moves by `model_factor` times the state's model step, a `hopping` row's by a hop."""
        draws = Draws.resume(words, 1 + n_params)
        log_step = step_size.after_failures(state.log_step, failures, failure_change, log_step_range[0])
        step = temperature * jnp.exp(log_step)
        if block:
            share = cov.dense_share(state.covariance)  # of the state, not the row: computed once under vmap
            y = jnp.asarray(block.scale) * step * cov.step(block, key, temperature, selected, state.factor, share)
            y = jnp.where(modelled, model_factor * state.model_step, y) if archive_size else y
            y = jnp.where(hopping, hops.hop_step(key, block_of(state.best)), y) if hoppable else y
        may_stay = jnp.any(selected & scaled)  # a float moves: a discrete parameter may keep its value
        index, moved, scalars = [], [], {}
        for j, (enc, z) in enumerate(zip(encodings, state.best)):
            nothing = enc.size + jnp.arange(slots[j], dtype=jnp.int32)
            if driven[j]:
                where, new = nothing, jnp.zeros(slots[j], enc.dtype)
            elif j in in_block:  # every element: the step of one block leaf moves the correlated others
                offset, size = in_block[j]
                new = z.reshape(-1) + y[offset:offset + size]
                new = into_unit_box(new) if isinstance(enc, Continuous) else new
                where = jnp.arange(size, dtype=jnp.int32)
            else:
                where, new = enc.moves(draws, z, step, temperature, slots[j], may_stay)
            where = jnp.where(jnp.any(selected & block.params) if j in in_block else selected[unit_of[j]], where,
                              nothing)
            if conditional[j]:  # switched on by a choice: a fresh sample, as in phase 1
                switched = _switched_on(space, state.best, scalars, unit_of[j])
                fresh = enc.sample(draws).reshape(-1)
                where = jnp.where(switched, jnp.arange(enc.size, dtype=jnp.int32), where)
                new = jnp.where(switched, fresh, new)
            if enc.size == 1:  # a choice's value in this row, for the leaves it switches on
                scalars[unit_of[j]] = jnp.where(where[0] < 1, new[0], z.reshape(-1)[0])
            index.append(where)
            moved.append(new)
        return tuple(index), tuple(moved)

    def ask(key: jax.Array, state: HopperState, progress: jax.Array, heat: float | jax.Array = 1.0,
            explore: jax.Array | None = None, sequential: bool | jax.Array = False) -> Population:
        """P candidates for `progress` of shape (P,) in [0, 1].

        `key` is one PRNG key (split into P) or P keys, one per row. `heat` ≥ 1 (scalar or (P,)) multiplies the
        temperature (after duplicates); `explore` (P,) bool, when given, says which rows are phase-1
        samples instead of `progress < seeding_fraction`. `sequential`: the rows are the next P sequential
        steps, each proposed as if every earlier row of the block had failed (speculative asks; see `tell`).
        """
        keys, local, cold_temperature, heated = rows_of(key, progress, heat, explore)
        size = local.shape[0]
        temperature = jnp.clip(cold_temperature * heat, 0.0, 1.0)

        def perturb(keys):
            words, selected = jax.vmap(select_one)(keys, temperature, cold_temperature)
            modelled, model_factor = candidate_rows(keys, local, heated, sequential | (size == 1))
            modelled &= state.model_ok
            hopping = jnp.zeros(size, bool)
            if hoppable:  # hops: a share of the other phase-2 rows
                hopping = hops.hop_rows(keys, hop_share) & local & ~modelled
            selected = jnp.where((modelled | hopping)[:, None], block.params[None, :], selected) if block else selected
            counted = counts_for_step(local & ~modelled & ~hopping, selected)
            failures = jnp.where(sequential, jnp.cumsum(counted) - counted, 0.0)
            index, moved = jax.vmap(perturb_one, in_axes=(0, 0, 0, None, 0, 0, 0, 0, 0))(
                keys, words, selected, state, temperature, failures, modelled, model_factor, hopping)
            return index, moved, selected, jnp.where(modelled, MODEL, jnp.where(hopping, HOP, MUTATE)).astype(jnp.int8)

        def still(keys):
            index = tuple(jnp.broadcast_to(enc.size + jnp.arange(s, dtype=jnp.int32), (size, s))
                          for enc, s in zip(encodings, slots))
            moved = tuple(jnp.zeros((size, s), enc.dtype) for enc, s in zip(encodings, slots))
            return index, moved, jnp.zeros((size, n_params), bool), jnp.full(size, MUTATE, jnp.int8)

        index, moved, selected, moving = jax.lax.cond(jnp.any(local), perturb, still, keys)
        index = tuple(jnp.where(local[:, None], i, enc.size + jnp.arange(s, dtype=jnp.int32))
                      for i, enc, s in zip(index, encodings, slots))
        # the merged candidate goes in row 0, except in hot asks: it may itself be the duplicate being retried
        use_merged = state.has_merged & local[0] & (jnp.ravel(jnp.asarray(heat, jnp.float32))[0] <= 1.0)
        actions = jnp.where(local[:, None], jnp.where(selected, moving[:, None], KEEP), RESAMPLE).astype(jnp.int8)
        return Population(keys, ~local, state.best, index, moved, tuple(m[None] for m in state.merged),
                          use_merged.astype(jnp.int32), local, actions, temperature)

    def rows_of(key, progress, heat, explore):
        """(keys (P, k) key data, local (P,), cold temperature (P,), heated (P,)) of an ask's rows."""
        progress = jnp.atleast_1d(jnp.asarray(progress, jnp.float32))
        size = progress.shape[0]
        local = progress >= seeding_fraction if explore is None else ~jnp.asarray(explore, bool)
        keys = key if jnp.ndim(key) == 1 else jax.random.split(key, size)
        heated = jnp.broadcast_to(jnp.asarray(heat, jnp.float32), (size,)) > 1.0
        return jax.random.key_data(keys), local, schedule(progress), heated

    def model_candidates(key: jax.Array, progress: jax.Array, heat: float | jax.Array = 1.0,
                         explore: jax.Array | None = None) -> jax.Array:
        """(P,) bool: the rows of a sequential `ask` (same arguments) that take a model step if the model's last fit
        allows: a `surrogate.MODEL_SHARE` of the local, unheated rows (all False without a model).

        A sequential search fits the model only before a candidate: the shell calls `refit` before an ask whose
        first row is one and starts a new ask at each later one, so that every fit sees all earlier scores and a
        speculative block of non-candidates reads nothing a tell inside it would change."""
        keys, local, _, heated = rows_of(key, progress, heat, explore)
        return candidate_rows(keys, local, heated, True)[0]

    def candidate_rows(keys, local, heated, sequential):
        """((P,) bool, (P,) float32): the local, unheated rows that take a model step if the last fit allows (the
        last rows of a generation, a share of sequential steps; none without a model), and the multiple of the
        step each takes."""
        if not archive_size:
            return jnp.zeros(local.shape, bool), jnp.ones(local.shape, jnp.float32)
        rows, factor = surrogate.model_rows(keys, sequential)
        return rows & local & ~heated, factor

    def refit(state: HopperState) -> HopperState:
        """`state` with the model step fitted again to the archive around the best, and (`SHAPE_FROM_MODEL`) a
        positive definite fit's inverse Hessian blended into the learned shape."""
        if not archive_size:
            return state
        model, fitted = surrogate.fit(state.model, block_of(state.best))
        shape = (state.covariance, state.factor, state.path)
        if surrogate.SHAPE_FROM_MODEL:
            shape = cov.blend_in(shape, fitted, block.scale, jnp.where(model.ok, surrogate.SHAPE_FROM_MODEL, 0.0))
        return HopperState(*state[:6], *shape, *model)

    def merge(population: Population, improving: jax.Array, best: tuple) -> tuple:
        """The base plus every improving row's moves, row after row (float leaves; the others: `best`)."""
        order = jnp.nonzero(improving, size=improving.shape[0], fill_value=0)[0]

        def add(k, merged):
            r = order[k]
            out = []
            for j, (enc, m) in enumerate(zip(encodings, merged)):
                if not floats[j]:
                    out.append(m)
                    continue
                safe = jnp.minimum(population.index[j][r], enc.size - 1)
                delta = population.moved[j][r] - population.base[j].reshape(-1)[safe]
                out.append(m.at[population.index[j][r]].add(delta, mode="drop", unique_indices=True))
            return tuple(out)

        flat = tuple(b.reshape(-1) for b in population.base)
        merged = jax.lax.fori_loop(0, jnp.sum(improving), add, flat)
        out = []
        for j, (enc, m, b) in enumerate(zip(encodings, merged, best)):
            if not floats[j]:
                out.append(b)
            else:
                m = m.reshape(enc.shape)
                out.append(into_unit_box(m) if isinstance(enc, Continuous) else m)
        return tuple(out)

    def tell(state: HopperState, population: Population, scores: jax.Array, sequential: bool = False) -> HopperState:
        """Keep the best of population and incumbent (strict improvement); adapt the step size from the local
        rows that moved floats only (`step_size.told`; with `sequential=True` they count as that many tells one
        after the other, which is exact when only the last local row may improve, as in the shell's speculative
        blocks), and the learned shape and model from the rows that beat the best.
        """
        import chex

        chex.assert_shape(scores, population.local.shape)  # at trace time: one score per row
        scores = jnp.where(jnp.isnan(scores), -jnp.inf, jnp.asarray(scores, score_dtype))
        winner = jnp.argmax(scores)
        improved = scores[winner] > state.best_score
        best = tuple(jnp.where(improved, z, b) for z, b in zip(views.row(population, winner), state.best))
        special = jnp.any(population.actions >= MODEL, axis=1)  # model steps and hops leave the step size alone
        counted = counts_for_step(population.local & ~special, population.actions == MUTATE)
        successes = jnp.sum(jnp.where(scores > state.best_score, counted, 0.0))  # of the counted rows
        log_step = step_size.told(state.log_step, jnp.sum(counted), successes, step_adaptation, log_step_range,
                                  sequential)
        best_score = jnp.maximum(state.best_score, scores[winner])
        rows = jnp.arange(scores.shape[0])
        given_rows = rows < (population.n_given if population.given and population.given[0].shape[0] else 0)
        improving = population.local & (scores > state.best_score) & ~given_rows  # phase-2 moves that beat the best
        shape = (state.covariance, state.factor, state.path)
        if block:
            selected = population.actions == MUTATE
            shape = cov.tell_population(block, shape, population.keys, population.temperature, selected,
                                        improving & jnp.any(selected & block.params, axis=1), winner)
        if sequential:
            merged, has_merged = best, jnp.bool_(False)
        else:
            has_merged = jnp.sum(improving) >= 2
            merged = jax.lax.cond(has_merged, lambda: merge(population, improving, best), lambda: best)
        model = state.model
        if archive_size:  # sequential tells only record: the fit waits for the next model candidate (`refit`)
            model = surrogate.record(model, block_of(views.encode(population), scores.shape[0]), scores)
            model = model if sequential else surrogate.fit(model, block_of(best))[0]
        return HopperState(best, best_score, log_step, state.count + scores.shape[0], merged, has_merged, *shape,
                           *model)

    return Hopper(init, ask, tell, views.decode, views.encode, views.row, views.fingerprints, views.given,
                  model_candidates, refit)


def _switched_on(space: Space, best: tuple, scalars: dict, parameter: int) -> jax.Array:
    """True when `parameter` is active in the candidate (its choices' values `scalars` by parameter) but was
    inactive in the best."""
    position = {leaf: j for j, leaf in enumerate(space.array_leaves)}
    now, before = jnp.bool_(True), jnp.bool_(True)
    for choice, option in space.leaves[parameter].conditions:
        now &= scalars[choice] == option  # choices precede their options' leaves
        before &= best[position[choice]].reshape(-1)[0] == option
    return now & ~before
