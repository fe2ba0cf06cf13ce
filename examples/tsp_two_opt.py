"""A travelling-salesman tour as a custom parameter, mutated by random 2-opt moves.

`hj.custom(seeding_fn, mutation_fn)` declares a parameter that lives in Python: phase 1 calls
`seeding_fn()` (a random permutation), phase 2 calls `mutation_fn(best_tour, temperature)`, where the
temperature anneals from 1 to 0.2 over the run. A 2-opt move reverses one segment of the tour; a hot
mutation makes up to three moves, a cold one a single move. The result is compared with the random tour the
search starts from and with a greedy nearest-neighbour tour.

    python examples/tsp_two_opt.py                 # 40 cities, 4000 steps
    python examples/tsp_two_opt.py --cities 60 --steps 10000
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np

import hopper_jax as hj

MAX_MOVES = 3  # 2-opt moves per mutation at temperature 1 (one below temperature ~0.5)


def random_cities(n: int, seed: int) -> np.ndarray:
    """n cities uniformly in the unit square, shape (n, 2)."""
    return np.random.default_rng(seed).random((n, 2))


def tour_length(tour: np.ndarray, cities: np.ndarray) -> float:
    """Length of the closed tour visiting `cities` in the order `tour`."""
    points = cities[np.asarray(tour)]
    return float(np.linalg.norm(points - np.roll(points, -1, axis=0), axis=1).sum())


def nearest_neighbour_tour(cities: np.ndarray) -> np.ndarray:
    """Greedy tour from city 0: always go to the closest unvisited city."""
    distances = np.linalg.norm(cities[:, None] - cities[None], axis=-1)
    tour, unvisited = [0], set(range(1, len(cities)))
    while unvisited:
        nearest = min(unvisited, key=lambda city: distances[tour[-1], city])
        tour.append(nearest)
        unvisited.remove(nearest)
    return np.asarray(tour)


def two_opt_mutation(rng: np.random.Generator, max_moves: int = MAX_MOVES) -> Callable[[np.ndarray, float], np.ndarray]:
    """mutation_fn(tour, temperature): 1 + round(temperature² · (max_moves - 1)) random segment reversals."""

    def mutate(tour: np.ndarray, temperature: float) -> np.ndarray:
        tour = np.array(tour)  # never modify the best tour in place
        moves = 1 + round(min(max(temperature, 0.0), 1.0) ** 2 * (max_moves - 1))
        for _ in range(moves):
            i, j = np.sort(rng.choice(len(tour), size=2, replace=False))
            tour[i:j + 1] = tour[i:j + 1][::-1]
        return tour

    return mutate


def main(n_cities: int = 40, steps: int = 4000, seed: int = 0, quiet: bool = False) -> dict[str, float]:
    """Optimise a tour; return the lengths of the random start, the nearest-neighbour tour and the best found."""
    cities = random_cities(n_cities, seed)
    rng = np.random.default_rng(seed + 1)  # the custom parameter's own randomness, seeded for reproducibility
    search = hj.Search(tour=hj.custom(seeding_fn=lambda: rng.permutation(n_cities),
                                      mutation_fn=two_opt_mutation(rng)))
    start = tour_length(search.best["tour"], cities)  # the initial value: one seeding_fn() draw
    # Random tours teach a local search nothing: keep phase 1 short.
    best = search.run(lambda c: tour_length(c["tour"], cities), "min", steps=steps, seeding_steps=min(10, steps),
                      seed=seed, quiet=quiet)
    assert sorted(best["tour"].tolist()) == list(range(n_cities))  # still a permutation
    return {"random start": start, "nearest neighbour": tour_length(nearest_neighbour_tour(cities), cities),
            "hopper_jax 2-opt": float(search.best_f)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cities", type=int, default=40)
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for name, length in main(args.cities, args.steps, args.seed, quiet=True).items():
        print(f"{name:>18}: {length:.3f}")
