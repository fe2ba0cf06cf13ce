"""Tests for hopper_jax.core.population: dense rows written a batch of rows at a time, in bounded memory."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hopper_jax as hj
from support import quick_jit
from hopper_jax.core import rows
from hopper_jax.core.rows import where_rows
from hopper_jax.space.compile import Space

MIXED = Space({"w": hj.float(-2, 2, shape=(40,)), "n": hj.int(0, 9, shape=(3,)), "act": hj.choice("relu", "tanh")})


def _population(algo, size=10, seed=3):
    """Both phases and the merged candidate (row 0, given in full) in one population."""
    state = algo.init()
    state = state._replace(has_merged=jnp.bool_(True),
                           merged=tuple(jnp.full_like(b, 0.25) for b in state.best))
    return quick_jit(algo.ask)(jax.random.key(seed), state, jnp.linspace(0.9, 0.0, size))


def _views(algo, population, take, into):
    """decode, decode into earlier values, and fingerprints; each traced afresh."""
    values = quick_jit(algo.decode)(population)
    again = quick_jit(lambda p, v, t: algo.decode(p, into=v, take=t))(population, into, take)
    return values, again, quick_jit(algo.fingerprints)(population, values)


@pytest.mark.parametrize("batch_elements", [1, 130])  # one row per batch; 3 rows per batch, the last overlapping
def test_row_batches_give_the_same_values_and_fingerprints_as_one_pass(monkeypatch, batch_elements):
    algo = hj.hopper(MIXED)
    population = _population(algo)
    assert bool(population.sampled.any()) and bool(population.local.any()) and int(population.n_given) == 1
    take = jnp.arange(10) % 3 == 1
    into = tuple(jnp.full_like(v, -7) for v in algo.decode(population))
    whole = _views(algo, population, take, into)
    monkeypatch.setattr(rows, "CPU_BATCH_ELEMENTS", batch_elements)
    batched = _views(algo, population, take, into)
    for a, b in zip(jax.tree.leaves(whole), jax.tree.leaves(batched)):
        np.testing.assert_array_equal(a, b)
    values, again, _ = batched
    for v, a, old in zip(values, again, into):  # taken rows decoded again, the others left as they were
        np.testing.assert_array_equal(a, where_rows(take, v, old))
    np.testing.assert_array_equal(values[0][0], np.full(40, 0.25 * 4 - 2))  # the given row: the merged candidate


def test_a_generation_holds_its_values_once_plus_a_batch_of_rows(monkeypatch):
    """XLA's own accounting of ask → decode → fingerprints: the temporaries of a (32, 65536) population stay
    under half its size (they were about twice its size when whole-population intermediates existed)."""
    d, size = 2**16, 32
    monkeypatch.setattr(rows, "CPU_BATCH_ELEMENTS", d)
    algo = hj.hopper(Space({"w": hj.float(-1, 1, shape=(d,))}))

    def generation(key, state, progress):
        population = algo.ask(key, state, progress)
        values = algo.decode(population)
        return values, algo.fingerprints(population, values)

    population_bytes = size * d * 4
    for progress in (0.1, 0.9):  # phase 1 (sampled rows) and phase 2 (moved rows)
        compiled = quick_jit(generation).lower(jax.random.key(0), algo.init(), jnp.full((size,), progress)).compile()
        memory = compiled.memory_analysis()
        assert memory.output_size_in_bytes < 1.01 * population_bytes
        assert memory.temp_size_in_bytes < 0.5 * population_bytes
