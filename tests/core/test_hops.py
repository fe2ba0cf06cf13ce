"""Hops: phase-2 rows that resample one block element from its prior."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import hopper_jax as hj
from hopper_jax import Space, hopper
from hopper_jax.core import hops
from hopper_jax.core.algorithm import HOP, MUTATE
from support import quick_jit


def _keys(count: int, seed: int = 0) -> jax.Array:
    return jax.random.key_data(jax.random.split(jax.random.key(seed), count))


def test_a_share_of_rows_hop_and_a_hop_moves_one_element_into_the_unit_box():
    keys = _keys(4000)
    rows = np.asarray(hops.hop_rows(keys, 0.1))
    assert 0.08 < rows.mean() < 0.12
    assert not np.any(np.asarray(hops.hop_rows(keys, 0.0)))
    current = jnp.full((6,), 0.25, jnp.float32)
    steps = np.asarray(jax.vmap(lambda k: hops.hop_step(k, current))(keys[:500]))
    assert np.all(np.count_nonzero(steps, axis=1) <= 1)
    moved = current[0] + steps.sum(axis=1)  # the moved element's new value
    assert np.all((moved >= 0) & (moved <= 1))
    assert np.unique(np.argmax(np.abs(steps), axis=1)).size == 6  # every element gets its turn
    np.testing.assert_array_equal(steps, jax.vmap(lambda k: hops.hop_step(k, current))(keys[:500]))


def test_hop_rows_of_an_ask_keep_the_best_but_one_element():
    space = Space({"x": hj.float(-2, 2, shape=(5,))})
    algo = hopper(space, hop_share=0.25)
    state = algo.init()
    population = quick_jit(algo.ask)(jax.random.key(1), state, jnp.full((64,), 0.9))
    actions = np.asarray(population.actions)[:, 0]
    hopping = actions == HOP
    assert 5 < hopping.sum() < 30 and np.all(actions[~hopping] == MUTATE)
    rows = np.asarray(algo.encode(population)[0])
    changed = rows[hopping] != np.asarray(state.best[0])
    assert np.all(changed.sum(axis=1) <= 1) and changed.sum() >= hopping.sum() - 1
    seeding = quick_jit(algo.ask)(jax.random.key(1), state, jnp.zeros(64))  # phase 1 (progress 0)
    assert not np.any(np.asarray(seeding.actions) == HOP)


def test_only_blocks_of_bounded_linear_floats_hop():
    for params in ({"x": hj.float(1e-3, 1.0, shape=(4,), log=True)}, {"x": hj.float(None, None, shape=(4,))}):
        algo = hopper(Space(params), hop_share=0.5)
        population = quick_jit(algo.ask)(jax.random.key(2), algo.init(), jnp.full((64,), 0.9))
        assert not np.any(np.asarray(population.actions) == HOP)


def test_hops_leave_the_step_size_and_the_shape_alone():
    algo = hopper(Space({"x": hj.float(0, 1, shape=(4,))}), hop_share=1.0, model_steps=False)
    state = algo.init()._replace(best_score=jnp.float32(0.0))
    population = quick_jit(algo.ask)(jax.random.key(3), state, jnp.full((16,), 0.9))
    assert np.all(np.asarray(population.actions) == HOP)
    tell = quick_jit(algo.tell, static_argnames="sequential")
    for scores in (jnp.full((16,), -1.0), jnp.linspace(1.0, 2.0, 16)):  # all fail / all improve
        for sequential in (False, True):
            told = tell(state, population, scores, sequential=sequential)
            assert float(told.log_step) == float(state.log_step)
            np.testing.assert_array_equal(told.covariance, state.covariance)
    assert float(tell(state, population, jnp.linspace(1.0, 2.0, 16)).best_score) == 2.0  # a hop may win


def _styblinski_tang(x):
    """Separable, two basins per coordinate; the global one at -2.9035 in each, f = 0 there."""
    z = 5.0 * x  # the unit box's [-1, 1] → [-5, 5]
    return jnp.sum(0.5 * (z**4 - 16 * z**2 + 5 * z)) + 39.16617 * x.shape[0]


def test_hops_find_the_global_basin_of_every_coordinate():
    space = Space({"x": hj.float(-1, 1, shape=(4,))})

    def search(algo, generations=60, size=16):
        @quick_jit
        def generation(state, key, progress):
            population = algo.ask(key, state, jnp.full((size,), progress))
            return algo.tell(state, population, -jax.vmap(_styblinski_tang)(algo.decode(population)[0]))

        state = algo.init()
        for g in range(generations):
            state = generation(state, jax.random.fold_in(jax.random.key(0), g), g / generations)
        return -float(state.best_score)

    with_hops, without = search(hopper(space)), search(hopper(space, hop_share=0))
    assert with_hops < 1e-2 < without  # a local basin is 14.1 worse per coordinate
