"""examples/brax_neuroevolution.py: the search beats standing still, and the Brax objective is deterministic."""

import importlib

import numpy as np
import pytest

brax_neuro = importlib.import_module("examples.brax_neuroevolution")

GENERATIONS, POPULATION = 6, 16


@pytest.fixture(scope="module")
def setup():
    """A short hopper task (2 episodes of 100 steps), its objective, and one small search on it."""
    env = brax_neuro.Environment("hopper", "spring", episode_length=100)
    objective = env.mean_returns(brax_neuro.episode_keys(0, 2))
    search, best, progress = brax_neuro.train(env, objective, GENERATIONS, POPULATION, seed=0)
    return env, objective, search, best, progress


def test_search_beats_the_zero_policy_and_returns_policy_shaped_arrays(setup):
    env, _, search, best, progress = setup
    initial = search.history.fs[search.history.types.index(brax_neuro.hj.CandidateType.INIT)]
    assert 95 <= initial <= 101  # the zero policy stands until T on 'spring': +1 per step alive
    assert search.best_f >= initial + 50  # moving forward earns its velocity [m/s] per step on top (seed 0: 224)
    assert {k: np.shape(v) for k, v in best.items()} == env.shapes() == {
        "w1": (11, brax_neuro.HIDDEN), "b1": (brax_neuro.HIDDEN,), "w2": (brax_neuro.HIDDEN, 3), "b2": (3,)}
    assert all(np.all(np.abs(np.asarray(v)) <= brax_neuro.BOUND) for v in best.values())
    assert len(progress.best) == len(progress.seconds) == GENERATIONS
    assert progress.best == sorted(progress.best) and progress.best[-1] == pytest.approx(search.best_f)
    assert progress.steps_per_second(POPULATION * 2 * 100) > 0


def test_the_objective_is_deterministic_and_a_rerun_reuses_its_compiled_rollout(setup):
    """Fixed reset keys make the objective a function of the policy: a second search with the same seed evaluates
    the same candidates to exactly the same values, and it reuses the first search's compiled rollout and engine.
    (Scoring the best again in a fresh `jax.jit` would compile the rollout once more: ~10 s here.)"""
    env, objective, first, best, first_progress = setup
    search, again, progress = brax_neuro.train(env, objective, GENERATIONS, POPULATION, seed=0)
    assert search.history.fs == first.history.fs and search.best_f == first.best_f
    for name, value in best.items():
        np.testing.assert_array_equal(again[name], value)
    assert progress.seconds[-1] < first_progress.seconds[0] / 2  # the whole rerun: no compile
