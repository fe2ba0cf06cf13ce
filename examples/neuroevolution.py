"""Neuroevolution: an MLP policy for a gymnax environment, trained by hopper_jax in mode='jax-batched'.

The policy is a dict of weight arrays (one `hj.float(-BOUND, BOUND, shape=...)` per layer), a one-hidden-
layer tanh MLP. A candidate is scored by its mean undiscounted return over K episodes, each a `lax.scan`
over the environment's full horizon (rewards after termination are masked); the whole population × K
episodes is one vmapped, jitted call per generation (mode='jax-batched': the objective maps the population
itself, every row on the same episode keys).

Common random numbers: every candidate of every generation is scored on the *same* K episodes (fixed
reset and step keys for the whole run), so the objective is deterministic. hopper_jax keeps the best
score it has seen and never re-evaluates it; with fresh episodes each generation a lucky evaluation would
become a best that nothing can beat. The price is over-fitting to K start states, so the final policy is
also scored on held-out episodes (other keys).

    python examples/neuroevolution.py                          # Acrobot-v1, 60 generations × 64, ~20 s
    python examples/neuroevolution.py --env MountainCarContinuous-v0 --generations 100
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import NamedTuple

import gymnax
import jax
import jax.numpy as jnp

import hopper_jax as hj

HIDDEN = 16  # tanh units
BOUND = 2.0  # hopper_jax box for every weight and bias: [-BOUND, BOUND]
Policy = dict[str, jax.Array]  # "w1" (obs, H), "b1" (H,), "w2" (H, A), "b2" (A,); leading axis P in a population


class Task(NamedTuple):
    """A gymnax environment and what counts as solved (mean return over episodes)."""

    name: str
    threshold: float  # mean episode return at which the task counts as solved


TASKS = {t.name: t for t in (
    Task("Acrobot-v1", -100.0),  # -1 per step until the tip swings above the bar; 500 steps max (gym's threshold)
    Task("MountainCarContinuous-v0", 90.0),  # +100 at the flag, -0.1 a² per step; 999 steps max (gym's threshold)
    Task("Pendulum-v1", -200.0),  # -(θ² + 0.1 θ̇² + 0.001 u²) per step; 200 steps, no termination
    Task("CartPole-v1", 475.0),  # +1 per step upright; 500 steps max (gym's threshold)
)}


class Environment:
    """A gymnax environment with an MLP policy: shapes, actions and K-episode returns."""

    def __init__(self, name: str, hidden: int = HIDDEN):
        self.task = TASKS[name]
        self.env, self.params = gymnax.make(name)
        space = self.env.action_space(self.params)
        self.discrete = not hasattr(space, "low")
        self.n_out = space.n if self.discrete else space.shape[0]
        self.high = None if self.discrete else jnp.asarray(space.high, jnp.float32)
        self.n_obs = self.env.observation_space(self.params).shape[0]
        self.hidden = hidden
        self.horizon = int(self.params.max_steps_in_episode)
        self._score = jax.jit(lambda population, keys: self.mean_returns(keys)(population))

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Shapes of the policy's weight arrays."""
        h = self.hidden
        return {"w1": (self.n_obs, h), "b1": (h,), "w2": (h, self.n_out), "b2": (self.n_out,)}

    def zeros(self) -> Policy:
        """The all-zero policy (hopper_jax's initial candidate: the centre of the box)."""
        return {k: jnp.zeros(s) for k, s in self.shapes().items()}

    def act(self, policy: Policy, obs: jax.Array) -> jax.Array:
        """Action for one observation (n_obs,): argmax of logits, or tanh scaled to the action bounds."""
        out = jnp.tanh(obs @ policy["w1"] + policy["b1"]) @ policy["w2"] + policy["b2"]
        return jnp.argmax(out) if self.discrete else self.high * jnp.tanh(out)

    def episode_return(self, policy: Policy, key: jax.Array) -> jax.Array:
        """Undiscounted return of one episode (a scalar), a `lax.scan` over the full horizon."""
        reset_key, step_key = jax.random.split(key)
        obs, state = self.env.reset_env(reset_key, self.params)

        def step(carry, k):
            obs, state, total, alive = carry
            obs, state, reward, done, _ = self.env.step_env(k, state, self.act(policy, obs), self.params)
            return (obs, state, total + alive * reward, alive * (1.0 - done)), None

        carry = (obs, state, jnp.float32(0.0), jnp.float32(1.0))
        (_, _, total, _), _ = jax.lax.scan(step, carry, jax.random.split(step_key, self.horizon))
        return total

    def mean_returns(self, keys: jax.Array) -> Callable[[Policy], jax.Array]:
        """f(population) → (P,) mean return over the K episodes of `keys` (K,), the same for every row."""

        def one(policy: Policy) -> jax.Array:
            return jnp.mean(jax.vmap(self.episode_return, (None, 0))(policy, keys))

        return jax.vmap(one)

    def score(self, policy: Policy, keys: jax.Array) -> float:
        """Mean return of one policy over the episodes of `keys` (e.g. held-out ones)."""
        batch = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32)[None], policy)
        return float(self._score(batch, keys)[0])


def episode_keys(seed: int, episodes: int, held_out: bool = False) -> jax.Array:
    """(episodes,) fixed PRNG keys; held-out keys never coincide with training keys."""
    return jax.random.split(jax.random.fold_in(jax.random.key(seed), 1 + int(held_out)), episodes)


def search_space(env: Environment) -> dict:
    """hopper_jax declarations: one bounded float array per weight matrix and bias."""
    return {k: hj.float(-BOUND, BOUND, shape=s) for k, s in env.shapes().items()}


def main(env_name: str = "Acrobot-v1", generations: int = 60, population: int = 64, episodes: int = 8,
         held_out: int = 64, seed: int = 0, quiet: bool = False) -> dict[str, float]:
    """Train a policy; return mean returns of the zero policy, the best (training episodes) and held-out."""
    env = Environment(env_name)
    train = episode_keys(seed, episodes)
    search = hj.Search(search_space(env))
    best = search.run(env.mean_returns(train), "max", generations=generations, population_size=population,
                      mode="jax-batched", seed=seed, quiet=quiet)
    initial = search.history.fs[search.history.types.index(hj.CandidateType.INIT)]  # the all-zero policy
    result = {"initial": initial, "best": float(search.best_f),
              "held_out": env.score(best, episode_keys(seed, held_out, held_out=True)),
              "threshold": env.task.threshold}
    if not quiet:
        print(f"{env_name}: mean return over {episodes} training episodes {result['initial']:.1f} (zero policy) "
              f"-> {result['best']:.1f} after {generations} generations × {population}; "
              f"{result['held_out']:.1f} on {held_out} held-out episodes (solved at >= {env.task.threshold:g})")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="Acrobot-v1", choices=sorted(TASKS))
    parser.add_argument("--generations", type=int, default=60)
    parser.add_argument("--population", type=int, default=64)
    parser.add_argument("--episodes", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    main(args.env, args.generations, args.population, args.episodes, seed=args.seed)
