"""Start-up cost of a search: compiling hopper_jax's own jitted functions, cold and shared.

Two measurements, both with a trivial JAX objective so that only hopper_jax's own work shows:

1. JAX mode's engine step as a run calls it a generation at a time, `tell_generation` then
   `propose_generation` (tell, ask, decode, fingerprints and the duplicate check: the largest of hopper_jax's
   functions), for spaces of 6 scalar
   floats (the HPO example's space), one float vector of 64 elements and one of 1000: XLA compile seconds
   and milliseconds per call at XLA's default CPU options and at hopper_jax's quick options (`quick_options()`:
   optimisation level 0, no fusion emitters), which it uses for spaces of at most `QUICK_COMPILE_ELEMENTS`
   elements.
2. End to end, a new `Search` plus a JAX-mode run of 2 generations × 16 over the HPO space, as the first
   search of a process (`jax.clear_caches()` and `compiled.clear()`: nothing compiled in memory) with
   default XLA options and no engine cache; with quick options and an empty engine cache directory (the
   first run on a machine: it compiles and stores); with that directory filled (a rerun of a script: it
   loads hopper_jax's executables); and as a second `Search` over an equal space in the same process.
3. What a loaded executable costs per call against jax.jit's: µs per candidate of a Python-mode run (the
   loop that calls hopper_jax's functions most often) with the functions already in memory.

    python benchmarks/bench_startup.py --quick
    python benchmarks/bench_startup.py           # full: writes benchmarks/results/startup.md
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

import jax
import jax.numpy as jnp

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import hopper_jax as hj  # noqa: E402
from benchmarks import report  # noqa: E402
from benchmarks.machine import fmt, markdown_table  # noqa: E402
from hopper_jax.evaluators import batched  # noqa: E402
from hopper_jax.persistence import executables  # noqa: E402
from hopper_jax.search import compiled  # noqa: E402
from hopper_jax.search.compiled import QUICK_COMPILE_ELEMENTS, quick_options  # noqa: E402

POPULATION = 16


def hpo_space() -> dict:
    """The six hyperparameters of examples/batched_hpo.py (declared here to keep optax out of this script)."""
    return {"learning_rate": hj.float(1e-4, 1.0, log=True), "weight_decay": hj.float(1e-6, 1e-1, log=True),
            "b1": hj.float(0.5, 0.99), "b2": hj.float(0.9, 0.9999), "init_scale": hj.float(0.05, 5.0, log=True),
            "label_smoothing": hj.float(0.0, 0.3)}


SPACES = {"6 scalar floats (HPO)": hpo_space, "float vector (64,)": lambda: {"x": hj.float(-5, 5, shape=(64,))},
          "float vector (1000,)": lambda: {"x": hj.float(-5, 5, shape=(1000,))}}


def engine_costs(template: dict, options: dict | None, calls: int) -> tuple[float, float]:
    """(compile seconds, median ms per call) of the engine step for P = POPULATION at the given compiler options:
    its two halves as a run calls them a generation at a time (tell, then propose), summed."""
    jax.clear_caches()  # JAX would otherwise return the executable of an earlier repeat
    from hopper_jax.search.jax_source import first_call

    search = hj.Search(template)
    search.engine.seed(0)
    key, core, table, told, plan = first_call(search.engine, POPULATION)
    functions = search.engine.compiled()
    halves = [(functions.tell_generation.__wrapped__, (core, table, told)),
              (functions.propose_generation.__wrapped__, (key, core, table, plan))]
    lowered = [(jax.jit(fn).lower(*args), args) for fn, args in halves]
    start = time.perf_counter()
    compiled = [(low.compile(options), args) for low, args in lowered]
    compile_s = time.perf_counter() - start

    def step():
        return jax.block_until_ready([executable(*args) for executable, args in compiled])

    step()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return compile_s, 1e3 * statistics.median(times)


def trivial(params: dict) -> jax.Array:
    return -sum(jnp.sum((v - 0.1) ** 2) for v in params.values())


#: End-to-end scenarios: (as in a new process, XLA options, engine cache directory in use).
SCENARIOS = {
    "first search of a process, default XLA options, no engine cache": (True, "default", False),
    "first search of a process, engine cache empty (first run on a machine)": (True, "quick", True),
    "first search of a process, engine cache filled (a rerun of the script)": (True, "quick", True),
    "second search over an equal space in the same process": (False, "quick", True),
}


def search_run() -> tuple[float, float]:
    """(wall seconds, backend-compile seconds) of Search(...) + a 2 × 16 JAX-mode run over the HPO space."""
    report.CompileClock.reset()
    start = time.perf_counter()
    hj.Search(hpo_space()).run(trivial, "max", generations=2, population_size=POPULATION, mode="jax", seed=0,
                               quiet=True)
    return time.perf_counter() - start, report.CompileClock.total()


def first_element(candidate: dict) -> float:
    return float(candidate["x"][0])


def python_mode_microseconds(size: int, steps: int, directory: str | None) -> float:
    """µs per candidate of a Python-mode run of `steps` over a float vector of `size`, trivial objective, with
    hopper_jax's functions already in memory: loaded from the engine cache (`directory`) or jitted (None)."""
    executables.set_cache_dir(directory)
    compiled.clear()
    template = {"x": hj.float(-1.0, 1.0, shape=(size,))}
    hj.Search(template).run(first_element, "max", steps=20, seed=0, quiet=True)  # build the functions, untimed
    start = time.perf_counter()
    hj.Search(template).run(first_element, "max", steps=steps, seed=0, quiet=True)
    return 1e6 * (time.perf_counter() - start) / steps


def python_mode_rows(repeats: int, steps: int) -> list[list[str]]:
    """Per-call cost of the loaded executables against jax.jit's, in the loop that calls them most often."""
    directory = tempfile.mkdtemp(prefix="hopper_jax_bench_startup_")
    rows = []
    for size in (6, 1000):
        costs = {"jit": [], "loaded": []}
        for _ in range(repeats):  # interleaved
            costs["jit"].append(python_mode_microseconds(size, steps, None))
            costs["loaded"].append(python_mode_microseconds(size, steps, directory))
        jit, loaded = (statistics.median(costs[k]) for k in ("jit", "loaded"))
        rows.append([f"Python mode, float vector ({size},)", str(steps), fmt(jit, 3), fmt(loaded, 3),
                     fmt(loaded / jit, 3)])
    shutil.rmtree(directory, ignore_errors=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    report.add_output_arguments(parser, "startup", "1 repeat, fewer calls")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    repeats, calls = (1, 20) if args.quick else (args.repeats, 200)
    began = time.perf_counter()
    jnp.ones(1).block_until_ready()
    rows = []
    for name, space in list(SPACES.items())[: 1 if args.quick else None]:  # --quick: the HPO space only
        costs = {level: [engine_costs(space(), options, calls) for _ in range(repeats)]
                 for level, options in (("default", None), ("quick", quick_options()))}
        (c2, t2), (c0, t0) = ([statistics.median(x) for x in zip(*costs[level])] for level in ("default", "quick"))
        rows.append([name, fmt(c2, 3), fmt(c0, 3), fmt(c2 / c0, 3), fmt(t2, 3), fmt(t0, 3), fmt(t0 / t2, 3)])
        print(f"{name}: compile {c2:.3f} / {c0:.3f} s, call {t2:.3f} / {t0:.3f} ms", file=sys.stderr, flush=True)
    runs: dict[str, list] = {name: [] for name in SCENARIOS}
    for _ in range(repeats):  # interleaved, each repeat with a new, empty cache directory
        directory = tempfile.mkdtemp(prefix="hopper_jax_bench_startup_")
        for name, (new_process, options, cache) in SCENARIOS.items():
            if new_process:  # what a new process has: no compiled function in memory, the objective's neither
                jax.clear_caches()
                compiled.clear()
                batched.clear()
            compiled.QUICK_COMPILE_ELEMENTS = QUICK_COMPILE_ELEMENTS if options == "quick" else -1
            executables.set_cache_dir(directory if cache else None)
            runs[name].append(search_run())
        compiled.QUICK_COMPILE_ELEMENTS = QUICK_COMPILE_ELEMENTS
        shutil.rmtree(directory, ignore_errors=True)
    medians = {name: [statistics.median(x) for x in zip(*results)] for name, results in runs.items()}
    first = medians[next(iter(SCENARIOS))][0]
    run_rows = [[name, fmt(wall, 3), fmt(compile_s, 3), fmt(first / wall, 3)]
                for name, (wall, compile_s) in medians.items()]
    report.emit(report.assemble(
        f"### JAX mode's engine step (`tell_generation` + `propose_generation`) for P = {POPULATION}: XLA compile "
        f"seconds and ms per call, "
        f"default CPU options vs hopper_jax's quick options (median of {repeats})",
        markdown_table(["space", "compile s (default)", "compile s (quick)", "compile ratio", "call ms (default)",
                        "call ms (quick)", "call ratio quick / default"], rows),
        f"Quick options: {quick_options()}; hopper_jax uses them when a candidate has at most "
        f"{QUICK_COMPILE_ELEMENTS} array elements.",
        f"### Search(...) + run(generations=2, population_size={POPULATION}, mode='jax') over the HPO space, "
        f"trivial objective (median of {repeats})",
        markdown_table(["run", "wall s", "of which backend compile s", "speed-up over the first row"], run_rows),
        f"### Python mode, functions in memory: µs per candidate with jax.jit's executables and with ones loaded "
        f"from the engine cache (trivial objective, median of {repeats})",
        markdown_table(["space", "steps", "µs / candidate (jax.jit)", "µs / candidate (loaded)", "ratio loaded / jit"],
                       python_mode_rows(repeats, 200 if args.quick else 4000)),
        total_s=time.perf_counter() - began), report.output_path(args))


if __name__ == "__main__":
    main()
