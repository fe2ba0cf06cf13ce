"""The quadratic model of phase 2's model steps (hopper_jax.core.surrogate) and how the core uses it."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hopper_jax as hj
from support import quick_jit
from hopper_jax import Space, hopper
from hopper_jax.core import covariance as cov
from hopper_jax.core import surrogate
from hopper_jax.core.algorithm import MODEL, MUTATE


@pytest.mark.parametrize("rows", [1, 5, 8, 13])
def test_fixed_sum_adds_along_an_axis(rows):
    x = np.random.default_rng(rows).normal(size=(rows, 3)).astype(np.float32)
    np.testing.assert_allclose(surrogate.fixed_sum(jnp.asarray(x), axis=0), x.sum(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(surrogate.fixed_sum(jnp.asarray(x), axis=1), x.sum(1), rtol=1e-5, atol=1e-6)


def test_least_squares_by_qr_and_the_triangular_solves():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(12, 5)).astype(np.float32), rng.normal(size=12).astype(np.float32)
    r, c = map(np.asarray, surrogate.least_squares_qr(jnp.asarray(a), jnp.asarray(b)))
    assert np.allclose(r, np.triu(r))
    np.testing.assert_allclose(r.T @ r, a.T @ a, rtol=1e-4, atol=1e-4)  # R is the Cholesky factor of aᵀa
    x = np.asarray(surrogate.back_substitute(jnp.asarray(r), jnp.asarray(c)))
    np.testing.assert_allclose(x, np.linalg.lstsq(a, b, rcond=None)[0], rtol=1e-4, atol=1e-5)
    lower, rhs = r.T, np.arange(1.0, 6.0, dtype=np.float32)
    np.testing.assert_allclose(lower @ np.asarray(surrogate.forward_substitute(jnp.asarray(lower), jnp.asarray(rhs))),
                               rhs, rtol=1e-4)


def test_the_archive_keeps_the_best_finite_points_best_first():
    archive = surrogate.empty(4, 2, np.float32)
    points = np.arange(16.0, dtype=np.float32).reshape(8, 2)
    scores = np.array([1.0, -np.inf, 3.0, np.nan, 2.0, 3.0, 0.5, 9.0], np.float32)
    archive = surrogate.record(archive, jnp.asarray(points[:3]), jnp.asarray(scores[:3]))  # rows 0, 2
    assert int(archive.count) == 2 and not surrogate.ready(archive)
    np.testing.assert_array_equal(archive.scores[:2], [3.0, 1.0])
    archive = surrogate.record(archive, jnp.asarray(points[3:]), jnp.asarray(scores[3:]))  # rows 4 .. 7
    assert int(archive.count) == 6 and surrogate.ready(archive)
    np.testing.assert_array_equal(archive.scores, [9.0, 3.0, 3.0, 2.0])  # 1.0 and 0.5 dropped
    np.testing.assert_array_equal(archive.points, points[[7, 2, 5, 4]])  # a tie keeps the older row first


def test_the_archive_can_keep_the_latest_finite_points_in_a_ring(monkeypatch):
    monkeypatch.setattr(surrogate, "KEEP_BEST", False)
    archive = surrogate.empty(4, 2, np.float32)
    points = np.arange(12.0, dtype=np.float32).reshape(6, 2)
    scores = np.array([0.0, -np.inf, 2.0, np.nan, 4.0, 5.0], np.float32)
    archive = surrogate.record(archive, jnp.asarray(points[:3]), jnp.asarray(scores[:3]))  # rows 0, 2
    assert int(archive.count) == 2 and not surrogate.ready(archive)
    archive = surrogate.record(archive, jnp.asarray(points[3:]), jnp.asarray(scores[3:]))  # rows 4, 5
    assert int(archive.count) == 4 and surrogate.ready(archive)
    np.testing.assert_array_equal(archive.scores, [0.0, 2.0, 4.0, 5.0])
    np.testing.assert_array_equal(archive.points, points[[0, 2, 4, 5]])
    # more finite rows than the ring holds: the last ones, in order, after the ring's position
    archive = surrogate.record(archive, jnp.asarray(points), jnp.asarray(np.arange(6.0, 12.0, dtype=np.float32)))
    assert int(archive.count) == 10
    np.testing.assert_array_equal(archive.scores, [10.0, 11.0, 8.0, 9.0])  # slots 2, 3, 0, 1 get rows 2 .. 5


model_step = quick_jit(surrogate.model_step)


@quick_jit
def update(model, points, scores, center):
    """The points recorded, then the model fitted (as a JAX-mode tell does)."""
    return surrogate.fit(surrogate.record(model, points, scores), center)


def _filled(objective, center, n=3, scale=0.2, seed=0):
    rows = surrogate.archive_rows(n, n)
    points = center + scale * np.random.default_rng(seed).uniform(-1, 1, (rows, n)).astype(np.float32)
    scores = -np.array([objective(p) for p in points], np.float32)
    model, _ = update(surrogate.empty(rows, n, np.float32), jnp.asarray(points), jnp.asarray(scores),
                      jnp.asarray(center))
    delta, ok, _ = model_step(model, jnp.asarray(center))
    np.testing.assert_allclose(model.step, delta, rtol=1e-4, atol=1e-6)  # `update` fits it once the archive is full
    assert bool(model.ok) == bool(ok)
    return model


def test_a_model_step_lands_on_a_quadratic_minimum():
    h = np.array([[3.0, 1.0, 0.0], [1.0, 2.0, 0.5], [0.0, 0.5, 1.0]])
    minimum = np.array([0.45, 0.55, 0.5])
    center = np.full(3, 0.5, np.float32)
    archive = _filled(lambda x: 7.0 + (x - minimum) @ h @ (x - minimum), center)
    delta, ok, _ = model_step(archive, jnp.asarray(center))
    assert bool(ok)
    np.testing.assert_allclose(center + np.asarray(delta), minimum, atol=2e-4)


def test_the_same_model_step_is_not_taken_twice():
    h = np.diag([3.0, 2.0, 1.0])
    center = np.full(3, 0.5, np.float32)
    model = _filled(lambda x: (x - 0.45) @ h @ (x - 0.45), center)
    assert bool(model.ok)
    again, _ = quick_jit(surrogate.fit)(model, jnp.asarray(center))  # nothing new in the archive, the same best
    np.testing.assert_array_equal(again.step, model.step)
    assert not bool(again.ok)
    moved, _ = quick_jit(surrogate.fit)(model, jnp.asarray(center + 0.01))  # another best: another step
    assert bool(moved.ok)


def test_no_model_step_on_a_concave_fit_and_a_short_one_far_away():
    center = np.full(3, 0.5, np.float32)
    _, ok, _ = model_step(_filled(lambda x: -np.sum((x - 0.5) ** 2), center), jnp.asarray(center))
    assert not bool(ok)  # a maximum: no minimiser to go to
    far = np.array([5.0, -4.0, 3.0])
    archive = _filled(lambda x: np.sum((x - far) ** 2), center, scale=0.01)
    delta, ok, _ = model_step(archive, jnp.asarray(center))
    offsets = np.asarray(archive.points, np.float64) - center
    whiten = np.linalg.inv(np.linalg.cholesky(offsets.T @ offsets / len(offsets)))
    spread = np.max(np.abs(offsets @ whiten.T))  # the archive's extent in whitened coordinates
    assert bool(ok) and np.linalg.norm(whiten @ np.asarray(delta)) == pytest.approx(
        surrogate.TRUST_RADIUS * spread, rel=1e-3)  # at the trust radius, pointing at the minimum
    length = np.linalg.norm(np.asarray(delta))
    np.testing.assert_allclose(np.asarray(delta) / length, (far - center) / np.linalg.norm(far - center), atol=2e-2)


def test_a_model_step_in_an_archive_stretched_like_the_landscape():
    """Once phase 2 has learned a shape of condition 1e6, the archive's short directions are 1000 times shorter
    than its long ones: the fit, in whitened coordinates, still finds the minimum (unwhitened, their squared
    features fell under the ridge and no Hessian was positive definite)."""
    n, rng = 4, np.random.default_rng(2)
    rotation = np.linalg.qr(rng.normal(size=(n, n)))[0]
    curvature = 10.0 ** np.linspace(0, 6, n)
    minimum = np.full(n, 0.5)

    def objective(x):
        z = rotation.T @ (np.asarray(x, np.float64) - minimum)
        return float(np.sum(curvature * z * z))

    center = (minimum + rotation @ (1e-2 / np.sqrt(curvature))).astype(np.float32)
    rows = surrogate.archive_rows(n, n)
    shape = rotation * (3e-3 / np.sqrt(curvature))[None, :]  # points spread as the learned shape would
    points = (center + rng.normal(size=(rows, n)) @ shape.T).astype(np.float32)
    scores = -np.array([objective(p) for p in points], np.float32)
    model, shape = update(surrogate.empty(rows, n, np.float32), jnp.asarray(points), jnp.asarray(scores),
                          jnp.asarray(center))
    assert bool(model.ok)
    assert objective(center + np.asarray(model.step)) < 1e-4 * objective(center)
    hessian = rotation @ np.diag(curvature) @ rotation.T
    product = np.asarray(shape, np.float64) @ hessian  # the fit's inverse Hessian, up to a factor
    np.testing.assert_allclose(product / np.mean(np.diag(product)), np.eye(n), atol=2e-2)


def test_blending_a_fitted_shape_into_the_learned_one():
    covariance = np.diag([4.0, 1.0, 1.0]).astype(np.float32) * (3 / 6)
    shape = (jnp.asarray(covariance), jnp.asarray(np.linalg.cholesky(covariance)), jnp.zeros(3, jnp.float32))
    target = np.array([[2.0, 1.0, 0.0], [1.0, 2.0, 0.0], [0.0, 0.0, 2.0]], np.float32)
    scale = np.array([1.0, 1.0, 2.0], np.float32)
    unchanged = cov.blend_in(shape, jnp.asarray(target), scale, jnp.float32(0.0))
    for before, after in zip(shape, unchanged):  # rate 0: the same values
        np.testing.assert_array_equal(before, after)
    new, factor, path = cov.blend_in(shape, jnp.asarray(target), scale, jnp.float32(0.25))
    scaled = target / np.outer(scale, scale)
    expected = 0.75 * covariance + 0.25 * scaled * (3 / np.trace(scaled))
    np.testing.assert_allclose(new, expected, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(factor) @ np.asarray(factor).T, expected, rtol=1e-5)


def test_only_small_continuous_blocks_get_a_model():
    assert surrogate.archive_rows(2, 2) == 16 and surrogate.archive_rows(10, 12) == 128  # ≥ 1.5 × coefficients
    assert surrogate.archive_rows(1, 1) == 0 and surrogate.archive_rows(11, 11) == 0
    assert surrogate.archive_rows(4, surrogate.MODEL_SPACE_LIMIT + 1) == 0


def _search(algo, objective, generations, size=8, seed=0):
    @quick_jit
    def generation(state, key, progress):
        population = algo.ask(key, state, jnp.full((size,), progress))
        return algo.tell(state, population, -jax.vmap(objective)(algo.decode(population)[0])), population

    state, populations = algo.init(), []
    for g in range(generations):
        state, population = generation(state, jax.random.fold_in(jax.random.key(seed), g), g / generations)
        populations.append(population)
    return state, populations


def test_model_steps_solve_an_ill_conditioned_rotated_quadratic():
    """Condition 1e6 in 3-D, rotated: a quadratic model finds the minimum that the perturbations alone do not."""
    rotation = np.linalg.qr(np.random.default_rng(1).normal(size=(3, 3)))[0]
    weights = np.array([1.0, 1e3, 1e6])

    def objective(x):  # minimum 0 at 0.3 in the unit box
        z = jnp.asarray(rotation.T, jnp.float32) @ (x - 0.3)
        return jnp.sum(jnp.asarray(weights, jnp.float32) * z * z)

    space = Space({"x": hj.float(0, 1, shape=(3,))})
    modelled, populations = _search(hopper(space), objective, 40)
    plain, _ = _search(hopper(space, model_steps=False), objective, 40)
    assert -float(modelled.best_score) < 1e-2 * -float(plain.best_score)
    actions = np.stack([np.asarray(p.actions) for p in populations])  # (G, P, 1)
    assert np.any(actions == MODEL) and np.all(actions[:, :-1] != MODEL)  # the last row of a generation only
    assert np.any(actions[:, -1] == MUTATE)  # … while the archive fills or the fit has no minimum


def _quartic(x):
    """A minimum at 0.3 that a quadratic fit does not hit exactly: model steps that move."""
    return jnp.sum((x - 0.3) ** 2) + jnp.sum((x - 0.3) ** 4)


def test_no_model_step_once_it_would_round_back_to_the_best():
    space = Space({"x": hj.float(0, 1, shape=(2,))})
    algo = hopper(space)
    state, _ = _search(algo, lambda x: jnp.sum((x - 0.3) ** 2), 8)  # a quadratic: the best reaches its minimum
    best = np.asarray(state.best[0])
    np.testing.assert_array_equal(best + np.asarray(state.model_step), best)  # a step of nothing ...
    assert not bool(state.model_ok)  # ... is not taken (it would be a duplicate)
    population = quick_jit(algo.ask)(jax.random.key(5), state, jnp.ones(32))
    assert not np.any(np.asarray(population.actions) == MODEL)


def test_a_generation_ends_in_a_line_search_along_the_model_step():
    space = Space({"x": hj.float(0, 1, shape=(2,))})
    algo = hopper(space)
    state, _ = _search(algo, _quartic, 4)
    assert bool(state.model_ok)
    population = quick_jit(algo.ask)(jax.random.key(5), state, jnp.ones(32))
    modelled = np.any(np.asarray(population.actions) == MODEL, axis=1)
    rows = int(32 * surrogate.MODEL_ROWS)
    assert rows > 1 and modelled.tolist() == [False] * (32 - rows) + [True] * rows
    moves = np.asarray(algo.encode(population)[0])[-rows:] - np.asarray(state.best[0])  # (rows, 2)
    factors = surrogate.ladder(np.arange(rows))[::-1]  # the last row takes the step itself
    np.testing.assert_allclose(moves, factors[:, None] * np.asarray(state.model_step)[None, :], rtol=1e-5,
                               atol=1e-7)
    assert factors[-1] == 1.0 and sorted(factors) == sorted(set(factors))  # one step, the others distinct


def test_model_rows_leave_the_step_size_alone():
    space = Space({"x": hj.float(0, 1, shape=(2,))})
    algo = hopper(space)
    state, _ = _search(algo, _quartic, 4)
    population = quick_jit(algo.ask)(jax.random.key(3), state, jnp.ones(4))
    modelled = np.any(np.asarray(population.actions) == MODEL, axis=1)
    assert modelled.tolist() == [False, False, False, True]
    only_model = population._replace(local=jnp.asarray(modelled))
    failed = jnp.where(jnp.asarray(modelled), -1e9, -jnp.inf)
    told = quick_jit(algo.tell)(state, only_model, failed)
    assert float(told.log_step) == float(state.log_step)
    assert int(told.model_count) == int(state.model_count) + 1
