"""Brax neuroevolution: an MLP locomotion policy for Brax's hopper, trained by hopper_jax in mode='jax-batched'.

The policy is a dict of weight arrays (one `hj.float(-BOUND, BOUND, shape=...)` per layer), a one-hidden-layer
tanh MLP from the observation (obs,) to the action (act,) in [-1, 1] (tanh output; Brax scales it by the motor
gears). A candidate is scored by its mean undiscounted return over K episodes of T control steps, each a
`lax.scan` of `env.step` (rewards after the episode terminates are masked; the physics still runs to T, so every
candidate costs the same K·T steps); the whole population × K episodes is one vmapped, jitted call per generation.

Common random numbers, as in `examples/neuroevolution.py`: every candidate of every generation is scored on the
*same* K reset keys (Brax's physics is deterministic after the reset), so the objective is deterministic and the
best score hopper_jax keeps is never a lucky draw. The final policy is also scored on held-out reset keys.

Environment and backend: `hopper` on Brax's 'spring' backend by default. Measured on this 2-core CPU (64 random
policies × 200 steps, one jitted call): hopper compiles in ~12 s and steps ~66k env steps/s on 'spring', 22k on
'positional' and 11k on 'generalized' (the hopper's default backend, which also takes 15 s to build); walker2d
(spring) 36k, ant (spring) 14k, halfcheetah (spring) 8k (a 0.05 s control step: 16 physics substeps). The hopper
is a real locomotion task (hop forward without falling: reward = forward velocity [m/s] + 1 per step alive
- 0.001 |a|², the episode ends when the torso drops below 0.7 m or tilts past 0.2 rad), and the cheapest.
'spring' is Brax's impulse-based approximation (not MuJoCo's dynamics), so returns are not comparable with
MuJoCo/Gym hopper numbers; pass `--backend generalized` for the more accurate, ~6× slower physics.

Units: one control step is `env.dt` seconds (0.008 s for the hopper: 4 physics substeps of 2 ms), so T = 300
steps is 2.4 s of simulated time; returns are sums over steps; steps/s counts simulated control steps
(population × K × T per generation, including the masked steps after termination).

    python examples/brax_neuroevolution.py                        # hopper/spring, 60 generations × 64, ~100 s
    python examples/brax_neuroevolution.py --env walker2d --generations 100 --episode-length 500
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import hopper_jax as hj

with contextlib.redirect_stdout(io.StringIO()):  # mujoco's mjx prints a notice when its optional warp backend is absent
    from brax import envs

HIDDEN = 16  # tanh units
BOUND = 0.5  # hopper_jax box for every weight and bias: [-BOUND, BOUND] (0.5 beat 1 and 2 on the hopper)
ENVS = ("hopper", "walker2d", "ant", "halfcheetah")  # locomotion tasks; hopper is the cheapest on the CPU
BACKENDS = ("spring", "positional", "generalized", "mjx")
Policy = dict[str, jax.Array]  # "w1" (obs, H), "b1" (H,), "w2" (H, act), "b2" (act,); leading axis P in a population


class Environment:
    """A Brax environment with an MLP policy: shapes, actions and K-episode returns over T control steps."""

    def __init__(self, name: str = "hopper", backend: str = "spring", episode_length: int = 300,
                 hidden: int = HIDDEN):
        self.name, self.backend, self.horizon, self.hidden = name, backend, episode_length, hidden
        self.env = envs.get_environment(name, backend=backend)
        self.n_obs, self.n_act = self.env.observation_size, self.env.action_size
        self._score = jax.jit(lambda population, keys: self.mean_returns(keys)(population))

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Shapes of the policy's weight arrays."""
        h = self.hidden
        return {"w1": (self.n_obs, h), "b1": (h,), "w2": (h, self.n_act), "b2": (self.n_act,)}

    def zeros(self) -> Policy:
        """The all-zero policy, action 0 always (hopper_jax's initial candidate: the centre of the box)."""
        return {k: jnp.zeros(s) for k, s in self.shapes().items()}

    def act(self, policy: Policy, obs: jax.Array) -> jax.Array:
        """Action (act,) in [-1, 1] for one observation (obs,)."""
        return jnp.tanh(jnp.tanh(obs @ policy["w1"] + policy["b1"]) @ policy["w2"] + policy["b2"])

    def episode_return(self, policy: Policy, key: jax.Array) -> jax.Array:
        """Undiscounted return of one episode (a scalar): reset with `key`, then T steps in a `lax.scan`."""

        def step(carry, _):
            state, total, alive = carry
            state = self.env.step(state, self.act(policy, state.obs))
            return (state, total + alive * state.reward, alive * (1.0 - state.done)), None

        carry = (self.env.reset(key), jnp.float32(0.0), jnp.float32(1.0))
        (_, total, _), _ = jax.lax.scan(step, carry, None, length=self.horizon)
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
    """(episodes,) fixed reset keys; held-out keys never coincide with training keys."""
    return jax.random.split(jax.random.fold_in(jax.random.key(seed), 1 + int(held_out)), episodes)


def search_space(env: Environment) -> dict:
    """hopper_jax declarations: one bounded float array per weight matrix and bias."""
    return {k: hj.float(-BOUND, BOUND, shape=s) for k, s in env.shapes().items()}


class Progress(hj.Callback):
    """Per generation: wall seconds since the callback was made, and the best mean return evaluated so far."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.seconds: list[float] = []  # the first generation's includes compiling the rollout
        self.best: list[float] = []

    def on_generation_end(self, values: Any, fs: Any, infos: Any) -> None:
        self.seconds.append(time.perf_counter() - self.start)
        self.best.append(max(float(np.max(fs)), self.best[-1] if self.best else -math.inf))

    def steps_per_second(self, steps_per_generation: int) -> float:
        """Simulated control steps per wall second after the first generation (which includes the compile)."""
        if len(self.seconds) < 2:
            return math.nan
        return (len(self.seconds) - 1) * steps_per_generation / (self.seconds[-1] - self.seconds[0])


def train(env: Environment, objective: Callable[[Policy], jax.Array], generations: int, population: int,
          seed: int = 0, quiet: bool = True) -> tuple[hj.Search, Policy, Progress]:
    """Maximise `objective` (e.g. `env.mean_returns(keys)`; pass the same object to later runs, and hopper_jax
    reuses its compiled rollout); the search, its best policy and its progress."""
    search, progress = hj.Search(search_space(env)), Progress()
    best = search.run(objective, "max", generations=generations, population_size=population, mode="jax-batched",
                      seed=seed, quiet=quiet, callbacks=[progress])
    return search, best, progress


def main(env_name: str = "hopper", backend: str = "spring", generations: int = 60, population: int = 64,
         episodes: int = 4, episode_length: int = 300, held_out: int = 32, seed: int = 0,
         quiet: bool = False) -> dict[str, float]:
    """Train a policy; mean returns of the zero policy and the best (training and held-out), seconds, steps/s."""
    env = Environment(env_name, backend, episode_length)
    train_keys, held_keys = episode_keys(seed, episodes), episode_keys(seed, held_out, held_out=True)
    started = time.perf_counter()
    search, best, progress = train(env, env.mean_returns(train_keys), generations, population, seed)
    seconds = time.perf_counter() - started
    initial = search.history.fs[search.history.types.index(hj.CandidateType.INIT)]  # the all-zero policy
    result = {"initial": float(initial), "best": float(search.best_f),
              "initial_held_out": env.score(env.zeros(), held_keys), "held_out": env.score(best, held_keys),
              "seconds": seconds, "first_generation_s": progress.seconds[0],
              "steps_per_s": progress.steps_per_second(population * episodes * episode_length)}
    if not quiet:
        print(f"{env_name} ({backend}, T = {episode_length} steps of {env.env.dt:g} s): mean return over {episodes} "
              f"training episodes {result['initial']:.1f} (zero policy) -> {result['best']:.1f} after {generations} "
              f"generations × {population}; on {held_out} held-out episodes {result['initial_held_out']:.1f} -> "
              f"{result['held_out']:.1f}\nsearch wall time {seconds:.1f} s (first generation, with the compile, "
              f"{progress.seconds[0]:.1f} s); {result['steps_per_s']:,.0f} env steps/s after it")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="hopper", choices=ENVS)
    parser.add_argument("--backend", default="spring", choices=BACKENDS)
    parser.add_argument("--generations", type=int, default=60)
    parser.add_argument("--population", type=int, default=64)
    parser.add_argument("--episodes", type=int, default=4, help="K: training episodes (reset keys) per candidate")
    parser.add_argument("--episode-length", type=int, default=300, help="T: control steps per episode")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    main(args.env, args.backend, args.generations, args.population, args.episodes, args.episode_length,
         seed=args.seed)
