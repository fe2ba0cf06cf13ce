"""Ablations of phase 2's moves on bench_quality's functions: hopper_jax with its defaults against the same
search with one lever changed (`--switch`):

- `shape`: moves along the axes only (`covariance_limit=0`, the algorithm before the learned shape);
- `restarts`: a search whose step has shrunk to the floor stays there (`step_size.RESTARTS = False`);
- `walls`: a bounded move past a wall folded back inside (`encodings.WALLS = "reflect"`) instead of landing
  on the wall;
- `path`: the learned shape's evolution path at 1/(n + 4) (`covariance.PATH_RATE = 1`), four times longer
  than CMA-ES's 4/(n + 4);
- `dense`: a learned block's step moves only the elements its temperature selects
  (`covariance.DENSE_BY_CORRELATION = False`) instead of every element with probability C's mean squared
  correlation;
- `adaptation`: the 1/5 rule's rate at 0.2 for every space (`step_size.ADAPTATION_BY_SIZE = False`) instead of
  1/(1 + n/2) for spaces of n < 8 float elements;
- `model`: phase 2 without model steps (`surrogate.MODEL_STEPS = False`), the quadratic model's proposals for
  small continuous blocks;
- `archive`: the model fitted to the latest evaluated points (`surrogate.KEEP_BEST = False`) instead of the
  best so far;
- `float64`: float64 search coordinates (`float(..., dtype="float64")`, both variants under 64-bit JAX)
  against the float32 default, with every optimum moved off the float32 grid.

Both variants run in one process, function by function, for both modes (JAX mode, population 32; Python mode,
one candidate at a time), with the same seeds and budget. The switch is a module setting that the engine caches'
keys do not see, so the cache on disk is turned off and the one in memory is cleared whenever the setting
changes.

    python benchmarks/bench_shape.py --quick
    python benchmarks/bench_shape.py --dims 2 10 --budget 5000 --seeds 5
    python benchmarks/bench_shape.py --switch restarts --dims 2 10 100 --budget 5000 --seeds 5
    python benchmarks/bench_shape.py --switch float64 --dims 2 10 --budget 5000 --seeds 5
    python benchmarks/bench_shape.py --switch walls --dims 2 10 100 --budget 500 --seeds 5
    python benchmarks/bench_shape.py --switch path --dims 2 --budget 500 --seeds 15
    python benchmarks/bench_shape.py --switch dense --dims 2 10 --budget 5000 --seeds 5
    python benchmarks/bench_shape.py --switch adaptation --dims 2 5 --budget 500 --seeds 7
    python benchmarks/bench_shape.py --switch model --dims 2 5 10 --budget 5000 --seeds 5
    python benchmarks/bench_shape.py --switch archive --dims 2 10 --budget 5000 --seeds 3
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import math
import os
import statistics
import sys
import time
from types import ModuleType

os.environ["HOPPER_JAX_CACHE_DIR"] = "off"  # before hopper_jax is imported
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks import functions, optimizers, report  # noqa: E402
from benchmarks.functions import FUNCTION_NAMES  # noqa: E402
from benchmarks.machine import fmt, markdown_table  # noqa: E402
from hopper_jax.core import covariance, step_size, surrogate  # noqa: E402
from hopper_jax.search import compiled  # noqa: E402
from hopper_jax.space import encodings  # noqa: E402

@dataclasses.dataclass(frozen=True)
class Switch:
    """A module setting and its variants (the default first, the one compared against last)."""

    module: ModuleType
    setting: str
    variants: dict
    title: str
    solved: float = report.SOLVED  # values at or below it tie
    floor: float = 1e-10  # added to values in the log ratios (the float resolution that matters)
    x64: bool = False  # run under jax_enable_x64
    off_grid: bool = False  # move each optimum off the float32 grid (see `optimum_off_the_float32_grid`)


SWITCHES = {
    "shape": Switch(covariance, "COVARIANCE_LIMIT",
                    {"learned shape (default)": covariance.COVARIANCE_LIMIT, "axis moves (limit 0)": 0},
                    "Phase 2's learned shape against axis moves"),
    "restarts": Switch(step_size, "RESTARTS", {"restarts (default)": True, "no restarts": False},
                       "Phase 2 restarting its steps at the floor against staying there"),
    "walls": Switch(encodings, "WALLS", {"clip (default)": "clip", "reflect": "reflect"},
                    "Bounded moves clipped at the walls against reflected"),
    "path": Switch(covariance, "PATH_RATE", {"path 4/(n+4) (default)": covariance.PATH_RATE, "path 1/(n+4)": 1.0},
                   "The learned shape's evolution path at CMA-ES's rate 4/(n+4) against 1/(n+4)"),
    "dense": Switch(covariance, "DENSE_BY_CORRELATION",
                    {"dense by correlation (default)": True, "selected only": False},
                    "Block steps moving every element with probability C's mean squared correlation, against "
                    "the selected elements only"),
    "adaptation": Switch(step_size, "ADAPTATION_BY_SIZE",
                         {"rate 1/(1 + n/2) below n = 8 (default)": True, "rate 0.2 everywhere": False},
                         "The step adaptation's rate by the space's float elements against 0.2 everywhere"),
    "model": Switch(surrogate, "MODEL_STEPS", {"model steps (default)": True, "no model steps": False},
                    "Phase 2 with model steps (a quadratic fitted to the best evaluations) against without"),
    "archive": Switch(surrogate, "KEEP_BEST", {"best points (default)": True, "latest points": False},
                      "The model fitted to the best points evaluated so far against the latest ones"),
    "float64": Switch(optimizers, "HJ_FLOAT_DTYPE", {"float64 coordinates": "float64", "float32 (default)": "float32"},
                      "float64 search coordinates against float32 (optima off the float32 grid)", solved=1e-30,
                      floor=1e-30, x64=True, off_grid=True),
}
MODES = {"jax": optimizers.run_hopper_jax, "python": optimizers.run_hopper_jax_seq}


def optimum_off_the_float32_grid() -> None:
    """Move every function's optimum by √2·10⁻⁴ per coordinate (float64): bench_quality's optima are float32
    numbers, which float32 coordinates can hit exactly, so they would hide float32's resolution."""
    on_grid = functions.optimum
    functions.optimum = functools.cache(lambda d: on_grid(d).astype(np.float64) + math.sqrt(2.0) * 1e-4)


def run_cell(fn: str, d: int, budget: int, seeds: int, mode: str, switch: str, value) -> float:
    """Median best f − f* over seeds of one (function, d, mode) cell with the switch's setting at `value`."""
    module, setting = SWITCHES[switch].module, SWITCHES[switch].setting
    saved = getattr(module, setting)
    setattr(module, setting, value)
    compiled.clear()  # functions compiled under the other setting
    try:
        return statistics.median(MODES[mode](fn, d, budget, seed)[0] for seed in range(seeds))
    finally:
        setattr(module, setting, saved)
        compiled.clear()


def summary(values: dict, names: list[str], switch: Switch) -> str:
    """Per variant: cells won or tied (within 1 % or both solved), and the mean log10 ratio to the last variant
    (each value plus the switch's floor)."""
    rows, floor = [], switch.floor
    base = names[-1]
    for name in names:
        wins = sum(1 for cell in values.values()
                   if cell[name] <= min(cell.values()) * 1.01 or cell[name] <= switch.solved)
        ratios = [math.log10((cell[name] + floor) / (cell[base] + floor)) for cell in values.values()]
        rows.append([name, str(wins), fmt(statistics.mean(ratios), 3)])
    return markdown_table(["variant", f"cells won or tied (of {len(values)})", f"mean log10(value / {base})"], rows)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--functions", nargs="+", default=list(FUNCTION_NAMES), choices=FUNCTION_NAMES)
    p.add_argument("--dims", type=int, nargs="+", default=[2, 10, 100])
    p.add_argument("--budget", type=int, default=5000)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    p.add_argument("--switch", default="shape", choices=list(SWITCHES))
    report.add_output_arguments(p, "shape", "rotated Rosenbrock at d=2, budget 1000, one seed")
    args = p.parse_args(argv)
    if args.quick:
        args.functions, args.dims, args.budget, args.seeds = ["rosenbrock_rot"], [2], 1000, 1
    switch = SWITCHES[args.switch]
    if switch.x64:
        jax.config.update("jax_enable_x64", True)
    if switch.off_grid:
        optimum_off_the_float32_grid()
    variants = switch.variants
    start, names = time.perf_counter(), list(variants)
    values: dict[tuple, dict[str, float]] = {}
    for fn in args.functions:
        for d in args.dims:
            for mode in args.modes:
                values[(fn, d, mode)] = {name: run_cell(fn, d, args.budget, args.seeds, mode, args.switch, value)
                                         for name, value in variants.items()}
                print(fn, d, mode, {k: fmt(v) for k, v in values[(fn, d, mode)].items()}, flush=True)
    table = markdown_table(["function", "d", "mode", *names],
                           [[fn, str(d), mode, *(fmt(cell[n]) for n in names)] for (fn, d, mode), cell in values.items()])
    title = (f"### {switch.title}: median best f − f* over {args.seeds} seeds, "
             f"{args.budget} evaluations")
    notes = ("Notes: functions, box and optimum as in bench_quality; hopper_jax defaults otherwise (JAX mode: "
             f"population {optimizers.HJ_POPULATION}). The learned shape applies to continuous blocks of at most "
             f"{covariance.COVARIANCE_LIMIT} elements, so both variants are the same algorithm above that.")
    if switch.x64:
        notes += " Both variants ran under jax_enable_x64."
    if switch.off_grid:
        notes += " Every optimum was moved by √2·10⁻⁴ per coordinate, off the float32 grid."
    report.emit(report.assemble(title, table, "#### Summary", summary(values, names, switch), notes,
                                total_s=time.perf_counter() - start), report.output_path(args))


if __name__ == "__main__":
    main()
