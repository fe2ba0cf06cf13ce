"""MJX system-identification benchmark: hopper_jax vs evosax CMA-ES, parameter error and wall time.

The 5 parameters (two masses, two damping coefficients, the cart's dry friction) of the MuJoCo cart-pole of
`examples/mjx_system_identification.py`, fitted to its noisy 2.5 s experiment by rolling out MJX (`mjx.step` in
`lax.scan`, vmapped over each population). hopper_jax (mode='jax') and CMA-ES (evosax, set up as in the quality
benchmark, `benchmarks/optimizers.py`) get exactly the same number of evaluations and start from the same guess
(the centre of the log ranges). Medians over optimizer seeds; the data are the same for every run.

    python benchmarks/bench_mjx_sysid.py --quick
    python benchmarks/bench_mjx_sysid.py            # writes benchmarks/results/mjx_sysid.md
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import hopper_jax as hj
from benchmarks import optimizers, report
from benchmarks.bench_sysid import verdicts
from benchmarks.functions import LOWER, UPPER
from benchmarks.machine import fmt, markdown_table, package_version

sysid = importlib.import_module("examples.mjx_system_identification")
Params = dict[str, float]
NOISE_FLOOR_FACTOR = 1.05  # a run "at the noise floor": fit loss <= 1.05 × the loss of the true parameters
LOG_LOWER = np.log([sysid.PARAMETERS[k].lower for k in sysid.NAMES])
LOG_UPPER = np.log([sysid.PARAMETERS[k].upper for k in sysid.NAMES])


class Problem(NamedTuple):
    """The fitting problem every optimizer gets."""

    data: sysid.Experiment  # the experiment fitted (seed 0)
    validation: sysid.Experiment  # a held-out experiment (seed 1, another force signal)
    loss: Callable  # candidate dict -> fit loss (JAX); one object, so hopper_jax compiles it once


def problem() -> Problem:
    data = sysid.experiment(0)
    return Problem(data, sysid.experiment(1), sysid.objective(sysid.nominal_model(), data))


def from_box(z: jax.Array) -> dict[str, jax.Array]:
    """CMA-ES coordinates (..., 5) in the quality benchmark's box [LOWER, UPPER] (clipped) → parameters,
    log-uniformly: the box centre is the geometric centre of every range."""
    u = (jnp.clip(z, LOWER, UPPER) - LOWER) / (UPPER - LOWER)
    values = jnp.exp(LOG_LOWER + u * (LOG_UPPER - LOG_LOWER))
    return {k: values[..., i] for i, k in enumerate(sysid.NAMES)}


def run_hopper_jax(prob: Problem, budget: int, seed: int) -> Params:
    """hopper_jax, mode='jax', population optimizers.HJ_POPULATION, otherwise defaults."""
    search = hj.Search(sysid.search_space())
    best = search.run(prob.loss, "min", steps=budget, population_size=optimizers.HJ_POPULATION, mode="jax",
                      seed=seed, quiet=True)
    return {k: float(v) for k, v in best.items()}


def cma_es_program(prob: Problem, budget: int) -> Callable[[jax.Array], jax.Array]:
    """A jitted `run(key) -> best box point` of evosax CMA-ES with the quality benchmark's settings
    (`optimizers.evosax_strategy("cmaes", ...)`: default population, std_init 0.3 × the box width),
    budget // population generations of ask / evaluate the clipped samples / tell the unclipped ones."""
    dim = len(sysid.NAMES)
    es, params = optimizers.evosax_strategy("cmaes", dim, budget)
    losses = jax.vmap(lambda z: prob.loss(from_box(z)))

    def generation(state, key):
        k_ask, k_tell = jax.random.split(key)
        z, state = es.ask(k_ask, state, params)
        state, _ = es.tell(k_tell, z, losses(z), state, params)
        return state, None

    @jax.jit
    def run(key: jax.Array) -> jax.Array:
        k_init, k_loop = jax.random.split(key)
        state = es.init(k_init, jnp.zeros(dim), params)
        state, _ = jax.lax.scan(generation, state, jax.random.split(k_loop, budget // es.population_size))
        return state.best_solution

    return run


def cma_es_runner() -> Callable[[Problem, int, int], Params]:
    """`run(problem, budget, seed)` for CMA-ES; its program is compiled once per budget, reused across seeds."""
    programs: dict[int, Callable] = {}

    def run(prob: Problem, budget: int, seed: int) -> Params:
        if budget not in programs:
            programs[budget] = cma_es_program(prob, budget)
        best = from_box(programs[budget](jax.random.key(seed)))
        return {k: float(v) for k, v in best.items()}

    return run


RUNNERS: dict[str, Callable[[Problem, int, int], Params]] = {"hopper_jax": run_hopper_jax, "cma_es": cma_es_runner()}


def score(prob: Problem, best: Params, seconds: float) -> list[float]:
    """One run's row: fit loss, mean relative error, relative error per parameter, validation RMSE x [mm] and
    θ [deg], wall s. Losses from MuJoCo's C library (float64) on the fitted values, the same for every optimizer."""
    errors = sysid.relative_errors(best)
    loss = float(sysid.misfit(sysid.record(best, prob.data.forces), prob.data))
    return [loss, sysid.parameter_error(best), *errors.values(), *sysid.trajectory_rmse(best, prob.validation), seconds]


def run_cell(prob: Problem, optimizer: str, budget: int, seeds: int) -> tuple[list[list[float]], float]:
    """Rows of `score` for seeds 0..seeds-1, and the wall time of the first run (compilation included)."""
    rows = []
    for seed in range(seeds):
        start = time.perf_counter()
        best = RUNNERS[optimizer](prob, budget, seed)
        rows.append(score(prob, best, time.perf_counter() - start))
    return rows, rows[0][-1]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--optimizers", nargs="+", default=list(RUNNERS), choices=list(RUNNERS))
    p.add_argument("--budgets", type=int, nargs="+", default=[2000, 8000], help="evaluations per run")
    p.add_argument("--seeds", type=int, default=8)
    report.add_output_arguments(p, "mjx_sysid", "smoke run: budget 400, 1 seed, nothing saved")
    args = p.parse_args(argv)
    if args.quick:
        args.budgets, args.seeds = [400], 1
    return args


def notes(prob: Problem, args: argparse.Namespace) -> str:
    ranges = ", ".join(f"{k} {p.true:g} in [{p.lower:g}, {p.upper:g}]" for k, p in sysid.PARAMETERS.items())
    floor = float(sysid.misfit(sysid.record(sysid.TRUE, prob.data.forces), prob.data))
    population = optimizers.default_population(len(sysid.NAMES))
    return f"""Notes:
- Model: the MJCF cart-pole of `examples/mjx_system_identification.py` (cart on a slide joint with viscous damping \
and dry friction = `frictionloss`, a hanging capsule pole on a damped hinge, a motor on the slide), dt = {sysid.DT} \
s, {sysid.STEPS} steps from rest under a known sum of four sines (about ±6 N). True values and search ranges (all \
log scale): {ranges}. Data: x and θ of MuJoCo's C library on the MJCF compiled with the true values, with Gaussian \
noise (σ = {sysid.NOISE[0] * 1e3:g} mm, {sysid.NOISE[1]:g} rad). Objective: MJX {package_version('mujoco-mjx')} \
(mujoco {package_version('mujoco')}) rollout of the initial guess's model with the candidate's masses (inertias \
scaled alike), damping and frictionloss written in; mean squared residual in units of the noise variance.
- "fit loss": that loss of the returned parameters, recomputed with the C library ({floor:.3f} at the true \
values); "runs at noise floor": runs with fit loss ≤ {NOISE_FLOOR_FACTOR} × that. "param error": mean over the \
5 parameters of |estimate / true − 1|, and per parameter (medians over seeds, each column on its own). \
"validation RMSE": noise-free trajectory of the estimate vs the truth under another force signal.
- hopper_jax: mode="jax", population {optimizers.HJ_POPULATION}, otherwise defaults, `steps=budget`. \
cma_es: evosax CMA_ES exactly as the quality benchmark sets it up \
(`optimizers.evosax_strategy("cmaes", ...)`: population \
{population}, std_init {optimizers.CMA_STD_INIT} in the box [{LOWER:g}, {UPPER:g}]^5 mapped log-uniformly onto the \
ranges), mean at the box centre, samples clipped to the box, budget / {population} generations in one jitted \
`lax.scan`; it returns its best evaluated point. Both start at the centre of the log ranges (mean relative error \
{sysid.parameter_error(sysid.initial_guess()):.3f}). Seeds 0..{args.seeds - 1}.
- Wall time: end-to-end per run on the CPU. "first run s" includes the compilation (the MJX rollout compiles in \
about 10 s here; hopper_jax compiles the objective once for all runs, CMA-ES once per budget); "wall s" is the \
median over seeds. 2 shared cores, so wall times \
are noisy."""


def main(argv: list[str] | None = None) -> str:
    args = parse_args(argv)
    prob, started = problem(), time.perf_counter()
    floor = NOISE_FLOOR_FACTOR * float(sysid.misfit(sysid.record(sysid.TRUE, prob.data.forces), prob.data))
    header = ["budget", "optimizer", "runs at noise floor", "fit loss", "param error", *sysid.NAMES,
              "validation RMSE x [mm]", "validation RMSE θ [deg]", "wall s", "first run s"]
    rows, table = [], {}
    for budget in args.budgets:
        for optimizer in args.optimizers:
            results, first = run_cell(prob, optimizer, budget, args.seeds)
            medians = table[budget, optimizer] = [statistics.median(column) for column in zip(*results)]
            at_floor = sum(r[0] <= floor for r in results)
            rows.append([str(budget), optimizer, f"{at_floor}/{args.seeds}", *[fmt(m, 3) for m in medians],
                         fmt(first, 3)])
            print(" | ".join(rows[-1]), flush=True)
    text = report.assemble(
        f"#### MJX system identification: 5 parameters of a MuJoCo cart-pole (median over {args.seeds} seeds)",
        markdown_table(header, rows), verdicts(table), notes(prob, args), total_s=time.perf_counter() - started)
    report.emit(text, report.output_path(args))
    return text


if __name__ == "__main__":
    main()
