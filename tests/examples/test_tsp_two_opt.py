"""examples/tsp_two_opt.py: a custom tour parameter with a temperature-dependent 2-opt mutation."""

import importlib

import numpy as np

tsp = importlib.import_module("examples.tsp_two_opt")


def test_two_opt_search_beats_the_random_start_and_nearest_neighbour():
    lengths = tsp.main(n_cities=30, steps=1500, seed=0, quiet=True)
    assert lengths["hopper_jax 2-opt"] < 0.4 * lengths["random start"]
    assert lengths["hopper_jax 2-opt"] < lengths["nearest neighbour"]


def test_mutation_makes_more_moves_when_hot_and_keeps_a_permutation():
    tour = np.arange(50)

    def changed_edges(temperature: float) -> float:
        mutate = tsp.two_opt_mutation(np.random.default_rng(0))
        counts = []
        for _ in range(200):
            new = mutate(tour, temperature)
            assert sorted(new.tolist()) == list(range(50))
            edges = {frozenset(e) for e in zip(new, np.roll(new, -1))}
            counts.append(50 - len(edges & {frozenset(e) for e in zip(tour, np.roll(tour, -1))}))
        return float(np.mean(counts))

    assert np.array_equal(tour, np.arange(50))  # the best tour is never modified in place
    assert changed_edges(1.0) > 1.5 * changed_edges(0.0)
