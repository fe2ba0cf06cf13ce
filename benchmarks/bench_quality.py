"""Quality benchmark: do array parameters really optimize in high dimension?

For every (function, d, optimizer) runs seeds ``0..seeds-1`` with the same
evaluation budget and reports the median best value and median wall time.

    python benchmarks/bench_quality.py --quick
    python benchmarks/bench_quality.py --optimizers random pyhopper snes openes \
        --out benchmarks/results_peers_quality.md
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import optimizers  # noqa: E402
from benchmarks.functions import FUNCTION_NAMES, make_numpy  # noqa: E402
from benchmarks.machine import fmt, footer, markdown_table  # noqa: E402

Key = tuple[str, int, str]  # (function, d, optimizer)

NOTES = f"""Notes:
- Box [-5, 5]^d; optimum x* ~ U[-4, 4]^d (numpy default_rng(12345)), value 0; \
rosenbrock is evaluated at x - x* + 1. Every optimizer gets exactly `budget` evaluations; \
the reported value is the best f ever evaluated (median over seeds).
- random: uniform in the box. pyhopper: 1.2.3 defaults; it has no seed argument, so only \
`np.random.seed(seed)` is set and runs are effectively unseeded.
- snes: evosax SNES, population 4+floor(3 ln d) rounded up to even, mean 0, \
std_init {optimizers.SNES_STD_INIT}, evosax default learning rates.
- openes: evosax Open_ES, population {optimizers.OPENES_POPULATION} (antithetic), \
Adam lr {optimizers.OPENES_LR}, std decaying exponentially {optimizers.OPENES_STD_START} -> \
{optimizers.OPENES_STD_END} over the run (evosax defaults SGD 1e-3 / std 1.0 barely move; \
these settings were picked from a small grid on d=100, seed 0, so OpenES is lightly tuned).
- snes/openes: samples are clipped to the box before evaluation (no penalty); the unclipped \
samples are told to the ES; `budget % population` leftover evaluations come from one final ask.
- f(box centre): value at x = 0, for reference only (not an optimizer). PyHopper's \
initial solution is the box centre, so a pyhopper value equal to it means no improvement.
- A value printed as 0 is an exact float32 zero (converged to float32 resolution).
- hopper_jax: mode="jax", population_size={{hj_population}} (a population per generation); hopper_jax_seq: \
Python mode, one candidate at a time (numpy objective). In JAX mode with fixed shapes the last \
population is evaluated in full, but rows beyond `budget` are discarded (not counted as best).
- Wall time: end-to-end per run, JIT compilation included for the JAX-based optimizers."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; ``--quick`` overrides dims/budget/seeds."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dims", type=int, nargs="+", default=[10, 100, 1000])
    p.add_argument("--functions", nargs="+", default=list(FUNCTION_NAMES),
                   choices=FUNCTION_NAMES)
    p.add_argument("--budget", type=int, default=5000)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--optimizers", nargs="+", default=list(optimizers.RUNNERS),
                   choices=list(optimizers.RUNNERS))
    p.add_argument("--hj-population", type=int, default=optimizers.HJ_POPULATION)
    p.add_argument("--quick", action="store_true",
                   help="dims 10 100, budget 1000, seeds 2")
    p.add_argument("--out", help="write the markdown report to this file")
    args = p.parse_args(argv)
    if args.quick:
        args.dims, args.budget, args.seeds = [10, 100], 1000, 2
    return args


def build_runners(args: argparse.Namespace) -> dict[str, optimizers.Runner]:
    """Runnable optimizers (hopper_jax last); unavailable ones are reported."""
    order = [o for o in args.optimizers if o != "hopper_jax"]
    order += [o for o in args.optimizers if o == "hopper_jax"]
    runners: dict[str, optimizers.Runner] = {}
    for name in order:
        reason = optimizers.unavailable_reason(name)
        if reason is not None:
            print(f"[skip] {name}: {reason}", file=sys.stderr)
            continue
        runner = optimizers.RUNNERS[name]
        if name == "hopper_jax":
            runner = functools.partial(runner, population_size=args.hj_population)
        runners[name] = runner
    return runners


def run_cell(runner: optimizers.Runner, key: Key, budget: int, seeds: int
             ) -> tuple[float, float]:
    """Median best value and median seconds over seeds for one cell."""
    fn_name, d, name = key
    values, times = [], []
    for seed in range(seeds):
        best, secs = runner(fn_name, d, budget, seed)
        values.append(best)
        times.append(secs)
        print(f"  {name:10s} {fn_name:10s} d={d:<5d} seed={seed} best={best:.6g} "
              f"({secs:.2f}s)", file=sys.stderr, flush=True)
    return statistics.median(values), statistics.median(times)


def render(args: argparse.Namespace, results: dict[Key, tuple[float, float]],
           total_s: float) -> str:
    """Markdown report: best-value table, wall-time table, notes, footer."""
    header = ["function", "d"] + list(args.optimizers)
    best_rows, time_rows = [], []
    for fn_name in args.functions:
        for d in args.dims:
            cells = [results.get((fn_name, d, o)) for o in args.optimizers]
            centre = float(make_numpy(fn_name, d)(np.zeros(d)))
            best_rows.append([fn_name, str(d)] + [fmt(c and c[0]) for c in cells]
                             + [fmt(centre)])
            time_rows.append([fn_name, str(d)] + [fmt(c and c[1], 3) for c in cells])
    return "\n\n".join([
        f"### Median best f (lower is better; budget {args.budget} evaluations, "
        f"{args.seeds} seeds)",
        markdown_table(header + ["f(box centre)"], best_rows),
        "### Median wall time per run [s]",
        markdown_table(header, time_rows),
        NOTES.format(hj_population=args.hj_population),
        f"{footer()} — total {total_s / 60:.1f} min",
    ]) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Run the grid and print (and optionally save) the markdown report."""
    args = parse_args(argv)
    runners = build_runners(args)
    start = time.perf_counter()
    results: dict[Key, tuple[float, float]] = {}
    for name, runner in runners.items():
        for fn_name in args.functions:
            for d in args.dims:
                key = (fn_name, d, name)
                results[key] = run_cell(runner, key, args.budget, args.seeds)
    report = render(args, results, time.perf_counter() - start)
    print(report)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(report)


if __name__ == "__main__":
    main()
