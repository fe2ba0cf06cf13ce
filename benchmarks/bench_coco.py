"""COCO benchmark: hopper_jax (Python and JAX mode) against evosax CMA-ES, Nevergrad NGOpt and Optuna TPE.

Every optimizer minimizes every problem of a ``cocoex`` suite (functions × instances × dims) through the
same ``cocoex.Observer("bbob", ...)``, one observer folder per (suite, optimizer) under ``--data``. The
headline numbers are read back from the observer's ``.dat`` files: for each run (function, instance) and
each of the 51 standard targets f_opt + 10^{2, 1.8, ..., -8}, the evaluation count at which the target was
first reached; the table gives the fraction of (function, instance, target) triples reached within
m·d evaluations (no simulated restarts). Full runs also call ``cocopp`` for the ECDF figures.

Design choices:
- hopper_jax JAX mode: COCO functions are numpy callables on the host, so the JAX objective is a
  ``jax.pure_callback`` that sends each population (mode="jax-batched", HJ_POPULATION candidates) to the host
  and evaluates it row by row with the cocoex problem (so the observer sees every evaluation). Rows beyond
  the budget (hopper_jax evaluates its last population in full and discards the surplus) get +inf without
  being evaluated, so every optimizer spends exactly the budget. The search, schedule and compiled
  propose/tell are the library's own JAX-mode code path; only the objective runs on the host.
- evosax CMA-ES: ``optimizers.evosax_program`` (the quality benchmark's ask/evaluate/tell scan) with the
  same host callback as objective; population 4 + 3 ln d, mean 0, std_init 3. Samples are NOT clipped to
  [-5, 5]: COCO's bbob functions are defined everywhere (the box is the region of interest, all optima lie
  in [-4, 4]^d), as in the usual CMA-ES runs on COCO; clipping without a penalty made CMA-ES stall with
  coordinates stuck on the edge (f1 d=10 stopped at f − f_opt ≈ 3.8). The other optimizers search the box.
- float64: ``main`` turns on ``jax_enable_x64`` so JAX-side optimizers see f values to double precision
  (bbob f_opt is up to ~1000 in size: float32 could not resolve the 1e-8 targets).
- Integer variables (bbob-mixint, the first ``number_of_integer_variables`` coordinates) are hj.int /
  integer-cast nevergrad arrays / suggest_int; the rest are floats in the problem's bounds.
- Seeds: instance index (hopper_jax, NGOpt random state, TPE, CMA-ES key).

    python benchmarks/bench_coco.py --quick
    python benchmarks/bench_coco.py --suite bbob --dims 2 5 10 --budget 1000   # m: budget = m·d
    python benchmarks/bench_coco.py --report-only                              # tables + cocopp from --data
    python benchmarks/bench_coco.py --data ALL --merge D20 D40                 # runs made apart, one report
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import glob
import json
import os
import re
import shlex
import shutil
import sys
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import optimizers, report
from benchmarks.machine import hopper_jax_fingerprint, markdown_table

SUITES: dict[str, dict] = {  # the full plan: dims, and the optimizers each suite is run with
    "bbob": {"dims": [2, 5, 10, 20, 40], "optimizers": ["hopper_jax", "hopper_jax_seq", "cmaes", "ngopt"]},
    "bbob-largescale": {"dims": [80, 160, 320], "optimizers": ["hopper_jax", "hopper_jax_seq", "cmaes", "ngopt"]},
    "bbob-mixint": {"dims": [10, 20], "optimizers": ["hopper_jax", "hopper_jax_seq", "ngopt", "optuna_tpe"]},
}
SLOW = ("ngopt", "optuna_tpe")  # cost per evaluation grows with the run: they get --slow-budget
MODULES = {"hopper_jax": "hopper_jax", "hopper_jax_seq": "hopper_jax", "cmaes": "evosax", "ngopt": "nevergrad",
           "optuna_tpe": "optuna"}
TARGETS: np.ndarray = 10.0 ** np.linspace(2, -8, 51)  # f − f_opt, the bbob ECDF targets
BUDGETS: tuple[int, ...] = (10, 100, 1000, 10000)  # headline budgets, × d evaluations
DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out", "coco")
FIGURES_DIR = os.path.join(report.RESULTS_DIR, "coco")


# --- the host side of JAX objectives --------------------------------------------------------------
class HostProblem:
    """The cocoex problem being optimized, evaluated on populations with at most ``left`` evaluations."""

    problem = None
    left = 0

    @classmethod
    def start(cls, problem, budget: int) -> None:
        cls.problem, cls.left = problem, budget

    @classmethod
    def evaluate(cls, *parts: np.ndarray) -> np.ndarray:
        """(P, d_i) arrays, concatenated per row → (P,) float64 f; rows past the budget are +inf, unevaluated."""
        x = np.concatenate([np.asarray(p, np.float64) for p in parts], axis=1)
        n = min(max(cls.left, 0), len(x))
        cls.left -= n
        return np.array([cls.problem(row) for row in x[:n]] + [np.inf] * (len(x) - n), np.float64)


def host_batch(*parts: jax.Array) -> jax.Array:
    """JAX objective: (P, d_i) arrays → (P,) f, computed by ``HostProblem`` through a callback."""
    out = jax.ShapeDtypeStruct(parts[0].shape[:1], jnp.float64)
    return jax.pure_callback(HostProblem.evaluate, out, *parts, vmap_method="sequential")


def hopper_batch(candidate: dict) -> jax.Array:
    """hopper_jax "jax-batched" objective over a population dict (ints first, then floats)."""
    return host_batch(*(candidate[k] for k in ("i", "x") if k in candidate))


# --- problems -------------------------------------------------------------------------------------
def parts(problem) -> tuple[tuple[np.ndarray, np.ndarray] | None, tuple[np.ndarray, np.ndarray] | None]:
    """((int lower, int upper) or None, (float lower, float upper) or None): the first k coordinates are ints."""
    k, lo, hi = problem.number_of_integer_variables, problem.lower_bounds, problem.upper_bounds
    ints = (lo[:k].astype(int), hi[:k].astype(int)) if k else None
    floats = (lo[k:], hi[k:]) if k < problem.dimension else None
    return ints, floats


def point(*values) -> np.ndarray:
    """One candidate's integer and float parts as one float64 vector of length d."""
    return np.concatenate([np.atleast_1d(np.asarray(v, np.float64)) for v in values])


# --- runners: run(problem, budget, seed) → None (the observer records the evaluations) --------------
def hopper_space(problem) -> dict:
    import hopper_jax as hj

    ints, floats = parts(problem)
    space = {"i": hj.int(*ints, shape=ints[0].shape)} if ints else {}
    return space | ({"x": hj.float(*floats, shape=floats[0].shape)} if floats else {})


def run_hopper_seq(problem, budget: int, seed: int) -> None:
    """hopper_jax Python mode: one candidate at a time."""
    def objective(candidate: dict) -> float:
        return problem(point(*(candidate[k] for k in ("i", "x") if k in candidate)))

    optimizers.hopper_jax_minimize(hopper_space(problem), objective, budget, seed, "python")


def run_hopper_jax(problem, budget: int, seed: int) -> None:
    """hopper_jax JAX mode: populations evaluated on the host (see the module docstring)."""
    HostProblem.start(problem, budget)
    optimizers.hopper_jax_minimize(hopper_space(problem), hopper_batch, budget, seed, "jax-batched")


@functools.lru_cache(maxsize=16)
def _cma_program(d: int, budget: int) -> Callable[[jax.Array], jax.Array]:
    return optimizers.evosax_program("cmaes", host_batch, d, budget, clip=False)


def run_cmaes(problem, budget: int, seed: int) -> None:
    """evosax CMA-ES, compiled once per (d, budget), on the host problem."""
    HostProblem.start(problem, budget)
    _cma_program(problem.dimension, budget)(jax.random.key(seed)).block_until_ready()


def run_ngopt(problem, budget: int, seed: int) -> None:
    """Nevergrad NGOpt over an integer-cast array (if any ints) and a float array, both started at the centre."""
    import warnings

    import nevergrad as ng

    arrays = [ng.p.Array(init=(lo + hi) / 2.0, lower=lo, upper=hi) for lo, hi in filter(None, parts(problem))]
    if problem.number_of_integer_variables:
        arrays[0] = arrays[0].set_integer_casting()
    with warnings.catch_warnings():  # its line searches warn on every flat bracket (thousands of lines)
        warnings.simplefilter("ignore")
        optimizers.ngopt_minimize(lambda v: problem(point(*v)), ng.p.Tuple(*arrays), budget, seed)


def run_optuna_tpe(problem, budget: int, seed: int) -> None:
    """Optuna TPE, suggest_int for the integer coordinates, suggest_float for the others."""
    k, lo, hi = problem.number_of_integer_variables, problem.lower_bounds, problem.upper_bounds

    def objective(trial) -> float:
        return problem(np.array([trial.suggest_int(f"x{j}", int(lo[j]), int(hi[j])) if j < k
                                 else trial.suggest_float(f"x{j}", lo[j], hi[j]) for j in range(len(lo))]))

    optimizers.optuna_tpe_minimize(objective, budget, seed)


RUNNERS: dict[str, Callable[[object, int, int], None]] = {
    "hopper_jax": run_hopper_jax, "hopper_jax_seq": run_hopper_seq, "cmaes": run_cmaes, "ngopt": run_ngopt,
    "optuna_tpe": run_optuna_tpe}


# --- running a suite ------------------------------------------------------------------------------
def observer_folder(data: str, suite: str, name: str) -> str:
    """Where the observer writes optimizer ``name``'s data: cocoex prefixes "exdata/" to the cwd."""
    return os.path.join(data, "exdata", suite, name)


def run_optimizer(args: argparse.Namespace, name: str) -> float:
    """Run optimizer ``name`` on every selected problem of ``args.suite``; returns wall seconds."""
    import cocoex

    folder = observer_folder(args.data, args.suite, name)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(os.path.dirname(folder), exist_ok=True)
    factor, dims = (args.slow_budget, args.slow_dims or args.dims) if name in SLOW else (args.budget, args.dims)
    options = (f"dimensions: {','.join(map(str, dims))} instance_indices: {args.instances} "
               f"function_indices: {args.functions}")
    start = time.perf_counter()
    with contextlib.chdir(args.data):
        observer = cocoex.Observer("bbob", f"result_folder: {args.suite}/{name} algorithm_name: {name}")
        run_problems(cocoex.Suite(args.suite, "", options), observer, name, factor)
    return time.perf_counter() - start


def run_problems(suite, observer, name: str, factor: int) -> None:
    """Optimizer ``name`` on every problem of ``suite`` (budget factor·d, seed = instance), observed."""
    for problem in suite:
        problem.observe_with(observer)
        t = time.perf_counter()
        RUNNERS[name](problem, factor * problem.dimension, problem.id_instance)
        print(f"  {name:15s} {problem.id} evals={problem.evaluations} hit={problem.final_target_hit} "
              f"({time.perf_counter() - t:.2f}s)", file=sys.stderr, flush=True)
        problem.free()


def log_run(args: argparse.Namespace, name: str, seconds: float, tree: str) -> None:
    """Record how optimizer ``name``'s data were made (command, budgets, wall time, hopper_jax sources' sha256
    ``tree`` when the process started) in <folder>.json."""
    with open(observer_folder(args.data, args.suite, name) + ".json", "w", encoding="utf-8") as fh:
        json.dump({"command": shlex.join(["python", "benchmarks/bench_coco.py"] + sys.argv[1:]),
                   "date": time.strftime("%Y-%m-%d %H:%M %Z"),
                   "dims": args.slow_dims or args.dims if name in SLOW else args.dims, "functions": args.functions,
                   "instances": args.instances, "budget": args.slow_budget if name in SLOW else args.budget,
                   "seconds": seconds, "hopper_jax_sha256": tree}, fh)


def merge_data(target: str, sources: list[str]) -> None:
    """Merge the observer folders of several ``--data`` directories (runs of other dimensions, made apart) into
    ``target``, suite by suite and optimizer by optimizer, so that one report and one cocopp figure cover them all:
    the ``.dat`` files are copied, the ``.info`` files (one block per dimension) appended, and the provenance
    records joined. A file that exists twice (the same optimizer, function and dimension) is an error."""
    for source in sources:
        for folder in sorted(glob.glob(os.path.join(source, "exdata", "*", "*", ""))):
            suite, name = folder.rstrip(os.sep).split(os.sep)[-2:]
            into = observer_folder(target, suite, name)
            copies = {path: os.path.join(into, os.path.relpath(path, folder))
                      for path in glob.glob(os.path.join(folder, "data_f*", "*"))}
            for copy in copies.values():  # checked before anything is written: a refused merge changes nothing
                if os.path.exists(copy):
                    raise SystemExit(f"{copy} exists already: {source} repeats a run of {target}")
            record = _joined_provenance(into + ".json", folder.rstrip(os.sep) + ".json")
            for path, copy in copies.items():
                os.makedirs(os.path.dirname(copy), exist_ok=True)
                shutil.copy(path, copy)
            for info in glob.glob(os.path.join(folder, "*.info")):
                with open(info, encoding="utf-8") as fh, open(os.path.join(into, os.path.basename(info)), "a",
                                                               encoding="utf-8") as out:
                    text = fh.read()
                    out.write(text if text.endswith("\n") else text + "\n")  # cocoex leaves no final newline
            if record is not None:
                with open(into + ".json", "w", encoding="utf-8") as fh:
                    json.dump(record, fh)


def _joined_provenance(into: str, source: str) -> dict | None:
    """The provenance record ``into`` with ``source``'s run added (dims joined, commands and wall time summed), or
    None without a ``source`` record. The budget factors must agree: the report reads one per optimizer."""
    if not os.path.exists(source):
        return None
    with open(source, encoding="utf-8") as fh:
        rec = json.load(fh)
    if not os.path.exists(into):
        return rec
    with open(into, encoding="utf-8") as fh:
        old = json.load(fh)
    if old["budget"] != rec["budget"]:
        raise SystemExit(f"{into}: budget {old['budget']}·d, {source}: {rec['budget']}·d; merge runs of one budget")
    return {**old, "dims": sorted({*old["dims"], *rec["dims"]}), "seconds": old["seconds"] + rec["seconds"],
            "command": f"{old['command']}; {rec['command']}", "date": f"{old['date']}; {rec['date']}"}


# --- reading the observer's data ------------------------------------------------------------------
def first_hits(block: list[str]) -> tuple[np.ndarray, int]:
    """One run's .dat lines → ((51,) evaluations at which each target was first reached, inf if never;
    the run's evaluation count)."""
    rows = np.array([[float(v) for v in line.split()[:3]] for line in block]).reshape(-1, 3)
    evals, delta = rows[:, 0], rows[:, 2]
    hit = delta[None, :] <= TARGETS[:, None]  # (51, lines)
    first = np.where(hit.any(axis=1), evals[np.argmax(hit, axis=1)], np.inf)
    return first, int(evals.max()) if len(evals) else 0


def read_runs(folder: str) -> dict[int, list[tuple[np.ndarray, int]]]:
    """{d: [(first hits, evaluations) per run]} from every .dat file under an observer folder."""
    runs: dict[int, list] = {}
    for path in sorted(glob.glob(os.path.join(folder, "data_f*", "*.dat"))):
        d = int(re.search(r"_DIM(\d+)\.dat$", path).group(1))
        block: list[str] = []
        with open(path, encoding="utf-8") as fh:
            for line in [*fh, "%"]:
                if line.startswith("%"):
                    runs.setdefault(d, []).append(first_hits(block)) if block else None
                    block = []
                elif line.strip():
                    block.append(line)
    return runs


def solved_fraction(runs: list[tuple[np.ndarray, int]], budget: int) -> float:
    """Fraction of (run, target) pairs reached within ``budget`` evaluations."""
    return float(np.mean([first <= budget for first, _ in runs]))


def budget_factor(data: str, suite: str, name: str) -> int:
    """The m (budget m·d) optimizer ``name``'s data were run with (its provenance record)."""
    with open(observer_folder(data, suite, name) + ".json", encoding="utf-8") as fh:
        return int(json.load(fh)["budget"])


def headline_table(data: str, suite: str) -> str:
    """Markdown: per (d, optimizer) the solved fraction at m·d evaluations for m in BUDGETS ('–': m > its budget)."""
    body = []
    names = [n for n in RUNNERS if os.path.exists(observer_folder(data, suite, n) + ".json")]  # finished runs
    per_name = {n: read_runs(observer_folder(data, suite, n)) for n in names}
    for d in sorted({d for runs in per_name.values() for d in runs}):
        for name in names:
            runs, factor = per_name[name].get(d, []), budget_factor(data, suite, name)
            if runs:
                cells = [f"{solved_fraction(runs, m * d):.3f}" if m <= factor else "–" for m in BUDGETS]
                body.append([str(d), name, str(len(runs)), str(factor)] + cells)
    return markdown_table(["d", "optimizer", "runs", "budget (×d)"] + [f"{m}·d" for m in BUDGETS], body)


def provenance(data: str, suite: str) -> list[str]:
    """Markdown bullets, one per optimizer: the invocation that wrote its data."""
    out = []
    for name in RUNNERS:
        path = observer_folder(data, suite, name) + ".json"
        if os.path.exists(path):
            with open(path, encoding="utf-8") as fh:
                rec = json.load(fh)
            out.append(f"- {name}: `{rec['command']}` ({rec['date']}): d = {rec['dims']}, functions "
                       f"{rec['functions']}, instances {rec['instances']}, budget {rec['budget']}·d, wall time "
                       f"{rec['seconds'] / 60:.1f} min; hopper_jax sources sha256 {rec.get('hopper_jax_sha256', '?')}")
    return out


# --- cocopp ---------------------------------------------------------------------------------------
KEEP_PAGES = ("index.html", "pprldmany.html")  # cocopp pages kept next to the all-functions ECDF figures


def run_cocopp(data: str, suite: str, out: str) -> None:
    """cocopp over the suite's observer folders into <out>/<suite>, then ``prune_cocopp``."""
    import cocopp

    folders = [observer_folder(data, suite, n) for n in RUNNERS if os.path.isdir(observer_folder(data, suite, n))]
    target = os.path.join(out, suite)
    shutil.rmtree(target, ignore_errors=True)
    cocopp.main(["-o", target, "--no-interactive"] + folders)
    prune_cocopp(target)


def prune_cocopp(target: str) -> None:
    """Keep only the per-dimension ECDF over all functions (pprldmany_<d>D_noiselessall.svg, ~0.15 MB each) and
    the index / ECDF pages; cocopp's per-group and per-function figures, pdf twins and tables (~25 MB) go."""
    for path in glob.glob(os.path.join(target, "**", "*"), recursive=True):
        name = os.path.basename(path)
        if os.path.isfile(path) and not (name in KEEP_PAGES or re.fullmatch(r"pprldmany_\d+D_noiselessall\.svg", name)):
            os.remove(path)
    for folder in sorted(glob.glob(os.path.join(target, "**", ""), recursive=True), reverse=True):
        if not os.listdir(folder):
            os.rmdir(folder)


# --- main -----------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--suite", choices=list(SUITES), default="bbob")
    p.add_argument("--dims", type=int, nargs="+", help="default: the suite's dims (SUITES)")
    p.add_argument("--functions", default="1-24", help="cocoex function_indices, e.g. 1-24 or 1,8")
    p.add_argument("--instances", default="1-5", help="cocoex instance_indices")
    p.add_argument("--budget", type=int, default=10000, help="m: budget m·d evaluations")
    p.add_argument("--slow-budget", type=int, default=10000, help=f"m for {', '.join(SLOW)}")
    p.add_argument("--slow-dims", type=int, nargs="+", help=f"dims for {', '.join(SLOW)} (default: --dims)")
    p.add_argument("--optimizers", nargs="+", choices=list(RUNNERS), help="default: the suite's optimizers")
    p.add_argument("--data", default=DATA_DIR, help="observer folders: <data>/exdata/<suite>/<optimizer>")
    p.add_argument("--report-only", action="store_true", help="no runs: report and cocopp from --data")
    p.add_argument("--no-cocopp", action="store_true")
    p.add_argument("--merge", nargs="+", metavar="DATA", help="no runs: merge these --data directories into --data "
                   "(`merge_data`), then report and cocopp from it")
    report.add_output_arguments(p, "coco", "bbob d=2, f1 and f8, instance 1, budget 50·d, no cocopp")
    args = p.parse_args(argv)
    if args.quick:
        args.suite, args.dims, args.functions, args.instances = "bbob", [2], "1,8", "1"
        args.budget = args.slow_budget = 50
        args.no_cocopp = True
        args.data = os.path.join(DATA_DIR, "quick") if args.data == DATA_DIR else args.data
    args.dims = args.dims or SUITES[args.suite]["dims"]
    args.optimizers = args.optimizers or SUITES[args.suite]["optimizers"]
    return args


def available(names: list[str]) -> list[str]:
    """The optimizers whose libraries import; the others are reported and dropped."""
    keep = [n for n in names if not optimizers.unavailable_reason(MODULES[n])]
    for name in sorted(set(names) - set(keep)):
        print(f"[skip] {name}: {optimizers.unavailable_reason(MODULES[name])}", file=sys.stderr)
    return keep


def main(argv: list[str] | None = None) -> None:
    """Run the selected suite (unless --report-only), then report every suite found under --data."""
    args = parse_args(argv)
    jax.config.update("jax_enable_x64", True)  # here, not at import: importing this module changes no process
    if args.merge:
        merge_data(args.data, args.merge)
    elif not args.report_only:
        tree = hopper_jax_fingerprint()  # the sources this process imports (the footer's is taken at the end)
        for name in available(args.optimizers):
            log_run(args, name, run_optimizer(args, name), tree)
    sections = []
    for suite in (s for s in SUITES if os.path.isdir(os.path.join(args.data, "exdata", s))):
        sections += [f"### {suite}: fraction of (function, instance, target) triples reached within m·d evaluations",
                     headline_table(args.data, suite), "Runs:", "\n".join(provenance(args.data, suite))]
        if not args.no_cocopp:
            run_cocopp(args.data, suite, FIGURES_DIR)
    plan = "; ".join(f"{suite} d = {', '.join(map(str, spec['dims']))} ({', '.join(spec['optimizers'])})"
                     for suite, spec in SUITES.items())
    notes = ("Targets: f_opt + 10^k, k = 2, 1.8, ..., -8 (51). '–': that optimizer's budget (column 'budget (×d)', "
             "× d evaluations) is below m·d. A run's fraction at m·d is its anytime performance, not that of a run "
             "given m·d (hopper_jax anneals over its whole budget; NGOpt picks its algorithm from the budget); no "
             "restarts, simulated or real (cocopp's ECDFs simulate restarts of unsuccessful runs). Seed = instance "
             "index. See the module docstring of benchmarks/bench_coco.py for how each optimizer meets the cocoex "
             f"problems. The issue's full plan is {plan}, budget 10^4·d, instances 1–5; what ran is listed under "
             "Runs (smaller budgets and fewer dims where this machine's time did not allow more).")
    report.emit(report.assemble(*sections, notes), report.output_path(args))


if __name__ == "__main__":
    main()
