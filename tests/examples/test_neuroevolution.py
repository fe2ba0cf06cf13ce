"""examples/neuroevolution.py: the rollout scores policies correctly and the search improves on the zero policy."""

import importlib

import jax
import numpy as np

neuro = importlib.import_module("examples.neuroevolution")


def test_a_hand_built_bang_bang_policy_solves_mountain_car():
    """push = sign(velocity), written as the MLP's weights, reaches the flag: the rollout and actions are right."""
    env = neuro.Environment("MountainCarContinuous-v0")
    policy = env.zeros()
    policy["w1"] = policy["w1"].at[1, 0].set(1000.0)  # hidden 0 ≈ sign(velocity)
    policy["w2"] = policy["w2"].at[0, 0].set(10.0)  # action ≈ tanh(10 · sign(v)) ≈ ±1
    keys = neuro.episode_keys(0, 4)
    assert env.score(policy, keys) > 80  # +100 at the flag, minus 0.1 per full-throttle step
    assert env.score(env.zeros(), keys) == 0.0  # the zero policy never reaches the flag


def test_common_random_numbers_make_the_objective_deterministic_and_rowwise():
    env = neuro.Environment("CartPole-v1")
    shapes = env.shapes()
    population = {k: jax.random.uniform(jax.random.key(i), (3, *s), minval=-2, maxval=2)
                  for i, (k, s) in enumerate(shapes.items())}
    f = jax.jit(env.mean_returns(neuro.episode_keys(0, 3)))
    first, again = np.asarray(f(population)), np.asarray(f(population))
    np.testing.assert_array_equal(first, again)
    row = {k: v[1:2] for k, v in population.items()}
    np.testing.assert_allclose(np.asarray(f(row))[0], first[1], rtol=1e-6)
    assert np.all((first >= 1) & (first <= 500))


def test_search_improves_on_the_zero_policy_by_a_margin():
    result = neuro.main("CartPole-v1", generations=6, population=32, episodes=2, held_out=4, quiet=True)
    assert result["initial"] < 15  # always pushing left: the pole falls within ~10 steps
    assert result["best"] >= 150
    assert result["held_out"] >= result["initial"] + 100  # the improvement carries over to unseen episodes
