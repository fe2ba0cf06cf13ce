"""The learned shape of phase-2 moves: factorisation, fixed-order sums, the block, and that it learns."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hopper_jax as hj
from support import quick_jit
from hopper_jax.core import covariance as cov
from hopper_jax.core.algorithm import MUTATE, hopper
from hopper_jax.space.compile import Space


def _spd(n, seed=0, condition=1e4):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return ((q * np.geomspace(1.0, condition, n)) @ q.T).astype(np.float32)


@pytest.mark.parametrize("n", [2, 7, 40])
def test_cholesky_factors_a_positive_definite_matrix(n):
    c = _spd(n, seed=n)
    factor = np.asarray(quick_jit(cov.cholesky)(c))
    assert np.allclose(np.triu(factor, 1), 0.0)  # lower triangular
    np.testing.assert_allclose(factor @ factor.T, c, rtol=1e-3, atol=1e-3 * np.abs(c).max())


def test_cholesky_of_a_singular_matrix_stays_finite():
    v = np.array([1.0, 2.0, -1.0], np.float32)
    factor = np.asarray(cov.cholesky(np.outer(v, v)))
    assert np.all(np.isfinite(factor))
    np.testing.assert_allclose(factor @ factor.T, np.outer(v, v), atol=1e-5)


@pytest.mark.parametrize("seed", range(5))
def test_cholesky_of_a_low_rank_matrix_is_bounded_by_its_largest_variance(seed):
    """Rank 3 in 20-D with one stretched direction (a discus-like learned shape): round-off below the floored
    pivots once grew to inf and NaN, and a NaN factor made NaN candidates."""
    a = np.random.default_rng(seed).normal(size=(20, 3)).astype(np.float32)
    a[:, 0] *= 1e3
    c = a @ a.T
    factor = np.asarray(quick_jit(cov.cholesky)(jnp.asarray(c)))
    assert np.all(np.isfinite(factor))
    assert np.max(np.abs(factor)) <= 1.001 * np.sqrt(np.max(np.diag(c)))
    np.testing.assert_allclose(factor @ factor.T, c, atol=1e-3 * np.max(np.diag(c)))


def test_matvec_is_the_product_and_does_not_depend_on_the_batch():
    a, g = _spd(9, seed=1), np.random.default_rng(2).standard_normal((7, 9)).astype(np.float32)
    batched = np.asarray(quick_jit(jax.vmap(cov.matvec, in_axes=(None, 0)))(a, g))
    np.testing.assert_allclose(batched, g @ a.T, rtol=1e-5, atol=1e-5)
    alone = np.stack([np.asarray(quick_jit(cov.matvec)(a, row)) for row in g])
    assert np.array_equal(batched, alone)  # the same bits, row by row or in a population


def test_the_block_holds_small_continuous_leaves_only():
    space = Space({"a": hj.float(0, 1, shape=(3,)), "n": hj.int(0, 5), "u": hj.float(None, None),
                   "c": hj.choice("x", "y")})
    encodings = [space.leaves[i].encoding for i in space.array_leaves]
    block = cov.find_block(encodings, [True] * len(encodings), list(space.array_leaves), space.size)
    assert block.size == 4  # the (3,) float and the unbounded scalar; not the int, not the choice
    np.testing.assert_array_equal(np.sort(block.scale), np.float32([0.3, 0.3, 0.3, 1.0]))
    assert block.params.sum() == 2
    assert cov.find_block(encodings, [True] * len(encodings), list(space.array_leaves), space.size, limit=3) is None
    one = Space({"x": hj.float(0, 1), "n": hj.int(0, 5)})
    one_encodings = [one.leaves[i].encoding for i in one.array_leaves]
    assert cov.find_block(one_encodings, [True, True], list(one.array_leaves), one.size) is None  # a single float


def test_a_telling_without_improvement_changes_nothing():
    algo = hopper(Space({"x": hj.float(0, 1, shape=(4,))}))
    state = algo.init()._replace(best_score=jnp.float32(10.0))
    population = quick_jit(algo.ask)(jax.random.key(0), state, jnp.full((8,), 0.9))
    told = quick_jit(algo.tell)(state, population, jnp.zeros(8))
    for name in ("covariance", "factor", "path"):
        assert np.array_equal(np.asarray(getattr(told, name)), np.asarray(getattr(state, name)))


def test_with_the_identity_factor_moves_are_the_axis_moves():
    """Until a success is told, a row moves exactly the elements its temperature selects."""
    algo = hopper(Space({"x": hj.float(0, 1, shape=(10,))}), hop_share=0)  # hops: test_hops.py
    state = algo.init()
    population = quick_jit(algo.ask)(jax.random.key(3), state, jnp.full((16,), 0.9))
    rows = np.asarray(algo.encode(population)[0])
    moved = np.sum(rows != np.asarray(state.best[0]), axis=1)
    temperature = np.asarray(population.temperature)
    assert np.array_equal(moved, np.clip(np.round(temperature * 10), 1, 10).astype(int))


def _run(algo, objective, generations, size=16, seed=0):
    state = algo.init()

    @quick_jit
    def generation(state, key, progress):
        population = algo.ask(key, state, jnp.full((size,), progress))
        return algo.tell(state, population, -jax.vmap(objective)(algo.decode(population)[0]))

    for g in range(generations):
        state = generation(state, jax.random.fold_in(jax.random.key(seed), g), g / generations)
    return state


def test_the_shape_learns_a_diagonal_valley_and_finds_its_minimum():
    """A rotated quadratic with condition 1e4 in 2-D: the learned covariance's long axis lies along the valley
    and the search gets far lower than with moves along the axes alone."""
    valley = np.array([1.0, 1.0]) / np.sqrt(2.0)
    across = np.array([1.0, -1.0]) / np.sqrt(2.0)

    def objective(x):  # minimum 0 at (0.3, 0.3) in the unit box
        z = x - 0.3
        return jnp.dot(z, valley) ** 2 + 1e4 * jnp.dot(z, across) ** 2

    space = Space({"x": hj.float(0, 1, shape=(2,))})
    learned = _run(hopper(space, model_steps=False), objective, 300)  # model steps would solve it without C
    axes = _run(hopper(space, covariance_limit=0, model_steps=False), objective, 300)
    eigenvalues, eigenvectors = np.linalg.eigh(np.asarray(learned.covariance))
    assert abs(eigenvectors[:, -1] @ valley) > 0.95
    assert eigenvalues[-1] / eigenvalues[0] > 100
    assert -float(learned.best_score) < 1e-7 and -float(axes.best_score) > 1e-5
    assert axes.covariance.shape == (0, 0)


@pytest.mark.parametrize("rate, correlated", [(4.0, False), (1.0, True)])
def test_the_path_rate_sets_how_far_one_element_moves_add_up_to_a_diagonal(monkeypatch, rate, correlated):
    """Winning moves along x, then y, then x … (a phase-2 move at d = 2 mostly changes one element) add up in the
    path to the diagonal they follow together: with CMA-ES's rate (the default) the path forgets too fast for a
    dozen of them to teach much correlation (0.43); a path four times longer (the ablation) gets 0.90."""
    monkeypatch.setattr(cov, "PATH_RATE", rate)
    c, path = jnp.eye(2, dtype=jnp.float32), jnp.zeros(2, jnp.float32)
    for k in range(12):
        y = jnp.asarray([[1.0, 0.0] if k % 2 == 0 else [0.0, 1.0]], jnp.float32)
        c, path = cov.adapt(c, path, y, jnp.array([True]), 0, jnp.bool_(True))
    c = np.asarray(c)
    correlation = c[0, 1] / np.sqrt(c[0, 0] * c[1, 1])
    assert (correlation > 0.85) if correlated else (0.3 < correlation < 0.5)
    assert np.isclose(np.trace(c), 2.0, rtol=1e-5)


def test_a_learned_factor_carries_a_move_to_the_correlated_elements():
    algo = hopper(Space({"x": hj.float(0, 1, shape=(3,)), "y": hj.float(0, 1)}), hop_share=0)  # hops: test_hops.py
    c = _spd(4, seed=5, condition=10.0)
    state = algo.init()._replace(covariance=c, factor=cov.cholesky(c))
    population = quick_jit(algo.ask)(jax.random.key(1), state, jnp.full((32,), 1.0))  # phase 2, T = 0.2
    rows = np.concatenate([np.asarray(r).reshape(32, -1) for r in algo.encode(population)], axis=1)
    best = np.concatenate([np.asarray(b).reshape(-1) for b in state.best])
    changed = (rows != best).sum(axis=1)
    moved = np.asarray(population.actions == MUTATE).any(axis=1)
    assert np.all(changed[~moved] == 0)
    # at T = 0.2 one element of x (or y alone) is chosen, yet the step along a column of the factor moves more
    assert np.all(changed[moved] >= 1) and np.any(changed[moved] == 4)


def test_the_dense_share_is_the_mean_squared_correlation():
    assert float(cov.dense_share(jnp.eye(3, dtype=jnp.float32))) == 0.0
    assert float(cov.dense_share(jnp.diag(jnp.asarray([1e-4, 1.0, 3.0], jnp.float32)))) == 0.0  # separable
    c = np.array([[1.0, 0.6], [0.6, 1.0]], np.float32)
    assert np.isclose(float(cov.dense_share(jnp.asarray(c))), 0.36, rtol=1e-5)
    c = _spd(5, seed=2, condition=100.0)
    r = c / np.sqrt(np.outer(np.diag(c), np.diag(c)))
    expected = (np.sum(r**2) - 5) / 20
    assert np.isclose(float(cov.dense_share(jnp.asarray(c))), expected, rtol=1e-4)


def test_the_dense_share_is_zero_when_switched_off(monkeypatch):
    monkeypatch.setattr(cov, "DENSE_BY_CORRELATION", False)
    assert float(cov.dense_share(jnp.asarray([[1.0, 0.9], [0.9, 1.0]], jnp.float32))) == 0.0


def test_a_correlated_shape_moves_every_block_element():
    """With C's correlations near 1 (share ≈ 1) a cold row moves all four elements, though its temperature
    selects one; with the share switched off the same rows move along one column of the factor."""
    c = np.full((4, 4), 0.999, np.float32) + 0.001 * np.eye(4, dtype=np.float32)
    algo = hopper(Space({"x": hj.float(0, 1, shape=(4,))}), hop_share=0)  # hops: test_hops.py
    state = algo.init()._replace(covariance=jnp.asarray(c), factor=cov.cholesky(c),
                                 best=(jnp.full((4,), 0.5, jnp.float32),))
    population = quick_jit(algo.ask)(jax.random.key(4), state, jnp.full((64,), 1.0))  # T = 0.2: one element
    changed = (np.asarray(algo.encode(population)[0]) != 0.5).sum(axis=1)
    assert float(cov.dense_share(state.covariance)) > 0.99 and np.all(changed == 4)


def test_tell_draws_again_the_block_steps_that_ask_took():
    """The covariance learns from the steps `tell` redraws from the rows' keys; they must be the steps the rows
    took (row - best = scale · T · y away from the walls), dense rows included."""
    c = _spd(3, seed=7, condition=30.0)
    space = Space({"x": hj.float(0, 1, shape=(3,))})
    algo = hopper(space, hop_share=0)  # hops: test_hops.py
    state = algo.init()._replace(covariance=jnp.asarray(c), factor=cov.cholesky(c),
                                 best=(jnp.full((3,), 0.5, jnp.float32),))
    assert 0.05 < float(cov.dense_share(state.covariance)) < 0.95
    population = quick_jit(algo.ask)(jax.random.key(5), state, jnp.full((64,), 1.0))
    block = cov.find_block([space.leaves[0].encoding], [True], [0], 1)
    ys = jax.vmap(cov.step, in_axes=(None, 0, 0, 0, None, None))(
        block, population.keys, population.temperature, population.actions == MUTATE, state.factor,
        cov.dense_share(state.covariance))
    steps = (np.asarray(algo.encode(population)[0]) - 0.5) / (block.scale * np.asarray(population.temperature)[:, None])
    inside = np.all(np.abs(np.asarray(algo.encode(population)[0]) - 0.5) < 0.49, axis=1)
    assert inside.sum() > 32
    np.testing.assert_allclose(steps[inside], np.asarray(ys)[inside], rtol=1e-3, atol=1e-4)
    sparse = jax.vmap(cov.step, in_axes=(None, 0, 0, 0, None, None))(
        block, population.keys, population.temperature, population.actions == MUTATE, state.factor, 0.0)
    assert np.any(np.asarray(ys) != np.asarray(sparse))  # some rows moved densely
