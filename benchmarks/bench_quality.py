"""Quality benchmark: median best f − f* on shifted box-bounded functions, hopper_jax against its peers.

Two budget tiers, each a grid of (function, d) rows run for seeds ``0..seeds-1`` by every optimizer that
runs at that d and budget (see ``optimizers.OPTIMIZERS``): the main tier (``--budget``, all dims) and a
small tier (``--small-budget``, dims ≤ 100) in which the slow-per-evaluation peers, Optuna TPE and
Nevergrad NGOpt, take part at the same budget as everyone else.

    python benchmarks/bench_quality.py --quick
    python benchmarks/bench_quality.py                 # full: writes benchmarks/results/quality.md
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import optimizers, report  # noqa: E402
from benchmarks.functions import FUNCTION_NAMES, make_numpy  # noqa: E402
from benchmarks.machine import fmt, markdown_table, package_version  # noqa: E402

Row = tuple[str, int]  # (function, d)
#: (optimizer, d) -> seeds actually run, where fewer than --seeds (cost; stated in the notes)
SEED_CAPS: dict[tuple[str, int], int] = {("cmaes", 1000): 3}
HOPPER = ("hopper_jax", "hopper_jax_seq")

NOTES = """Notes:
- Box [-5, 5]^d; optimum x* ~ U[-4, 4]^d (numpy default_rng(12345)), value 0: every function is written \
as f − f*, so 0 is optimal everywhere (Styblinski-Tang via its exact Taylor expansion around the \
per-coordinate minimiser, −2.9035, so no −39.17·d cancels in float32). Rosenbrock and Levy are evaluated \
at x − x* + 1. Every optimizer gets exactly `budget` evaluations; the value is the best f ever evaluated, \
median over seeds.
- hopper_jax: mode="jax", population {hj_pop} per generation (the last population is evaluated in full, \
rows beyond the budget are discarded); hopper_jax_seq: Python mode, one candidate at a time, numpy \
objective. Both with defaults otherwise.
- pyhopper: 1.2.3 defaults; it has no seed argument, so only `np.random.seed(seed)` is set.
- cmaes / sep_cmaes: evosax CMA_ES / Sep_CMA_ES, population 4+floor(3 ln d) (even), mean 0 (box centre), \
std_init {cma_std} (0.3 × box width), evosax defaults otherwise. snes: evosax SNES, same population, \
std_init {snes_std}. openes: evosax Open_ES, population {openes_pop} (antithetic), Adam lr {openes_lr}, std \
decaying {openes_std0} → {openes_std1} over the run (lightly tuned on d=100, sphere). evosax samples are \
clipped to the box before evaluation (no penalty) and told unclipped; `budget % population` leftover \
evaluations come from one final ask.
- optuna_tpe: Optuna {optuna} TPESampler(seed=seed) defaults (univariate), one suggest_float per \
coordinate, d ≤ 10 only. ngopt: Nevergrad {nevergrad} NGOpt (its own choice of algorithm for d and budget), \
bounded ng.p.Array, d ≤ 100 only; nevergrad's metamodel calls float() on a (1,) array, which numpy ≥ 2.4 \
refuses, so the benchmark shadows float in nevergrad.optimization.metamodel with one that accepts \
size-1 arrays (behaviour as with older numpy). Both run only at budgets ≤ 1000 because their cost per \
evaluation grows with the run (here TPE took ~36 s for 1000 trials at d=10; NGOpt 40–50 s per \
5000-evaluation run at d=10 and 100), which would not fit in about an hour on 2 shared cores; {small}
- Dimension limits (cost): {limits}.
- random: uniform in the box. f(box centre): f at x = 0, for reference (PyHopper starts there).
- Seeds: {seeds} per cell{caps}.
- Wall time: median per run, end to end. hopper_jax's own functions are compiled for the first seed and \
shared by later searches over the same space, and the evosax programs are compiled once per (function, d) \
and reused across seeds, so both medians exclude compilation (the first seed pays it). The machine is \
shared: other jobs ran alongside, so wall times are inflated and noisy; the footer's total is the sum of \
the runs' wall times (runs are cached with --cache, so a resumed report still counts them)."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; ``--quick`` overrides functions, dims, budgets and seeds."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--functions", nargs="+", default=list(FUNCTION_NAMES), choices=FUNCTION_NAMES)
    p.add_argument("--dims", type=int, nargs="+", default=[2, 10, 100, 1000])
    p.add_argument("--budget", type=int, default=5000)
    p.add_argument("--small-budget", type=int, default=500, help="second tier's budget (0: none)")
    p.add_argument("--small-dims", type=int, nargs="+", default=[2, 10, 100])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--optimizers", nargs="+", default=list(optimizers.OPTIMIZERS),
                   choices=list(optimizers.OPTIMIZERS))
    p.add_argument("--cache", help="JSON-lines file of finished runs, reused when the run is resumed")
    p.add_argument("--uncapped", action="store_true",
                   help="run every optimizer at every budget (ignore the budget caps of the slow peers)")
    report.add_output_arguments(p, "quality", "rastrigin at d=10, budget 200, one seed, one tier")
    args = p.parse_args(argv)
    if args.quick:
        args.functions, args.dims, args.budget, args.small_budget, args.seeds = ["rastrigin"], [10], 200, 0, 1
    return args


def available(names: list[str]) -> list[str]:
    """The optimizers in ``names`` whose libraries import; the others are reported and dropped."""
    keep = []
    for name in names:
        reason = optimizers.unavailable_reason(name)
        if reason:
            print(f"[skip] {name}: {reason}", file=sys.stderr)
        else:
            keep.append(name)
    return keep


class Cache:
    """Finished runs keyed by (budget, function, d, optimizer, seed), optionally mirrored to a file."""

    def __init__(self, path: str | None):
        self.path, self.runs, self.seconds = path, {}, 0.0  # seconds: sum of the wall times of the runs used
        if path and os.path.exists(path):
            with open(path, encoding="utf-8") as fh:
                for line in fh:
                    rec = json.loads(line)
                    self.runs[tuple(rec["key"])] = (rec["best"], rec["seconds"])

    def get_or_run(self, key: tuple, run) -> tuple[float, float]:
        if key not in self.runs:
            self.runs[key] = run()
            if self.path:
                with open(self.path, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps({"key": list(key), "best": self.runs[key][0],
                                         "seconds": self.runs[key][1]}) + "\n")
        self.seconds += self.runs[key][1]
        return self.runs[key]


def run_tier(args: argparse.Namespace, names: list[str], budget: int, dims: list[int], cache: Cache
             ) -> dict[Row, dict[str, tuple[float, float]]]:
    """``{(function, d): {optimizer: (median best, median seconds)}}`` for one budget."""
    results: dict[Row, dict[str, tuple[float, float]]] = {}
    for name in names:
        spec = optimizers.OPTIMIZERS[name]
        for d in dims:
            if not spec.runs(d, min(budget, spec.max_budget or budget) if args.uncapped else budget):
                continue
            for fn_name in args.functions:
                seeds = min(args.seeds, SEED_CAPS.get((name, d), args.seeds))
                runs = []
                for seed in range(seeds):
                    best, secs = cache.get_or_run((budget, fn_name, d, name, seed),
                                                  functools.partial(spec.run, fn_name, d, budget, seed))
                    runs.append((best, secs))
                    print(f"  [{budget}] {name:14s} {fn_name:15s} d={d:<5d} seed={seed} best={best:.6g} "
                          f"({secs:.2f}s)", file=sys.stderr, flush=True)
                results.setdefault((fn_name, d), {})[name] = (statistics.median(b for b, _ in runs),
                                                              statistics.median(s for _, s in runs))
    return results


def value_table(results: dict[Row, dict[str, tuple[float, float]]], names: list[str], rows: list[Row]) -> str:
    """Median best f − f* per row and optimizer (``–``: not run there), with f(box centre)."""
    body = []
    for fn_name, d in rows:
        cells = [fmt(results[(fn_name, d)][n][0]) if n in results[(fn_name, d)] else "–" for n in names]
        body.append([fn_name, str(d)] + cells + [fmt(float(make_numpy(fn_name, d)(np.zeros(d))))])
    return markdown_table(["function", "d"] + names + ["f(box centre)"], body)


def time_table(results: dict[Row, dict[str, tuple[float, float]]], names: list[str], dims: list[int]) -> str:
    """Median (over functions) of the median wall seconds per run, one row per optimizer, one column per d."""
    body = []
    for name in names:
        cells = []
        for d in dims:
            secs = [cell[name][1] for (_, dd), cell in results.items() if dd == d and name in cell]
            cells.append(fmt(statistics.median(secs), 3) if secs else "–")
        body.append([name] + cells)
    return markdown_table(["optimizer"] + [f"d={d}" for d in dims], body)


def tier_sections(results: dict[Row, dict[str, tuple[float, float]]], names: list[str], budget: int,
                  dims: list[int], functions: list[str], seeds: int) -> list[str]:
    """Markdown sections of one tier: values, mean ranks, losses, wall times."""
    rows = [(f, d) for f in functions for d in dims if (f, d) in results]
    names = [n for n in names if any(n in results[r] for r in rows)]
    groups = {"all rows": rows} | {f"d={d}": [r for r in rows if r[1] == d] for d in dims}
    values = {r: {n: v for n, (v, _) in results[r].items()} for r in rows}
    ranks = report.mean_ranks(values, groups)
    order = sorted(names, key=lambda n: ranks["all rows"][n][0] if ranks["all rows"][n] else 1e9)
    lost = report.loss_lines(values, HOPPER, lambda r: f"{r[0]} d={r[1]}")
    return [
        f"### Budget {budget} evaluations: median best f − f* over {seeds} seeds (lower is better)",
        value_table(results, names, rows),
        f"#### Mean rank, budget {budget} (lower is better)",
        report.rank_table(ranks, order),
        f"#### Rows where hopper_jax loses (budget {budget}): a peer ranks strictly better than both modes",
        "\n".join(lost) if lost else "None: in every row a hopper_jax mode ranks first or ties for first.",
        f"#### Median wall time per run [s], budget {budget} (median over functions)",
        time_table(results, names, dims),
    ]


def caps_text(args: argparse.Namespace, names: list[str]) -> str:
    """The seed caps that applied to this run, as text."""
    caps = [f"{n} at d={d}: {c}" for (n, d), c in SEED_CAPS.items()
            if n in names and d in args.dims and c < args.seeds and optimizers.OPTIMIZERS[n].runs(d, args.budget)]
    return f" (fewer where a run is expensive: {'; '.join(caps)} seeds)" if caps else ""


def main(argv: list[str] | None = None) -> None:
    """Run both tiers and print (and in full mode save) the markdown report."""
    args = parse_args(argv)
    names = available(args.optimizers)
    cache = Cache(args.cache)
    tiers = [(args.budget, args.dims)] + ([(args.small_budget, args.small_dims)] if args.small_budget else [])
    sections = []
    for budget, dims in tiers:
        results = run_tier(args, names, budget, dims, cache)
        sections += tier_sections(results, names, budget, dims, args.functions, args.seeds)
    versions = {m: package_version(m) for m in ("optuna", "nevergrad")}
    notes = NOTES.format(
        hj_pop=optimizers.HJ_POPULATION, cma_std=optimizers.CMA_STD_INIT, snes_std=optimizers.SNES_STD_INIT,
        openes_pop=optimizers.OPENES_POPULATION, openes_lr=optimizers.OPENES_LR,
        openes_std0=optimizers.OPENES_STD_START, openes_std1=optimizers.OPENES_STD_END,
        small=(f"they take part in the {args.small_budget}-evaluation tier at the same budget as everyone there."
               if args.small_budget else "they are not in this report's tier(s) (see `--small-budget`)."),
        limits=", ".join(f"{n} d ≤ {s.max_d}" for n, s in optimizers.OPTIMIZERS.items() if s.max_d and n in names),
        seeds=args.seeds, caps=caps_text(args, names), **versions)
    if args.uncapped:
        notes += "\n- --uncapped: the budget caps above were lifted; every optimizer ran every tier's budget."
    text = report.assemble(*sections, report.RANK_NOTE, notes, total_s=cache.seconds)
    report.emit(text, report.output_path(args))


if __name__ == "__main__":
    main()
