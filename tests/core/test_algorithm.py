"""Tests for hopper_jax.core.algorithm: the jittable init / ask / tell."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hopper_jax as hj
from support import quick_jit
import chex
import optax

from hopper_jax.core import algorithm, step_size
from hopper_jax.core.algorithm import KEEP, MUTATE, RESAMPLE, clipped, linear_temperature
from hopper_jax.core.step_size import LOG_STEP_RANGE
from hopper_jax.space.compile import Space
from hopper_jax.space.encodings import mutation_cap

# ---------------------------------------------------------------------------------------------------------------
# the requirement: many generations of ask -> evaluate -> tell inside one jitted lax.scan

SPHERE_SPACE = Space({"x": hj.float(-5, 5, shape=(20,))})
SPHERE_ALGO = hj.hopper(SPHERE_SPACE)
SHIFT = jnp.linspace(-3.0, 3.0, 20)
GENERATIONS, POPULATION = 200, 16


def sphere(x):
    return jnp.sum((x - SHIFT) ** 2)


@quick_jit
def run_sphere(key):
    algo = SPHERE_ALGO

    def generation(state, inputs):
        key, progress = inputs
        population = algo.ask(key, state, jnp.full((POPULATION,), progress))
        (x,) = algo.decode(population)
        state = algo.tell(state, population, -jax.vmap(sphere)(x))
        return state, state.best_score

    keys = jax.random.split(key, GENERATIONS)
    progress = jnp.arange(GENERATIONS, dtype=jnp.float32) / GENERATIONS
    return jax.lax.scan(generation, algo.init(), (keys, progress))


def test_scan_of_ask_evaluate_tell_minimises_a_shifted_sphere():
    state, best_scores = run_sphere(jax.random.key(0))
    best_scores = np.asarray(best_scores)
    initial_loss = float(sphere(jnp.zeros(20)))  # the initial guess is the middle of the box
    assert initial_loss > 60
    final_loss = -float(state.best_score)
    assert final_loss < 1e-3 * initial_loss, final_loss
    assert np.all(np.diff(best_scores) >= 0)  # elitist: the best never gets worse
    assert int(state.count) == GENERATIONS * POPULATION
    # the state's best is the candidate that scored best_score
    (best_x,) = SPHERE_SPACE.decode(state.best)
    assert float(sphere(best_x)) == pytest.approx(final_loss, rel=1e-5, abs=1e-9)
    assert np.all(np.abs(np.asarray(best_x)) <= 5)
    # phase 2 does the work: the best after the seeding quarter is far from the final one
    assert -best_scores[GENERATIONS // 4 - 1] > 100 * final_loss


def test_scan_is_reproducible_with_the_same_key():
    a, _ = run_sphere(jax.random.key(1))
    b, _ = run_sphere(jax.random.key(1))
    np.testing.assert_array_equal(np.asarray(a.best[0]), np.asarray(b.best[0]))
    assert float(a.best_score) == float(b.best_score)


# ---------------------------------------------------------------------------------------------------------------
# a space of 10 scalar floats; temperature T = 1 - progress, so each row can have its own temperature.
# Every call uses P rows and the same argument structure, so `ask` and `tell` compile once per explore form.

TEN = Space({f"p{i}": hj.float(0, 1) for i in range(10)})
# no hops (`hops`, tested in test_hops.py): every phase-2 row follows PyHopper's rules here
TEN_ALGO = hj.hopper(TEN, seeding_fraction=0.25, start_temperature=1.0, end_temperature=0.0, hop_share=0)
P = 20
_ask = quick_jit(TEN_ALGO.ask)
tell = quick_jit(TEN_ALGO.tell)
_encode = quick_jit(TEN_ALGO.encode)


def ask(key, state, progress, heat=1.0, explore=None):
    progress = jnp.asarray(np.resize(np.asarray(progress, np.float32), P))
    if explore is None:
        return _ask(key, state, progress, heat)
    return _ask(key, state, progress, heat, jnp.asarray(np.resize(np.asarray(explore, bool), P)))


def scores(values):
    return jnp.asarray(np.resize(np.asarray(values, np.float32), P))


def state_with(score: float, log_step: float = 0.0):
    state = TEN_ALGO.init()
    return state._replace(best_score=jnp.float32(score), log_step=jnp.float32(log_step))


def stacked(population):
    return np.stack([np.asarray(z) for z in _encode(population)], axis=1)  # (P, 10)


def best_of(state):
    return np.stack([np.asarray(z) for z in state.best])


def test_init_state():
    state = TEN_ALGO.init()
    assert float(state.best_score) == -np.inf
    assert float(state.log_step) == 0.0 and int(state.count) == 0
    np.testing.assert_array_equal(best_of(state), np.full(10, 0.5, np.float32))


def test_population_layout():
    population = ask(jax.random.key(0), TEN_ALGO.init(), [0.5])
    encoded = _encode(population)
    assert len(encoded) == 10 and all(z.shape == (P,) for z in encoded)
    assert all(i.shape == (P, 1) and m.shape == (P, 1) for i, m in zip(population.index, population.moved))
    assert population.actions.shape == (P, 10) and population.actions.dtype == jnp.int8
    assert population.local.shape == (P,) and population.temperature.shape == (P,)
    (decoded,) = [np.stack([np.asarray(v) for v in TEN_ALGO.decode(population)], axis=1)]
    assert decoded.shape == (P, 10) and np.all((decoded >= 0) & (decoded <= 1))


def test_number_of_mutated_parameters_is_max_1_round_t_n():
    # PyHopper's rule: k = max(1, round(T * n_params)), round half to even
    temperatures = [1.0, 0.81, 0.75, 0.5, 0.37, 0.25, 0.2, 0.12, 0.04, 0.0]
    t = np.repeat(np.asarray(temperatures, np.float32), P // len(temperatures))
    explore = np.zeros(P, bool)  # every row is a phase-2 row, even T = 1 (progress 0)
    population = ask(jax.random.key(3), TEN_ALGO.init(), 1.0 - t, 1.0, explore)
    temperature = np.asarray(population.temperature)
    np.testing.assert_allclose(temperature, t, atol=1e-6)
    actions = np.asarray(population.actions)
    assert set(np.unique(actions).tolist()) <= {KEEP, MUTATE}
    mutated = np.sum(actions == MUTATE, axis=1)
    expected = np.maximum(1, np.round(temperature.astype(np.float64) * 10)).astype(int)
    np.testing.assert_array_equal(mutated, expected)
    by_t = dict(zip(temperatures, mutated[::P // len(temperatures)].tolist()))
    assert by_t[1.0] == 10 and by_t[0.75] == 8 and by_t[0.5] == 5 and by_t[0.25] == 2
    assert by_t[0.2] == 2 and by_t[0.04] == 1 and by_t[0.0] == 1
    # KEEP parameters are the best's values, MUTATE ones moved (T > 0 gives a non-zero step)
    values = stacked(population)
    assert np.all(values[actions == KEEP] == 0.5)
    moving = (actions == MUTATE) & (temperature[:, None] > 0)
    assert np.all(values[moving] != 0.5)


def test_mutation_masks_are_random_subsets():
    population = ask(jax.random.key(11), TEN_ALGO.init(), [0.5])  # T = 0.5: 5 of 10 per row
    actions = np.asarray(population.actions)
    assert np.all(np.sum(actions == MUTATE, axis=1) == 5)
    assert len({tuple(row) for row in actions}) > P // 2
    assert np.all(np.sum(actions == MUTATE, axis=0) > 0)  # every parameter gets picked somewhere


def test_phase_selection_by_progress_and_seeding_fraction():
    progress = [0.0, 0.1, 0.2499, 0.25, 0.5, 0.9]
    population = ask(jax.random.key(0), TEN_ALGO.init(), progress)
    local = np.asarray(population.local)
    assert local[:6].tolist() == [False, False, False, True, True, True]
    actions = np.asarray(population.actions)
    assert np.all(actions[~local] == RESAMPLE)
    assert np.all(actions[local] != RESAMPLE)
    values = stacked(population)
    assert np.all(values[~local] != 0.5)  # fresh samples
    assert np.all(np.sum(values[local] != 0.5, axis=1) >= 1)


def test_phase_selection_by_explore_overrides_progress():
    progress = [0.0, 0.0, 0.9, 0.9]
    explore = [True, False, True, False]
    population = ask(jax.random.key(1), TEN_ALGO.init(), progress, 1.0, explore)
    assert np.asarray(population.local)[:4].tolist() == [False, True, False, True]
    actions = np.asarray(population.actions)
    assert np.all(actions[[0, 2]] == RESAMPLE) and np.all(actions[[1, 3]] != RESAMPLE)


def test_all_seeding_and_all_local_populations():
    seeding = ask(jax.random.key(2), TEN_ALGO.init(), [0.0])
    assert not np.any(np.asarray(seeding.local))
    local = ask(jax.random.key(2), TEN_ALGO.init(), [1.0])
    assert np.all(np.asarray(local.local))
    # with T = 0 (progress 1) exactly one parameter is selected and the step is zero
    assert np.all(np.sum(np.asarray(local.actions) == MUTATE, axis=1) == 1)
    np.testing.assert_array_equal(stacked(local), np.full((P, 10), 0.5, np.float32))


def test_ask_is_deterministic_in_the_key():
    state = TEN_ALGO.init()
    progress = [0.0, 0.1, 0.5, 0.9]
    a = ask(jax.random.key(7), state, progress)
    b = ask(jax.random.key(7), state, progress)
    c = ask(jax.random.key(8), state, progress)
    np.testing.assert_array_equal(stacked(a), stacked(b))
    np.testing.assert_array_equal(np.asarray(a.actions), np.asarray(b.actions))
    assert not np.array_equal(stacked(a), stacked(c))
    assert np.all(np.any(stacked(a) != stacked(c), axis=1))  # every row differs


def test_ask_rows_are_independent():
    values = stacked(ask(jax.random.key(4), TEN_ALGO.init(), [0.0]))
    assert len({tuple(row) for row in values}) == P


def test_temperature_follows_schedule_and_heat():
    progress = [0.3, 0.5, 0.8, 1.0]
    population = ask(jax.random.key(0), TEN_ALGO.init(), progress)
    np.testing.assert_allclose(np.asarray(population.temperature)[:4], [0.7, 0.5, 0.2, 0.0], atol=1e-6)
    hot = ask(jax.random.key(0), TEN_ALGO.init(), progress, 2.0)
    np.testing.assert_allclose(np.asarray(hot.temperature)[:4], [1.0, 1.0, 0.4, 0.0], atol=1e-6)


def test_hot_asks_move_between_the_cold_and_the_heated_number_of_parameters():
    # T(0.9) = 0.1: one parameter moves cold; heat 5 gives T = 0.5, up to 5. A hot retry after a duplicate
    # must still be able to move a single parameter (on small spaces that is often the only unseen move).
    moved = []
    for seed in range(10):
        hot = ask(jax.random.key(seed), TEN_ALGO.init(), [0.9], 5.0)
        np.testing.assert_allclose(np.asarray(hot.temperature), 0.5, atol=1e-6)
        moved += np.sum(np.asarray(hot.actions) == MUTATE, axis=1).tolist()
    assert set(moved) == {1, 2, 3, 4, 5}
    cold = ask(jax.random.key(0), TEN_ALGO.init(), [0.9])
    assert np.all(np.sum(np.asarray(cold.actions) == MUTATE, axis=1) == 1)


def test_temperature_schedule_clipping():
    schedule = clipped(linear_temperature(3, -1))
    progress = jnp.linspace(-1.0, 2.0, 61)
    values = np.asarray(schedule(progress))
    assert np.all((values >= 0) & (values <= 1))
    np.testing.assert_allclose(np.asarray(schedule(jnp.asarray([0.0, 0.25, 0.5, 0.625, 0.75, 1.0]))),
                               [1, 1, 1, 0.5, 0, 0], atol=1e-6)
    default = clipped(linear_temperature(1.0, 0.2))
    np.testing.assert_allclose(np.asarray(default(jnp.asarray([0.0, 0.25, 1.0, 1.5, -1.0]))),
                               [1.0, 0.8, 0.2, 0.2, 1.0], atol=1e-6)


def test_any_optax_schedule_of_progress_sets_the_temperature_of_each_row():
    restarts = optax.sgdr_schedule([dict(init_value=1.0, peak_value=1.0, warmup_steps=0, decay_steps=0.25,
                                         end_value=0.2)] * 4)  # joined schedules take one scalar count only
    progress = jnp.asarray([0.3, 0.45, 0.5, 0.55, 0.74, 0.99], jnp.float32)
    algo = hj.hopper(TEN, temperature=restarts)
    population = quick_jit(algo.ask)(jax.random.key(0), algo.init(), progress)
    chex.assert_shape(population.temperature, (6,))
    chex.assert_type(population.temperature, jnp.float32)
    expected = [float(restarts(p)) for p in progress]
    np.testing.assert_allclose(np.asarray(population.temperature), expected, rtol=1e-6)
    assert expected[2] == pytest.approx(1.0) and expected[1] < 0.5  # a warm restart at progress 0.5
    moved = np.sum(np.asarray(population.actions) == MUTATE, axis=1)
    assert moved[2] == 10 and moved[4] < 10  # T sets how many of the 10 parameters move


def test_a_schedule_that_is_not_scalar_is_refused_when_traced():
    algo = hj.hopper(TEN, temperature=lambda p: jnp.full((2,), p))
    with pytest.raises(AssertionError):
        algo.ask(jax.random.key(0), algo.init(), jnp.full((4,), 0.5))


def test_tell_keeps_the_state_s_shapes_and_dtypes():
    mixed = Space({"x": hj.float(0, 1, shape=(3, 2)), "n": hj.int(0, 5), "c": hj.choice("a", "b", "c")})
    algo = hj.hopper(mixed)
    state = algo.init()
    chex.assert_shape((state.best_score, state.log_step, state.count, state.has_merged), ())
    chex.assert_type((state.best_score, state.log_step, state.count), (jnp.float32, jnp.float32, jnp.int32))
    for progress in (0.1, 0.9):  # a phase-1 and a phase-2 population
        population = quick_jit(algo.ask)(jax.random.key(1), state, jnp.full((5,), progress))
        told = quick_jit(algo.tell)(state, population, jnp.arange(5, dtype=jnp.float32))
        chex.assert_trees_all_equal_shapes_and_dtypes(told, state)
        chex.assert_tree_all_finite((told.best_score, told.log_step))


def test_tell_asserts_one_score_per_row():
    algo = TEN_ALGO
    population = quick_jit(algo.ask)(jax.random.key(0), algo.init(), jnp.full((4,), 0.5))
    with pytest.raises(AssertionError):
        algo.tell(algo.init(), population, jnp.zeros(3))


# ---------------------------------------------------------------------------------------------------------------
# tell


def test_tell_keeps_the_strict_best_and_ignores_nan():
    state = TEN_ALGO.init()
    population = ask(jax.random.key(5), state, [0.0])
    rows = stacked(population)
    state = tell(state, population, scores([1.0, 3.0, 2.0, np.nan]))
    assert float(state.best_score) == 3.0
    np.testing.assert_array_equal(best_of(state), rows[1])
    assert int(state.count) == P

    other = ask(jax.random.key(6), state, [0.0])
    same = tell(state, other, scores([3.0, 3.0, np.nan, 2.0]))  # ties do not replace the best
    assert float(same.best_score) == 3.0
    np.testing.assert_array_equal(best_of(same), rows[1])
    assert int(same.count) == 2 * P

    nan = tell(state, other, scores([np.nan]))
    assert float(nan.best_score) == 3.0
    np.testing.assert_array_equal(best_of(nan), rows[1])

    better = tell(state, other, scores([np.nan, 2.0, 3.5, 3.25]))
    assert float(better.best_score) == 3.5
    np.testing.assert_array_equal(best_of(better), stacked(other)[2])


def test_tell_all_nan_from_init_keeps_the_initial_guess():
    state = TEN_ALGO.init()
    population = ask(jax.random.key(5), state, [0.0])
    after = tell(state, population, scores([np.nan]))
    assert float(after.best_score) == -np.inf
    np.testing.assert_array_equal(best_of(after), np.full(10, 0.5, np.float32))
    assert int(after.count) == P


def test_tell_nan_is_never_the_winner_even_first():
    state = TEN_ALGO.init()
    population = ask(jax.random.key(9), state, [0.0])
    values = np.full(P, -100.0, np.float32)
    values[:3] = [np.nan, -5.0, -7.0]
    after = tell(state, population, jnp.asarray(values))
    assert float(after.best_score) == -5.0
    np.testing.assert_array_equal(best_of(after), stacked(population)[1])


def test_improving_moves_are_merged_into_row_0_of_the_next_cold_ask_only():
    from hopper_jax.core.algorithm import Population

    state = state_with(0.0)
    rows = np.full((P, 10), 0.5, np.float32)
    rows[np.arange(10), np.arange(10)] += 0.1  # row i moves parameter i
    index = tuple(jnp.asarray(np.where(np.arange(P) == j, 0, 1)[:, None], jnp.int32) for j in range(10))
    population = Population(jnp.zeros((P, 2), jnp.uint32), jnp.zeros(P, bool), state.best, index,
                            tuple(jnp.full((P, 1), 0.6, jnp.float32) for _ in range(10)),
                            tuple(z[None] for z in state.best), jnp.int32(0), jnp.ones(P, bool),
                            jnp.zeros((P, 10), jnp.int8), jnp.full(P, 0.5))
    np.testing.assert_allclose(stacked(population), rows, atol=1e-7)
    told = tell(state, population, scores([1.0, 2.0] + [-1.0] * (P - 2)))  # rows 0 and 1 improve
    np.testing.assert_array_equal(best_of(told), rows[1])
    assert bool(told.has_merged)
    merged = np.full(10, 0.5, np.float32)
    merged[:2] += 0.1
    np.testing.assert_allclose(np.stack([np.asarray(z) for z in told.merged]), merged, atol=1e-6)
    cold = stacked(ask(jax.random.key(0), told, [0.5]))
    np.testing.assert_allclose(cold[0], merged, atol=1e-6)
    hot = stacked(ask(jax.random.key(0), told, [0.5], 2.0))  # a retry after duplicates: a fresh move instead
    assert not np.allclose(hot[0], merged)
    assert not bool(tell(state, population, scores([1.0] + [-1.0] * (P - 1))).has_merged)  # one winner: no merge


def test_log_step_shrinks_after_failures_and_grows_after_successes():
    state = state_with(0.0)
    population = ask(jax.random.key(0), state, [0.5])  # phase-2 rows
    assert np.all(np.asarray(population.local))
    failed = tell(state, population, scores([-1.0]))
    assert float(failed.log_step) < 0.0
    succeeded = tell(state, population, scores([1.0]))
    assert float(succeeded.log_step) > 0.0
    # at the target success rate (1/5) the step stays put
    at_target = tell(state, population, scores([1.0, -1.0, -1.0, -1.0, -1.0]))
    assert float(at_target.log_step) == pytest.approx(0.0, abs=1e-6)
    # repeated failures keep shrinking the step down to the floor of the range, where it starts again from 0
    trail = []
    for _ in range(100):
        failed = tell(failed, population, scores([-1.0]))
        trail.append(float(failed.log_step))
    restart = trail.index(0.0)
    assert restart > 0 and all(b < a for a, b in zip(trail[:restart - 1], trail[1:restart]))
    assert trail[restart - 1] > LOG_STEP_RANGE[0] and trail[restart + 1] < 0.0
    for _ in range(100):
        succeeded = tell(succeeded._replace(best_score=jnp.float32(0.0)), population, scores([1.0]))
    assert float(succeeded.log_step) == pytest.approx(LOG_STEP_RANGE[1])


@pytest.mark.parametrize("by_size", [True, False])
def test_one_sequential_success_raises_the_log_step_by_the_spaces_rate(monkeypatch, by_size):
    """A 2-float space adapts at 1/(1 + 2/2) = 0.5 (0.2 with the setting off); a 10-float space at 0.2."""
    monkeypatch.setattr(step_size, "ADAPTATION_BY_SIZE", by_size)
    for space, rate in ((Space({"x": hj.float(0, 1, shape=2)}), 0.5 if by_size else 0.2), (TEN, 0.2)):
        algo = hj.hopper(space)
        state = algo.init()._replace(best_score=jnp.float32(0.0))
        ask, tell = (quick_jit(f, static_argnames="sequential") for f in (algo.ask, algo.tell))
        population = ask(jax.random.key(0), state, jnp.full((1,), 0.5), sequential=True)
        told = tell(state, population, jnp.ones(1, jnp.float32), sequential=True)
        assert float(told.log_step) == pytest.approx(rate, abs=2**-16)  # rounded to a dyadic number


def test_log_step_ignores_phase_1_rows():
    state = state_with(0.0, log_step=-1.0)
    population = ask(jax.random.key(0), state, [0.0])  # seeding rows
    assert float(tell(state, population, scores([-1.0])).log_step) == -1.0
    assert float(tell(state, population, scores([1.0])).log_step) == -1.0


def test_only_rows_that_moved_floats_alone_adapt_the_step():
    space = Space({"x": hj.float(0.0, 1.0), "y": hj.float(0.0, 1.0), "n": hj.int(0, 9), "c": hj.choice("a", "b")})
    algo = hj.hopper(space, hop_share=0)  # hops never count (test_hops.py)
    state = algo.init()._replace(best_score=jnp.float32(0.0))
    size = 64
    population = quick_jit(algo.ask)(jax.random.key(3), state, jnp.full((size,), 0.5))
    moved = np.asarray(population.actions) == MUTATE  # (P, 4): x, y, n, c
    floats_only = ~moved[:, 2:].any(axis=1)
    assert 0 < floats_only.sum() < size  # both kinds of rows are there
    tell = quick_jit(algo.tell, static_argnames="sequential")
    all_fail = jnp.full((size,), -1.0)
    only_discrete = population._replace(local=jnp.asarray(~floats_only))
    assert float(tell(state, only_discrete, all_fail).log_step) == 0.0  # their failures say nothing of the step
    only_floats = population._replace(local=jnp.asarray(floats_only))
    assert float(tell(state, only_floats, all_fail).log_step) < 0.0
    # sequential tells count the same rows; a speculative ask assumes exactly those earlier rows failed
    told = tell(state, population, all_fail, sequential=True)
    failure = step_size.adaptation_rate(2) * step_size.SUCCESS_TARGET / (1 - step_size.SUCCESS_TARGET)  # 2 floats
    expected = -floats_only.sum() * failure
    assert float(told.log_step) == pytest.approx(expected, abs=1e-3)


def test_a_space_without_floats_keeps_its_step():
    algo = hj.hopper(Space({"n": hj.int(0, 9), "c": hj.choice("a", "b", "c")}))
    state = algo.init()._replace(best_score=jnp.float32(0.0))
    population = quick_jit(algo.ask)(jax.random.key(0), state, jnp.full((16,), 0.5))
    assert float(quick_jit(algo.tell)(state, population, jnp.full((16,), -1.0)).log_step) == 0.0


def test_smaller_log_step_gives_smaller_moves():
    wide = stacked(ask(jax.random.key(0), state_with(0.0, 0.0), [0.5]))
    narrow = stacked(ask(jax.random.key(0), state_with(0.0, -6.0), [0.5]))
    assert np.abs(narrow - 0.5).max() < 0.05 * np.abs(wide - 0.5).max()


# ---------------------------------------------------------------------------------------------------------------
# a large array parameter and a conditional choice through ask


def test_ask_on_a_large_array_moves_few_elements_at_low_temperature():
    space = Space({"x": hj.float(-1, 1, shape=(10_000,))})
    algo = hj.hopper(space, start_temperature=0.01, end_temperature=0.01)
    population = quick_jit(algo.ask)(jax.random.key(0), algo.init(), jnp.full((8,), 0.5))
    (x,) = quick_jit(algo.encode)(population)
    changed = np.sum(np.asarray(x) != 0.5, axis=1)
    assert np.all(changed >= 1) and np.all(changed <= round(0.01 * mutation_cap(10_000))), changed
    (values,) = algo.decode(population)
    assert np.all(np.abs(np.asarray(values)) <= 1)


def test_ask_resamples_the_subtree_of_a_choice_that_switches_on():
    space = Space({"opt": hj.choice("sgd", {"name": "adam", "b1": hj.float(0, 1)}), "lr": hj.float(0, 1)})
    algo = hj.hopper(space, start_temperature=0.2, end_temperature=0.2)  # one parameter moves per row
    population = quick_jit(algo.ask)(jax.random.key(0), algo.init(), jnp.full((256,), 0.5))
    opt, b1, lr = (np.asarray(z) for z in quick_jit(algo.encode)(population))
    switched = opt == 1
    assert 30 < switched.sum() < 200
    assert np.all(b1[switched] != 0.5)  # fresh sample of the option that became active
    assert np.all(lr[switched] == 0.5)  # only the choice was selected
    assert len(np.unique(b1[switched])) == switched.sum()


@pytest.mark.parametrize("batch_elements", [1, 24])  # one row per batch; 3 rows per batch with a remainder
def test_phase_1_sampling_in_row_batches_gives_the_same_population_as_one_vmap(monkeypatch, batch_elements):
    from hopper_jax.core import rows

    space = Space({"w": hj.float(-2, 2, shape=(6,)), "n": hj.int(0, 9), "lr": hj.float(1e-4, 1e-1, log=True),
                   "act": hj.choice("relu", "tanh")})
    algo = hj.hopper(space)
    key, progress = jax.random.key(3), jnp.linspace(0.0, 0.5, 10)  # both phases in one population

    def ask():  # a fresh function each time, so that jit traces it again (phase-1 rows are drawn by decode)
        function = quick_jit(lambda k, s, p: algo.decode(algo.ask(k, s, p)))
        return function(key, algo.init(), progress), function.lower(key, algo.init(), progress).as_text()

    whole, whole_program = ask()
    monkeypatch.setattr(rows, "CPU_BATCH_ELEMENTS", batch_elements)
    batched, batched_program = ask()
    assert batched_program.count("stablehlo.while") > whole_program.count("stablehlo.while")  # a scan over batches
    for a, b in zip(jax.tree.leaves(whole), jax.tree.leaves(batched)):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(whole[0][0], whole[0][1])  # rows differ: keys were not reused


def test_discrete_values_may_stay_only_in_rows_where_a_float_moves():
    # one float, two ints and a nominal choice; cold rows move one or two parameters
    space = Space({"x": hj.float(0, 1), "k": hj.int(0, 20), "j": hj.int(0, 3), "c": hj.choice("a", "b", "c")})
    algo = hj.hopper(space, seeding_fraction=0.0, start_temperature=0.5, end_temperature=0.5)
    state, ask = algo.init(), quick_jit(algo.ask)
    start = np.asarray([float(np.asarray(v).reshape(-1)[0]) for v in space.decode(state.best)])
    kept_beside_a_float = changed_alone = rows_alone = 0
    for seed in range(8):
        population = ask(jax.random.key(seed), state, jnp.full((256,), 0.5))
        actions = np.asarray(population.actions)
        values = np.stack([np.asarray(v).reshape(256) for v in algo.decode(population)], axis=1)
        for row, action in zip(values, actions):
            moved = action == MUTATE
            differs = row != start
            assert not np.any(differs & ~moved)  # only what was chosen moves
            if moved[0]:
                kept_beside_a_float += int(np.sum(moved[1:] & ~differs[1:]))
            else:
                rows_alone += 1
                changed_alone += int(np.all(differs[moved]))
    assert rows_alone > 200
    assert changed_alone == rows_alone  # no float moves: every chosen discrete parameter changes
    assert kept_beside_a_float > 50  # beside a moving float, some keep their value (as in PyHopper)
