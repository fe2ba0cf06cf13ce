"""Neuroevolution benchmark: generations and wall seconds until an MLP policy solves a gymnax task.

hopper_jax (mode='jax-batched') against evosax OpenAI-ES and SNES at the same population size, on the MLP,
episodes and objective of `examples/neuroevolution.py` (mean return over K fixed training episodes, common
random numbers). A run stops at the first generation whose best candidate reaches the task's last threshold,
or after G generations ("not solved within G").

    python benchmarks/bench_neuro.py --quick
    python benchmarks/bench_neuro.py --out benchmarks/results/neuro.md
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import math
import os
import statistics
import sys
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import hopper_jax as hj  # noqa: E402
from benchmarks import report  # noqa: E402
from benchmarks.machine import fmt, markdown_table  # noqa: E402

neuro = importlib.import_module("examples.neuroevolution")

# --- settings (stated in the notes) --------------------------------------------------------------------
#: Thresholds on the mean training return; a run stops at the last. Acrobot -100 is gym's "solved" (a random
#: population of 64 already contains such a policy), so a stricter -80 is added.
THRESHOLDS = {"Acrobot-v1": (-100.0, -80.0), "MountainCarContinuous-v0": (90.0,), "Pendulum-v1": (-200.0,),
              "CartPole-v1": (475.0,)}
#: OpenAI-ES (std, Adam lr) per task: the best of std {0.1, 0.5, 1, 2} x lr {0.02, 0.1} on seed 100 (best
#: training return after 150 generations, Acrobot 60); no single setting of that grid did well on all three.
#: CartPole-v1 (the --quick smoke run only) reuses Acrobot's, untuned.
OPENES_SETTINGS = {"Acrobot-v1": (0.5, 0.1), "MountainCarContinuous-v0": (2.0, 0.02), "Pendulum-v1": (0.1, 0.1),
                   "CartPole-v1": (0.5, 0.1)}
SNES_STD_INIT = 1.0  # evosax's default learning rates
HJ_SEEDING_VARIANT = 0.05  # hopper_jax_s05: a shorter random-search phase than the default 25 %


@dataclasses.dataclass
class Trace:
    """One run: best training return so far and wall seconds after each generation, and the final best."""

    curve: list[float]  # (generations run,) best mean training return evaluated so far
    seconds: list[float]  # (generations run,) wall seconds since the optimizer was built
    policy: dict  # the best policy evaluated

    def first(self, threshold: float) -> tuple[int | None, float | None]:
        """(generations, seconds) until the best reached `threshold`, or (None, None)."""
        hits = [g for g, best in enumerate(self.curve) if best >= threshold]
        return (hits[0] + 1, self.seconds[hits[0]]) if hits else (None, None)


class _Stop(Exception):
    """Raised from a callback to end a hopper_jax run early (hopper_jax has no stop hook for callbacks)."""


class _Recorder(hj.Callback):
    """Records the best-so-far curve of a hopper_jax run and stops it once `stop_at` is reached."""

    def __init__(self, stop_at: float):
        self.stop_at, self.start = stop_at, time.perf_counter()
        self.curve: list[float] = []
        self.seconds: list[float] = []

    def on_generation_end(self, values, fs, infos) -> None:
        self.curve.append(max(float(np.max(fs)), self.curve[-1] if self.curve else -math.inf))
        self.seconds.append(time.perf_counter() - self.start)
        if self.curve[-1] >= self.stop_at:
            raise _Stop


def run_hopper(env, keys: jax.Array, generations: int, population: int, seed: int,
               seeding_ratio: float = 0.25) -> Trace:
    """hopper_jax defaults: random search for `seeding_ratio` of G, then annealed local moves (T 1 → 0.2)."""
    recorder = _Recorder(max(THRESHOLDS[env.task.name]))
    search = hj.Search(neuro.search_space(env))
    try:
        search.run(env.mean_returns(keys), "max", generations=generations, population_size=population,
                   mode="jax-batched", seed=seed, quiet=True, callbacks=[recorder], seeding_ratio=seeding_ratio)
    except _Stop:
        pass
    return Trace(recorder.curve, recorder.seconds, search.best)


def run_hopper_s05(env, keys: jax.Array, generations: int, population: int, seed: int) -> Trace:
    """hopper_jax with a 5 % random-search phase."""
    return run_hopper(env, keys, generations, population, seed, seeding_ratio=HJ_SEEDING_VARIANT)


def _run_evosax(es, params, env, keys: jax.Array, generations: int, seed: int) -> Trace:
    """Ask/evaluate/tell, one jitted generation per Python step (to stop at the threshold); ES minimise."""
    returns, stop_at = env.mean_returns(keys), max(THRESHOLDS[env.task.name])

    @jax.jit
    def generation(state, key):
        k_ask, k_tell = jax.random.split(key)
        population, state = es.ask(k_ask, state, params)
        fitness = -returns(population)
        state, _ = es.tell(k_tell, population, fitness, state, params)
        return state, -fitness.min()

    unravel = ravel_pytree(env.zeros())[1]  # evosax keeps the best as a flat vector, raveled the same way
    start = time.perf_counter()
    k_init, k_loop = jax.random.split(jax.random.key(seed))
    state = es.init(k_init, env.zeros(), params)
    curve, seconds = [], []
    for key in jax.random.split(k_loop, generations):
        state, top = generation(state, key)
        curve.append(max(float(top), curve[-1] if curve else -math.inf))
        seconds.append(time.perf_counter() - start)
        if curve[-1] >= stop_at:
            break
    return Trace(curve, seconds, unravel(state.best_solution))


def run_openes(env, keys: jax.Array, generations: int, population: int, seed: int) -> Trace:
    """evosax OpenAI-ES: antithetic, Adam, constant std (per task, see OPENES_SETTINGS)."""
    import optax
    from evosax.algorithms import Open_ES

    std, lr = OPENES_SETTINGS[env.task.name]
    es = Open_ES(population, env.zeros(), optimizer=optax.adam(lr), std_schedule=optax.constant_schedule(std))
    return _run_evosax(es, es.default_params, env, keys, generations, seed)


def run_snes(env, keys: jax.Array, generations: int, population: int, seed: int) -> Trace:
    """evosax SNES with its default learning rates."""
    from evosax.algorithms import SNES

    es = SNES(population, env.zeros())
    params = es.default_params.replace(std_init=jnp.asarray(SNES_STD_INIT))
    return _run_evosax(es, params, env, keys, generations, seed)


RUNNERS: dict[str, Callable[..., Trace]] = {"hopper_jax": run_hopper, "hopper_jax_s05": run_hopper_s05,
                                            "openes": run_openes, "snes": run_snes}


def censored_median(values: list[float | None]) -> float:
    """Median with unsolved runs (None) counted as +inf."""
    return statistics.median([math.inf if v is None else v for v in values])


def cell(value: float, generations: int, digits: int = 3) -> str:
    """A median, or the honest outcome when most runs did not solve."""
    return f"not solved within {generations} gens" if math.isinf(value) else fmt(value, digits)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--envs", nargs="+", default=["Acrobot-v1", "MountainCarContinuous-v0", "Pendulum-v1"],
                   choices=sorted(neuro.TASKS))
    p.add_argument("--optimizers", nargs="+", default=list(RUNNERS), choices=list(RUNNERS))
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--generations", type=int, default=200, help="G: most generations per run")
    p.add_argument("--population", type=int, default=64)
    p.add_argument("--episodes", type=int, default=8, help="K: training episodes per candidate")
    p.add_argument("--held-out", type=int, default=64, help="episodes to score each final policy")
    p.add_argument("--quick", action="store_true",
                   help="CI smoke run: CartPole-v1, 1 seed, G=6, P=32, K=2, no hopper_jax_s05")
    p.add_argument("--out", help="write a markdown fragment here")
    args = p.parse_args(argv)
    if args.quick:
        args.envs, args.seeds, args.generations, args.population, args.episodes, args.held_out = (
            ["CartPole-v1"], 1, 6, 32, 2, 8)
        args.optimizers = [o for o in args.optimizers if o != "hopper_jax_s05"]
    return args


def notes(args: argparse.Namespace) -> str:
    tasks = "; ".join(f"{name} >= {', '.join(f'{t:g}' for t in THRESHOLDS[name])}" for name in args.envs)
    openes = "; ".join(f"{name} std {OPENES_SETTINGS[name][0]:g}, lr {OPENES_SETTINGS[name][1]:g}"
                       for name in args.envs)
    return f"""Notes:
- Policy: MLP obs → {neuro.HIDDEN} tanh → actions (argmax of logits for discrete actions, tanh × bound for \
continuous), weights and biases as a dict of arrays; every optimizer starts from the all-zero policy.
- Objective: mean undiscounted return over K = {args.episodes} fixed training episodes, the same reset/step \
keys for every candidate, generation and optimizer (common random numbers); full horizon in one `lax.scan`.
- Solved: the best candidate evaluated so far reaches the threshold on the training episodes ({tasks}). \
A run stops at its last threshold or after G = {args.generations} generations of P = {args.population}. \
Medians over seeds 0..{args.seeds - 1}, unsolved runs counted as +inf: "not solved within G gens" means \
most seeds did not solve. "held-out": mean return of the final best policy on {args.held_out} other \
episodes (median over seeds), which shows over-fitting to the K training episodes.
- hopper_jax: mode="jax-batched", defaults: random search in the box [-{neuro.BOUND:g}, {neuro.BOUND:g}] per \
weight for the first 25 % of the G-generation budget, then annealed local moves; hopper_jax_s05: the same \
with seeding_ratio={HJ_SEEDING_VARIANT}. Stopped early by raising from a callback.
- openes: evosax Open_ES, antithetic, Adam, constant std, tuned per task ({openes}): the best of \
std {{0.1, 0.5, 1, 2}} × lr {{0.02, 0.1}} on seed 100. snes: evosax SNES, std_init {SNES_STD_INIT}, default \
learning rates. Both unbounded (no box), mean initialised at 0; one jitted generation per Python step.
- Wall seconds: from building the optimizer to the end of the solving generation, JIT compilation included; \
the 2 cores were shared with other jobs, so wall times are noisy (generations are not)."""


def verdicts(outcomes: dict[tuple[str, float, str], tuple[int, float]]) -> str:
    """Per task and threshold: the peers hopper_jax (defaults) loses to, beats and ties, by (solved runs, gens)."""
    lines = []
    for name, threshold in dict.fromkeys((n, t) for n, t, _ in outcomes):
        ours = outcomes.get((name, threshold, "hopper_jax"))
        if ours is None:
            continue
        groups: dict[str, list[str]] = {"**loses to**": [], "beats": [], "ties": []}
        for (n, t, opt), theirs in outcomes.items():
            if (n, t) == (name, threshold) and opt != "hopper_jax":
                a, b = (-ours[0], ours[1]), (-theirs[0], theirs[1])  # more solved runs, then fewer generations
                group = "**loses to**" if b < a else "beats" if a < b else "ties"
                groups[group].append(f"{opt} ({theirs[0]} solved, median {theirs[1]:g} gens)")
        lines.append(f"- {name} >= {threshold:g}: hopper_jax ({ours[0]} solved, median {ours[1]:g} gens) "
                     + "; ".join(f"{g} {', '.join(v) or 'none'}" for g, v in groups.items()) + ".")
    return ("Verdicts (more solved runs first, then fewer median generations; medians count unsolved runs as "
            "inf; wall times not compared):\n" + "\n".join(lines))


def main(argv: list[str] | None = None) -> str:
    args = parse_args(argv)
    header = ["env", "threshold", "optimizer", "solved", "median gens to solve", "median wall s to solve",
              "median best train return", "median held-out return"]
    rows, outcomes, started = [], {}, time.perf_counter()
    for name in args.envs:
        env = neuro.Environment(name)
        train = neuro.episode_keys(0, args.episodes)
        held = neuro.episode_keys(0, args.held_out, held_out=True)
        for opt in args.optimizers:
            traces = [RUNNERS[opt](env, train, args.generations, args.population, seed) for seed in range(args.seeds)]
            best = fmt(statistics.median(t.curve[-1] for t in traces))
            held_out = fmt(statistics.median(env.score(t.policy, held) for t in traces))
            for threshold in THRESHOLDS[name]:
                hits = [t.first(threshold) for t in traces]
                solved, gens = sum(g is not None for g, _ in hits), censored_median([g for g, _ in hits])
                outcomes[name, threshold, opt] = (solved, gens)
                row = [name, f">= {threshold:g}", opt, f"{solved}/{args.seeds}", cell(gens, args.generations),
                       cell(censored_median([s for _, s in hits]), args.generations), best, held_out]
                rows.append(row)
                print(" | ".join(row), flush=True)
    text = report.assemble(*[
        (f"#### Neuroevolution: generations to solve (P = {args.population}, G = {args.generations}, "
         f"K = {args.episodes}, {args.seeds} seeds)"),
        markdown_table(header, rows), verdicts(outcomes), notes(args),
    ], total_s=time.perf_counter() - started)
    report.emit(text, args.out)
    return text


if __name__ == "__main__":
    main()
