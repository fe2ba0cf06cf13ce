"""Mixed search spaces: ints, powers of two, log-scale floats and choices, with interactions and known optimum.

Three synthetic, HPO-like response surfaces (minimized, f* = 0 at one known configuration) searched by
hopper_jax (Python mode), PyHopper 1.2.3, Optuna TPE and random search, each with the same number of
objective evaluations; every space is declared once and translated to each library's own declarations.

    python benchmarks/bench_mixed.py --quick
    python benchmarks/bench_mixed.py                   # full: writes benchmarks/results/mixed.md
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import report  # noqa: E402
from benchmarks.machine import fmt, markdown_table, package_version  # noqa: E402
from benchmarks.optimizers import BestOf, unavailable_reason  # noqa: E402


@dataclass(frozen=True)
class Spec:
    """One parameter: kind 'float' (lo, hi, log), 'int' (lo, hi, power_of 2 or None) or 'choice' (options)."""

    kind: str
    lo: float = 0.0
    hi: float = 1.0
    log: bool = False
    pow2: bool = False
    options: tuple = ()


def real(lo: float, hi: float, log: bool = False) -> Spec:
    return Spec("float", lo, hi, log=log)


def integer(lo: int, hi: int, pow2: bool = False) -> Spec:
    return Spec("int", lo, hi, pow2=pow2)


def choice(*options: str) -> Spec:
    return Spec("choice", options=options)


# --- the response surfaces ---------------------------------------------------------------------------
MLP_SPACE = {"lr": real(1e-5, 1e-1, log=True), "batch": integer(16, 1024, pow2=True), "layers": integer(1, 8),
             "width": integer(16, 1024, pow2=True), "dropout": real(0.0, 0.6),
             "weight_decay": real(1e-6, 1e-2, log=True), "optimizer": choice("adam", "rmsprop", "sgd")}
MLP_BEST = {"lr": 1e-3 * math.sqrt(2), "batch": 128, "layers": 3, "width": 256, "dropout": 0.3,
            "weight_decay": 10**-4.6, "optimizer": "adam"}


def mlp(p: dict) -> float:
    """Network training: the best lr depends on optimizer and batch; depth × log-width trade off; dropout
    follows width, weight decay follows dropout. f* = 0 at MLP_BEST."""
    base = {"adam": 1e-3, "rmsprop": 3e-4, "sgd": 3e-2}[p["optimizer"]]
    width_bits = math.log2(p["width"])
    return ((math.log10(p["lr"]) - math.log10(base * math.sqrt(p["batch"] / 64))) ** 2
            + 0.05 * (math.log2(p["batch"]) - 7) ** 2
            + ((p["layers"] * width_bits - 24) / 8) ** 2 + 0.02 * (p["layers"] - 3) ** 2
            + ((p["dropout"] - (0.1 + 0.05 * (width_bits - 4))) / 0.2) ** 2
            + 0.5 * (math.log10(p["weight_decay"]) + 4 + 2 * p["dropout"]) ** 2
            + {"adam": 0.0, "rmsprop": 0.1, "sgd": 0.25}[p["optimizer"]])


GBDT_SPACE = {"n_estimators": integer(50, 2000), "learning_rate": real(1e-3, 0.5, log=True),
              "max_depth": integer(2, 12), "subsample": real(0.5, 1.0), "colsample": real(0.3, 1.0),
              "min_child_weight": real(1e-2, 1e2, log=True), "booster": choice("gbtree", "dart", "gblinear")}
GBDT_BEST = {"n_estimators": 1000, "learning_rate": 0.02, "max_depth": 6, "subsample": 0.8, "colsample": 0.58,
             "min_child_weight": 1.0, "booster": "gbtree"}


def gbdt(p: dict) -> float:
    """Boosted trees: a valley n_estimators × learning_rate = 20; the best depth depends on the booster
    (gblinear ignores it); column sampling and min child weight follow depth. f* = 0 at GBDT_BEST."""
    depth, booster = p["max_depth"], p["booster"]
    depth_cost = 0.0 if booster == "gblinear" else ((depth - {"gbtree": 6, "dart": 8}[booster]) / 2) ** 2
    return (2 * math.log10(p["n_estimators"] * p["learning_rate"] / 20) ** 2
            + 0.3 * (math.log10(p["n_estimators"]) - 3) ** 2 + depth_cost
            + 5 * (p["subsample"] - 0.8) ** 2 + 5 * (p["colsample"] - (0.4 + 0.03 * depth)) ** 2
            + 0.3 * (math.log10(p["min_child_weight"]) - (depth - 6) / 6) ** 2
            + {"gbtree": 0.0, "dart": 0.05, "gblinear": 0.4}[booster])


OPTIONS = ("a", "b", "c", "d")
INT_TARGETS, EXP_TARGETS = (7, 13, 21, 28), (-1.0, -2.0, -3.0, -1.5)
SWITCH_SPACE = ({f"c{i}": choice(*OPTIONS) for i in range(8)} | {f"k{j}": integer(0, 30) for j in range(4)}
                | {f"r{j}": real(1e-4, 1.0, log=True) for j in range(4)})
SWITCH_BEST = ({f"c{i}": OPTIONS[i % 4] for i in range(8)} | {f"k{j}": t for j, t in enumerate(INT_TARGETS)}
               | {f"r{j}": 10.0**e for j, e in enumerate(EXP_TARGETS)})


def switches(p: dict) -> float:
    """Combinatorial: 8 nominal choices in a chain (each one's best option is the successor of the option
    chosen before it: 1 per mismatch), 4 ints (|k − k*| / 5) and 4 log-floats. f* = 0 at SWITCH_BEST."""
    cost, previous = 0.0, None
    for i in range(8):
        target = "a" if previous is None else OPTIONS[(OPTIONS.index(previous) + 1) % 4]
        cost += p[f"c{i}"] != target
        previous = p[f"c{i}"]
    cost += sum(abs(p[f"k{j}"] - t) / 5 for j, t in enumerate(INT_TARGETS))
    return cost + sum(0.5 * (math.log10(p[f"r{j}"]) - e) ** 2 for j, e in enumerate(EXP_TARGETS))


PROBLEMS: dict[str, tuple[dict[str, Spec], Callable[[dict], float], dict]] = {
    "mlp (7 params)": (MLP_SPACE, mlp, MLP_BEST),
    "gbdt (7 params)": (GBDT_SPACE, gbdt, GBDT_BEST),
    "switches (16 params)": (SWITCH_SPACE, switches, SWITCH_BEST),
}


# --- one space, four libraries ---------------------------------------------------------------------------
def declare(lib: ModuleType, spec: Spec) -> Any:
    """The declaration of `spec` in hopper_jax or PyHopper (they share PyHopper's API)."""
    if spec.kind == "float":
        return lib.float(spec.lo, spec.hi, log=spec.log)
    if spec.kind == "int":
        return lib.int(int(spec.lo), int(spec.hi), power_of=2 if spec.pow2 else None)
    return lib.choice(*spec.options)


def suggest(trial: Any, name: str, spec: Spec) -> Any:
    """Optuna's suggestion for `spec` (a power of two is suggested through its exponent)."""
    if spec.kind == "float":
        return trial.suggest_float(name, spec.lo, spec.hi, log=spec.log)
    if spec.kind == "int" and spec.pow2:
        return 2 ** trial.suggest_int(f"log2_{name}", int(math.log2(spec.lo)), int(math.log2(spec.hi)))
    if spec.kind == "int":
        return trial.suggest_int(name, int(spec.lo), int(spec.hi))
    return trial.suggest_categorical(name, list(spec.options))


def sample(rng: np.random.Generator, spec: Spec) -> Any:
    """A draw from the prior: log-uniform / uniform floats, uniform ints or exponents, uniform options."""
    if spec.kind == "float":
        if spec.log:
            return float(np.exp(rng.uniform(math.log(spec.lo), math.log(spec.hi))))
        return float(rng.uniform(spec.lo, spec.hi))
    if spec.kind == "int" and spec.pow2:
        return 2 ** int(rng.integers(int(math.log2(spec.lo)), int(math.log2(spec.hi)) + 1))
    if spec.kind == "int":
        return int(rng.integers(int(spec.lo), int(spec.hi) + 1))
    return spec.options[int(rng.integers(len(spec.options)))]


def run_hopper_jax(space: dict[str, Spec], f: BestOf, budget: int, seed: int) -> None:
    import hopper_jax as hj

    hj.Search({k: declare(hj, s) for k, s in space.items()}).run(f, "min", steps=budget, seed=seed, quiet=True)


def run_pyhopper(space: dict[str, Spec], f: BestOf, budget: int, seed: int) -> None:
    import pyhopper

    np.random.seed(seed)  # PyHopper has no seed argument
    with contextlib.redirect_stdout(io.StringIO()):  # it prints a summary even when quiet
        pyhopper.Search({k: declare(pyhopper, s) for k, s in space.items()}).run(f, "min", steps=budget, quiet=True)


def run_optuna_tpe(space: dict[str, Spec], f: BestOf, budget: int, seed: int) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(lambda trial: f({k: suggest(trial, k, s) for k, s in space.items()}), n_trials=budget)


def run_random(space: dict[str, Spec], f: BestOf, budget: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(budget):
        f({k: sample(rng, s) for k, s in space.items()})


RUNNERS: dict[str, Callable[[dict[str, Spec], BestOf, int, int], None]] = {
    "hopper_jax": run_hopper_jax, "pyhopper": run_pyhopper, "optuna_tpe": run_optuna_tpe, "random": run_random}
MODULES = {"hopper_jax": "hopper_jax", "pyhopper": "pyhopper", "optuna_tpe": "optuna", "random": None}


def run_cell(name: str, problem: str, budget: int, seeds: int) -> dict[str, Any]:
    """Median best f, evaluations made and seconds over seeds for one (optimizer, problem), plus crashes.

    A run that raises counts as best = inf (ranked last) and its exception type is recorded.
    """
    space, objective, _ = PROBLEMS[problem]
    bests, counts, secs, crashes = [], [], [], []
    for seed in range(seeds):
        f, crash = BestOf(objective), ""
        start = time.perf_counter()
        try:
            RUNNERS[name](space, f, budget, seed)
        except Exception as exc:  # noqa: BLE001 - a crash is a result to report, not to hide
            crash, f.best = f"{type(exc).__name__}: {exc}", math.inf
            crashes.append(type(exc).__name__)
        secs.append(time.perf_counter() - start)
        bests.append(f.best)
        counts.append(f.count)
        print(f"  [{budget}] {name:10s} {problem:22s} seed={seed} best={f.best:.4g} evals={f.count} "
              f"({secs[-1]:.2f}s) {crash}", file=sys.stderr, flush=True)
    return {"best": statistics.median(bests), "evals": statistics.median(counts), "secs": statistics.median(secs),
            "crashes": crashes}


def cell_text(cell: dict[str, Any], seeds: int) -> str:
    """The median value, with the number of crashed seeds and their exception types if any."""
    if not cell["crashes"]:
        return fmt(cell["best"])
    return f"{fmt(cell['best'])} ({len(cell['crashes'])}/{seeds} crashed: {', '.join(sorted(set(cell['crashes'])))})"


NOTES = """Notes:
- Every response surface is minimized and has f* = 0 at one known configuration (checked on start); \
the value is the best f evaluated, median over seeds. Each library gets the same declared space: \
log-scale floats, plain ints, powers of two (Optuna: an int exponent), nominal choices; `budget` is the \
number of candidates asked for (`steps` / `n_trials`). `evals` counts the objective calls actually made: \
hopper_jax and PyHopper skip duplicate candidates, so they may evaluate fewer.
- hopper_jax: Python mode, defaults (seed=seed). PyHopper 1.2.3 defaults, `np.random.seed(seed)` only. \
optuna_tpe: Optuna {optuna} TPESampler(seed=seed) defaults (univariate). random: independent draws from \
each parameter's prior (log-uniform floats on a log scale)."""


def check_optima() -> None:
    """Each problem is 0 at its stated optimum and positive at random configurations."""
    rng = np.random.default_rng(0)
    for name, (space, f, best) in PROBLEMS.items():
        assert abs(f(best)) < 1e-12, (name, f(best))
        assert all(f({k: sample(rng, s) for k, s in space.items()}) > 0 for _ in range(100)), name


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budgets", type=int, nargs="+", default=[100, 300])
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--optimizers", nargs="+", default=list(RUNNERS), choices=list(RUNNERS))
    report.add_output_arguments(p, "mixed", "budget 40, 2 seeds")
    args = p.parse_args(argv)
    if args.quick:
        args.budgets, args.seeds = [40], 2
    return args


def main(argv: list[str] | None = None) -> None:
    """Run every (budget, problem, optimizer) and print (and in full mode save) the markdown report."""
    args = parse_args(argv)
    check_optima()
    names = []
    for name in args.optimizers:
        reason = unavailable_reason(MODULES[name]) if MODULES[name] else None
        if reason:
            print(f"[skip] {name}: {reason}", file=sys.stderr)
        else:
            names.append(name)
    start = time.perf_counter()
    results = {(b, prob): {n: run_cell(n, prob, b, args.seeds) for n in names}
               for b in args.budgets for prob in PROBLEMS}
    rows = list(results)
    body = [[prob, str(b)] + [cell_text(results[(b, prob)][n], args.seeds) for n in names]
            + [" / ".join(fmt(results[(b, prob)][n]["evals"]) for n in names)] for b, prob in rows]
    times = [[prob, str(b)] + [fmt(results[(b, prob)][n]["secs"], 3) for n in names] for b, prob in rows]
    groups = {"all rows": rows} | {f"budget {b}": [r for r in rows if r[0] == b] for b in args.budgets}
    ranks = report.mean_ranks({r: {n: results[r][n]["best"] for n in names} for r in rows}, groups)
    order = sorted(names, key=lambda n: ranks["all rows"][n][0])
    lost = report.loss_lines({r: {n: results[r][n]["best"] for n in names} for r in rows}, ["hopper_jax"],
                             lambda r: f"{r[1]}, budget {r[0]}")
    text = report.assemble(
        f"### Mixed spaces: median best f − f* over {args.seeds} seeds (lower is better)",
        markdown_table(["problem", "budget", *names, "evals (median, same order)"], body),
        "#### Mean rank (lower is better)", report.rank_table(ranks, order),
        "#### Rows where hopper_jax loses: another optimizer ranks strictly better",
        "\n".join(lost) if lost else "None: hopper_jax ranks first or ties for first in every row.",
        "#### Median wall time per run [s]", markdown_table(["problem", "budget", *names], times),
        report.RANK_NOTE, NOTES.format(optuna=package_version("optuna")), total_s=time.perf_counter() - start)
    report.emit(text, report.output_path(args))


if __name__ == "__main__":
    main()
