"""JAX mode on the device: one engine step per generation, and many generations with the objective in one scan.

`generation_step` tells the last generation and proposes the next one, free of duplicates (pure; for small
populations the host calls its halves, `Compiled.tell_generation` and `Compiled.propose_generation`, one
after the other). `fused_generations` runs up to K generations — engine step, then the objective — inside one
`lax.scan`, for populations large enough that a device call per generation would cost more than the work
itself (fresh buffers every call).

PRNG keys depend only on the seed and the global step (`step_keys`), so a generation draws the same rows
however generations are grouped into calls.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ..core import seen
from ..core.algorithm import Hopper, Population
from ..core.population import select_rows
from ..core.rows import rows_per_batch

#: Folded into a step's key for the objective's key (proposals use retries 0 .. 10**6 + draws).
OBJECTIVE_SALT = 2**32 - 1
#: Temperature multiplier after each consecutive duplicate (PyHopper's intent, min(·, 1) after scaling).
DUPLICATE_HEAT = 1.5
#: JAX mode: how often duplicate rows of a generation are re-drawn (hotter) before they are skipped.
DUPLICATE_RETRIES = 8


def step_keys(base_key: jax.Array, first_step, count: int, salt) -> jax.Array:
    """(count,) keys: row i gets fold_in(fold_in(base_key, first_step + i), salt), so a candidate's key
    depends on its global step and not on how the steps were batched."""
    steps = first_step + jnp.arange(count)
    return jax.vmap(lambda step: jax.random.fold_in(jax.random.fold_in(base_key, step), salt))(steps)


def summaries(values: tuple) -> tuple:
    """(P, 4) mean, std, min and max of every row of each (P, ...) leaf (float32)."""
    def one(leaf):
        flat = leaf.reshape(leaf.shape[0], -1).astype(jnp.float32)
        return jnp.stack([flat.mean(1), flat.std(1), flat.min(1), flat.max(1)], axis=1)

    return tuple(map(one, values))


class Told(NamedTuple):
    """A generation to tell: its population, (P,) objective values, which rows are duplicates, how many rows
    are budget steps (neither the others nor duplicates are told), fingerprints, and the direction's sign
    (+1 maximise, -1 minimise)."""

    population: Population
    values: jax.Array
    duplicate: jax.Array
    count: jax.Array
    fingerprints: jax.Array
    sign: jax.Array


class Plan(NamedTuple):
    """What the host decides for the next generation (P rows, G guess slots)."""

    first_step: jax.Array  # () int32: global step of row 0
    progress: jax.Array  # (P,) float32
    explore: jax.Array  # (P,) bool: phase-1 rows
    counted: jax.Array  # (P,) bool: rows that are steps of the budget (the others are dropped)
    guesses: tuple  # (G, ...) encoded queued guesses, one array per array leaf
    n_guesses: jax.Array  # () int32: how many of the G are real; they fill rows 0 .. n - 1
    propose: jax.Array  # () bool: False only tells


def generation_step(algo: Hopper):
    """JAX mode's engine step: tell the last generation (`tell_step`), then propose the next one, free of
    duplicates (`propose_step`) where `plan.propose`.

    (base_key, state, table, told: Told, plan: Plan) -> (state, table, winner, population, values,
    fingerprints, duplicate). A generation at a time, the host calls the two halves as two programs, which
    compile apart (the first generation needs no tell); a fused scan runs this step.
    """
    tell, propose = tell_step(algo), propose_step(algo)

    def step(base_key, state, table, told, plan):
        state, table, winner = tell(state, table, told)
        proposed = cond_or_zeros(plan.propose, propose, base_key, state, table, plan)
        return state, table, winner, *proposed

    return step


def tell_step(algo: Hopper):
    """(state, table, told: Told) -> (state, table, winner): the told generation's rows go into the table of
    seen fingerprints and are told to the core (nothing happens when `told.count` is 0). `winner` is the row
    of the told generation that became the best (-1: none), by the core's own rule."""

    def tell(state, table, told):
        rows = (jnp.arange(told.duplicate.shape[0]) < told.count) & ~told.duplicate
        values = told.values.astype(state.best_score.dtype)  # the core's score type: float32 or float64
        # as `state.scores_of`: clipped to the finite range (the worst infinity is a value), NaN never wins
        limit = jnp.finfo(values.dtype).max
        scores = jnp.where(rows & ~jnp.isnan(values), jnp.clip(told.sign * values, -limit, limit), -jnp.inf)
        winner = jnp.argmax(scores).astype(jnp.int32)
        improved = scores[winner] > state.best_score
        population = told.population._replace(local=told.population.local & rows)
        return (algo.tell(state, population, scores), seen.insert(table, told.fingerprints, rows),
                jnp.where(improved, winner, -1))

    def step(state, table, told):
        return jax.lax.cond(told.count > 0, tell, lambda s, t, _: (s, t, jnp.int32(-1)), state, table, told)

    return step


def propose_step(algo: Hopper):
    """(base_key, state, table, plan: Plan) -> (population, values, fingerprints, duplicate): the population,
    its decoded values and fingerprints. Rows that repeat a seen or an earlier row are re-drawn hotter up to
    `DUPLICATE_RETRIES` times (queued guesses never are); `duplicate` flags those that stayed duplicates."""

    @jax.jit
    def draw(base_key, state, plan, retry):
        """One draw of the whole population (retry 0: cold, with the queued guesses). Jitted once per engine, so
        that its shapes and the loop body share one trace."""
        size = plan.progress.shape[0]
        guess_rows = jnp.arange(size) < plan.n_guesses
        heat = jnp.where(retry == 0, 1.0, DUPLICATE_HEAT ** retry.astype(jnp.float32))
        population = algo.ask(step_keys(base_key, plan.first_step, size, retry), state, plan.progress, heat,
                              plan.explore)
        if plan.guesses:  # rows 0 .. n - 1 are the queued guesses (else row 0 may be the merged candidate)
            guessing = plan.n_guesses > 0
            given = tuple(g.at[0].set(jnp.where(guessing, g[0], m[0])) for g, m in zip(plan.guesses,
                                                                                       population.given))
            population = population._replace(given=given,
                                             n_given=jnp.where(guessing, plan.n_guesses, population.n_given),
                                             local=population.local & ~guess_rows,
                                             sampled=population.sampled & ~guess_rows)
        return population

    @jax.jit
    def redraw(base_key, state, plan, retry, population, values, take):
        """The rows in `take` drawn again (round 0: all of them), decoded into `values` (one buffer) and
        fingerprinted. Jitted, so that the loop body and the shapes of its first carry share one trace."""
        new = draw(base_key, state, plan, retry)
        first = retry == 0
        merged_again = take[0] & ~first & (plan.n_guesses == 0)  # a duplicate merged candidate is re-drawn
        population = jax.tree.map(lambda n, o: jnp.where(first, n, o), new, population)
        population = select_rows(take, new, population)
        population = population._replace(n_given=jnp.where(merged_again, 0, population.n_given))
        values = algo.decode(population, into=values, take=take)
        return population, values, algo.fingerprints(population, values)

    @jax.jit
    def propose(base_key, state, table, plan):
        """The population, its decoded values, fingerprints and the rows that stayed duplicates."""
        size = plan.progress.shape[0]
        guess_rows = jnp.arange(size) < plan.n_guesses

        def duplicates(fingerprints):
            return plan.counted & (seen.contains(table, fingerprints) | seen.repeats(fingerprints))

        def another_round(carry):
            retry, *_, duplicate = carry
            return (retry == 0) | (jnp.any(duplicate & ~guess_rows) & (retry <= DUPLICATE_RETRIES))

        def round_(carry):
            retry, population, values, fingerprints, duplicate = carry
            take = (retry == 0) | (duplicate & ~guess_rows)
            population, values, fingerprints = redraw(base_key, state, plan, retry, population, values, take)
            return retry + 1, population, values, fingerprints, duplicates(fingerprints)

        population = jax.eval_shape(draw, base_key, state, plan, jnp.int32(0))
        if rows_per_batch(size, sum(b.size for b in population.base)) >= size:
            # values of one batch: round 0 inside the loop, so that decode and fingerprints are compiled once
            values = jax.eval_shape(lambda p: algo.decode(p), population)
            start = (jnp.int32(0), *_zeros((population, values, jax.ShapeDtypeStruct((size, 2), jnp.uint32))),
                     jnp.zeros(size, bool))
        else:  # large: round 0 decoded outside the loop, without a zero buffer or a select over every row
            population = draw(base_key, state, plan, jnp.int32(0))
            values = algo.decode(population)
            fingerprints = algo.fingerprints(population, values)
            start = (jnp.int32(1), population, values, fingerprints, duplicates(fingerprints))
        _, population, values, fingerprints, duplicate = jax.lax.while_loop(another_round, round_, start)
        return population, values, fingerprints, duplicate

    return propose


class Record(NamedTuple):
    """What the host books of one generation of a fused scan (leading axis K when stacked)."""

    winner: jax.Array  # () int32: the row of the generation told in this iteration (the previous one) that won
    values: jax.Array  # (P,) objective values
    fingerprints: jax.Array  # (P, 2)
    duplicate: jax.Array  # (P,)
    local: jax.Array  # (P,)
    temperature: jax.Array  # (P,)
    replayed: jax.Array  # () bool: the objective values came from the journal
    leaves: tuple  # per array leaf: (P, ...) values or (P, 4) summaries


def fused_generations(step: Callable, evaluate: Callable, full_leaves: tuple[bool, ...], keep_values: bool,
                      takes_key: bool, value_dtype: Any) -> Callable:
    """Up to K generations in one `lax.scan`: engine step, then `evaluate(values, keys) -> (P,)`.

    (base_key, state, table, told, plans (K stacked, no guess slots), active (K,), guesses, n_guesses,
    given (K, P) values, given_fingerprints (K, P, 2), use_given (K,)) -> ((state, table, told, values),
    records). Inactive iterations do nothing. Queued guesses fill the first generation only. An iteration
    with `use_given` takes its objective values from `given` when its fingerprints are `given_fingerprints`
    (a resumed run replaying its journal). `full_leaves[j]`: the records hold leaf j's values, else their
    summaries; `keep_values`: the carry ends with the decoded values of the last active generation.
    """

    def run(base_key, state, table, told, plans, active, guesses, n_guesses, given, given_fingerprints, use_given,
            last_values):
        def generation(carry, x):
            state, table, told, values_before = carry
            plan, index, given_f, given_fp, use = x
            plan = plan._replace(guesses=guesses, n_guesses=jnp.where(index == 0, n_guesses, 0))
            state, table, winner, population, values, fingerprints, duplicate = step(base_key, state, table, told,
                                                                                     plan)
            size = fingerprints.shape[0]
            keys = step_keys(base_key, plan.first_step, size, OBJECTIVE_SALT) if takes_key else None
            replayed = use & jnp.all(fingerprints == given_fp)
            f = jax.lax.cond(plan.propose & ~replayed, lambda: evaluate(values, keys).astype(value_dtype),
                             lambda: given_f.astype(value_dtype))
            told = Told(population, f, duplicate, jnp.sum(plan.counted).astype(jnp.int32), fingerprints, told.sign)
            leaves = tuple(v if full else s for v, s, full in zip(values, summaries(values), full_leaves))
            record = Record(winner, f, fingerprints, duplicate, population.local, population.temperature, replayed,
                            leaves)
            return (state, table, told, values if keep_values else values_before), record

        def maybe(carry, x):
            act, *rest = x
            return cond_or_zeros(act, generation, carry, tuple(rest), passes_carry=True)

        indices = jnp.arange(active.shape[0])
        return jax.lax.scan(maybe, (state, table, told, last_values),
                            (active, plans, indices, given, given_fingerprints, use_given))

    return run


def cond_or_zeros(pred: jax.Array, fn: Callable, *operands: Any, passes_carry: bool = False) -> Any:
    """`fn(*operands)` where `pred`, else zeros of its output shapes (`passes_carry`: `fn(carry, x)` returns
    (carry, out), and the other branch returns (carry unchanged, zeros of out)).

    `fn` is traced once: `lax.cond` traces the taken branch first, and the zeros branch reuses the shapes
    recorded then (with another tracing order it finds them with `jax.eval_shape`, tracing `fn` again).
    Tracing is most of a small space's start-up, and `fn` holds the whole proposal.
    """
    recorded = []

    def taken(*args):
        out = fn(*args)
        recorded.append(jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), out))
        return out

    def other(*args):
        shapes = recorded[-1] if recorded else jax.eval_shape(fn, *args)
        return (args[0], _zeros(shapes[1])) if passes_carry else _zeros(shapes)

    return jax.lax.cond(pred, taken, other, *operands)


def _zeros(shapes: Any) -> Any:
    return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
