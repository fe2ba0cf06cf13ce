"""Brax benchmark: hopper_jax vs evosax OpenAI-ES on a locomotion policy, return against evaluations and wall time.

The MLP policy, Brax hopper (spring backend) and objective of `examples/brax_neuroevolution.py`: mean return over
K fixed training episodes of T control steps (common random numbers: the same reset keys for every candidate,
generation, seed and optimizer). hopper_jax (mode='jax-batched', defaults) and evosax Open_ES, set up as in the
quality benchmark (`benchmarks/optimizers.py`, `evosax_strategy("openes", ...)`), run G generations of the same
population size P, so a checkpoint after g generations is g·P evaluations for both. Reported per checkpoint: the
best training return so far and the wall seconds (medians over seeds); per optimizer: the final best policy's
return on held-out episodes and the simulated env steps/s.

    python benchmarks/bench_brax.py --quick
    python benchmarks/bench_brax.py            # writes benchmarks/results/brax.md (11 min on 2 cores)
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import statistics
import sys
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks import optimizers, report  # noqa: E402
from benchmarks.bench_neuro import Trace  # noqa: E402
from benchmarks.functions import LOWER, UPPER  # noqa: E402
from benchmarks.machine import fmt, markdown_table, package_version  # noqa: E402

brax_neuro = importlib.import_module("examples.brax_neuroevolution")
Runner = Callable[[int], Trace]  # seed -> the run's trace


def hopper_runner(env, keys: jax.Array, generations: int, population: int) -> Runner:
    """hopper_jax with its defaults (`brax_neuro.train`); one objective object, so the rollout compiles once."""
    objective = env.mean_returns(keys)

    def run(seed: int) -> Trace:
        _, best, progress = brax_neuro.train(env, objective, generations, population, seed)
        return Trace(progress.best, progress.seconds, best)

    return run


def openes_runner(env, keys: jax.Array, generations: int, population: int) -> Runner:
    """evosax Open_ES with the quality benchmark's settings (`optimizers.evosax_strategy("openes", ...)`: Adam,
    std decaying over the run) at population P, in that benchmark's box [LOWER, UPPER]^d mapped linearly onto the
    policy box [-BOUND, BOUND]; samples clipped to the box before evaluation. One jitted generation per Python step,
    to time each (`optimizers.evosax_program` runs the whole budget in one `lax.scan` and returns only the final
    best)."""
    unravel = ravel_pytree(env.zeros())[1]
    dim = ravel_pytree(env.zeros())[0].size
    es, params = optimizers.evosax_strategy("openes", dim, generations * population, population)
    returns = env.mean_returns(keys)

    def policies(z: jax.Array) -> dict:
        """(P, d) box points → a population of policies (leading axis P)."""
        return jax.vmap(unravel)(jnp.clip(z, LOWER, UPPER) * (brax_neuro.BOUND / UPPER))

    @jax.jit
    def generation(state, key):
        k_ask, k_tell = jax.random.split(key)
        z, state = es.ask(k_ask, state, params)
        fitness = -returns(policies(z))  # evosax minimises
        state, _ = es.tell(k_tell, z, fitness, state, params)
        return state, -fitness.min()

    def run(seed: int) -> Trace:
        start = time.perf_counter()
        k_init, k_loop = jax.random.split(jax.random.key(seed))
        state = es.init(k_init, jnp.zeros(dim), params)  # mean at the box centre: the zero policy
        # init leaves some leaves weakly typed, `generation` returns them strongly typed: without this, the
        # second generation compiles again
        state = jax.tree.map(lambda a: jnp.asarray(a, a.dtype), state)
        curve, seconds = [], []
        for key in jax.random.split(k_loop, generations):
            state, top = generation(state, key)
            curve.append(max(float(top), curve[-1] if curve else -math.inf))
            seconds.append(time.perf_counter() - start)
        return Trace(curve, seconds, jax.tree.map(lambda a: a[0], policies(state.best_solution[None])))

    return run


RUNNERS: dict[str, Callable[..., Runner]] = {"hopper_jax": hopper_runner, "openes": openes_runner}


def steps_per_second(trace: Trace, steps_per_generation: int) -> float:
    """Simulated env steps per wall second after the first generation (which includes the compile)."""
    s = trace.seconds
    return (len(s) - 1) * steps_per_generation / (s[-1] - s[0]) if len(s) > 1 else math.nan


def checkpoints(generations: int, count: int) -> list[int]:
    """`count` generation numbers spread evenly up to `generations` (the last one included)."""
    return sorted({max(1, round(generations * (i + 1) / count)) for i in range(count)})


def spread(values: list[float]) -> str:
    """Median (min–max) of a few seeds' values."""
    return f"{fmt(statistics.median(values))} ({fmt(min(values))}–{fmt(max(values))})"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--env", default="hopper", choices=brax_neuro.ENVS)
    p.add_argument("--backend", default="spring", choices=brax_neuro.BACKENDS)
    p.add_argument("--optimizers", nargs="+", default=list(RUNNERS), choices=list(RUNNERS))
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--generations", type=int, default=100, help="G: generations per run")
    p.add_argument("--population", type=int, default=optimizers.OPENES_POPULATION, help="P, for every optimizer")
    p.add_argument("--episodes", type=int, default=4, help="K: training episodes per candidate")
    p.add_argument("--episode-length", type=int, default=300, help="T: control steps per episode")
    p.add_argument("--held-out", type=int, default=32, help="episodes to score each final policy")
    p.add_argument("--checkpoints", type=int, default=5, help="rows per optimizer (evenly spaced generations)")
    report.add_output_arguments(p, "brax", "smoke run: G=4, P=16, K=1, T=50, 1 seed, 2 checkpoints, nothing saved")
    args = p.parse_args(argv)
    if args.quick:
        args.generations, args.population, args.episodes, args.episode_length = 4, 16, 1, 50
        args.seeds, args.held_out, args.checkpoints = 1, 2, 2
    return args


def notes(args: argparse.Namespace, env, zero: tuple[float, float]) -> str:
    per_run = args.generations * args.population * args.episodes * args.episode_length
    scale = brax_neuro.BOUND / UPPER  # box units → weight units
    return f"""Notes:
- Task: Brax {package_version('brax')} `{args.env}` on the '{args.backend}' backend, T = {args.episode_length} \
control steps of {env.env.dt:g} s per episode; reward per step = forward velocity [m/s] + 1 while healthy \
- 0.001 |a|², rewards after termination masked (the physics still runs to T). Policy: MLP obs ({env.n_obs}) → \
{env.hidden} tanh → {env.n_act} tanh actions, {sum(math.prod(s) for s in env.shapes().values())} weights; every \
optimizer starts from the all-zero policy (mean training return {zero[0]:.1f}, held-out {zero[1]:.1f}: on this \
backend it stands still until T).
- Objective: mean return over K = {args.episodes} fixed training reset keys, the same for every candidate, \
generation, seed and optimizer (deterministic). "held-out": the final best policy on {args.held_out} other reset \
keys (median over seeds).
- hopper_jax: mode="jax-batched", box [-{brax_neuro.BOUND:g}, {brax_neuro.BOUND:g}] per weight, defaults (random \
search for the first 25 % of the G-generation budget, then annealed local moves). openes: evosax Open_ES with \
the quality benchmark's settings, untuned for this task (antithetic, Adam lr {optimizers.OPENES_LR}, std \
{optimizers.OPENES_STD_START} → {optimizers.OPENES_STD_END} exponentially over the run, in the box \
[{LOWER:g}, {UPPER:g}]^d mapped linearly onto the same policy box, i.e. std {optimizers.OPENES_STD_START * scale:g} \
→ {optimizers.OPENES_STD_END * scale:g} in weight units; samples \
clipped to the box), population P = {args.population}, mean at the box centre.
- Checkpoint rows: best training return evaluated so far after g generations (g·P evaluations, g·P·K·T env steps) \
and wall seconds from the start of the run to the end of generation g; median (min–max) over seeds \
0..{args.seeds - 1}. Seed 0 of each optimizer compiles the rollout (hopper_jax's compiled objective and evosax's \
jitted generation are reused by later seeds), so its times include the compile ("seed 0 first gen s"); the \
medians are mostly compiled runs. "env steps/s": P·K·T simulated steps per generation after the first one, \
median over seeds. Budget: {per_run / 1e6:.2f} M env steps per run, {len(args.optimizers) * args.seeds} runs; \
2 shared CPU cores, so wall times are noisy (evaluations are not)."""


def verdicts(finals: dict[str, list[float]], held: dict[str, list[float]]) -> str:
    """hopper_jax against each peer: final median training and held-out returns."""
    if "hopper_jax" not in finals:
        return ""
    lines = []
    for name in finals:
        if name == "hopper_jax":
            continue
        ours, theirs = statistics.median(finals["hopper_jax"]), statistics.median(finals[name])
        word = "beats" if ours > theirs else "**loses to**" if ours < theirs else "ties"
        lines.append(f"- hopper_jax {word} {name} on the final median training return ({fmt(ours)} vs "
                     f"{fmt(theirs)}); held-out {fmt(statistics.median(held['hopper_jax']))} vs "
                     f"{fmt(statistics.median(held[name]))}.")
    return "Verdicts (same evaluations, medians over seeds):\n" + "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    args = parse_args(argv)
    started = time.perf_counter()
    env = brax_neuro.Environment(args.env, args.backend, args.episode_length)
    train = brax_neuro.episode_keys(0, args.episodes)
    held = brax_neuro.episode_keys(0, args.held_out, held_out=True)
    steps = args.population * args.episodes * args.episode_length  # env steps per generation
    zero = (env.score(env.zeros(), train), env.score(env.zeros(), held))
    rows, summary, finals, held_out = [], [], {}, {}
    for name in args.optimizers:
        run = RUNNERS[name](env, train, args.generations, args.population)
        traces = [run(seed) for seed in range(args.seeds)]
        for g in checkpoints(args.generations, args.checkpoints):
            rows.append([name, str(g), str(g * args.population), f"{g * steps / 1e6:.3g} M",
                         spread([t.curve[g - 1] for t in traces]), spread([t.seconds[g - 1] for t in traces])])
            print(" | ".join(rows[-1]), flush=True)
        finals[name] = [t.curve[-1] for t in traces]
        held_out[name] = [env.score(t.policy, held) for t in traces]
        summary.append([name, spread(finals[name]), spread(held_out[name]),
                        fmt(statistics.median(steps_per_second(t, steps) for t in traces), 3),
                        fmt(traces[0].seconds[0], 3)])
        print(" | ".join(summary[-1]), flush=True)
    title = (f"#### Brax {args.env} ({args.backend}) neuroevolution: best return vs evaluations and wall time "
             f"(P = {args.population}, G = {args.generations}, K = {args.episodes}, T = {args.episode_length}, "
             f"{args.seeds} seeds)")
    text = report.assemble(
        title, markdown_table(["optimizer", "generations", "evaluations", "env steps",
                               "best train return, median (min–max)", "wall s, median (min–max)"], rows),
        markdown_table(["optimizer", "final train return", "held-out return", "env steps/s",
                        "seed 0 first gen s"], summary),
        verdicts(finals, held_out), notes(args, env, zero), total_s=time.perf_counter() - started)
    report.emit(text, report.output_path(args))
    return text


if __name__ == "__main__":
    main()
