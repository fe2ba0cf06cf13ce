"""Engine overhead benchmark: cost per candidate in Python mode.

Uses a trivial objective (the first coordinate), so the wall time is almost
entirely the optimizer's own bookkeeping: sampling, mutation, copying and
best tracking. PyHopper 1.2.3 and hopper_jax (default Python mode) run side
by side in one process with the same number of steps.

    python benchmarks/bench_overhead.py            # shapes 1000 and 100000
    python benchmarks/bench_overhead.py --quick
    python benchmarks/bench_overhead.py --objective constant   # no improvements: pure engine cost

With the default objective, hopper_jax's cost per candidate also depends on how often a candidate improves
(an improvement ends a speculative block early, and each block is one device call), so two versions of the
algorithm can differ in it without any change in the engine; `--objective constant` (every value 0.0, no
improvement after the first) measures the engine alone.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys
import time
from typing import Callable

import jax

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import report  # noqa: E402
from benchmarks.machine import fmt, markdown_table  # noqa: E402
from benchmarks.optimizers import unavailable_reason  # noqa: E402

Engine = Callable[[int, int], None]  # (size, steps) -> runs one search

FULL_STEPS: dict[int, int] = {1000: 20000, 100000: 1000}
QUICK_STEPS: dict[int, int] = {1000: 2000, 100000: 100}
WARMUP_STEPS: int = 20
COMPILE_EVENT_PREFIX = "/jax/core/compile/"  # trace, lower-to-MLIR, backend compile

NOTES = f"""Notes:
- Objective: `float(c["x"][0])` (`--objective first`) or `0.0` (`--objective constant`), a module-level function, maximized; one run = \
`Search(...)` + `run(...)`; medians over repeats.
- Before timing, each engine runs once with {WARMUP_STEPS} steps on the same shape \
(imports, process-wide JIT caches). The per-candidate cost is the slope between fresh runs of \
`steps` and `steps // 4` candidates (median walls less JAX compile time, over repeats), so per-run costs (building the \
search, hopper_jax's JIT compilation for a new `Search`) cancel; they are reported as the intercept. \
JAX compile time inside a run is also measured with `jax.monitoring` events ({COMPILE_EVENT_PREFIX}*).
- Both run in the same process, sequentially, on CPU; hopper_jax in its default Python mode."""


def first_coordinate(candidate: dict) -> float:
    """Trivial objective: the first entry of ``x``."""
    return float(candidate["x"][0])


def constant(candidate: dict) -> float:
    """Trivial objective that never improves after the first candidate."""
    return 0.0


OBJECTIVES = {"first": first_coordinate, "constant": constant}
OBJECTIVE = [first_coordinate]  # the one the engines run (--objective)


def run_pyhopper(size: int, steps: int) -> None:
    """One PyHopper 1.2.3 search (its summary, printed even if quiet, is muted)."""
    import pyhopper

    with contextlib.redirect_stdout(io.StringIO()):
        search = pyhopper.Search(x=pyhopper.float(-1, 1, shape=size))
        search.run(OBJECTIVE[0], "max", steps=steps, quiet=True)


def run_hopper_jax(size: int, steps: int) -> None:
    """One hopper_jax search in the default (Python) mode."""
    import hopper_jax as hj

    with contextlib.redirect_stdout(io.StringIO()):
        search = hj.Search({"x": hj.float(-1.0, 1.0, shape=(size,))})
        search.run(OBJECTIVE[0], "max", steps=steps, seed=0, quiet=True)


ENGINES: dict[str, Engine] = {"pyhopper": run_pyhopper, "hopper_jax": run_hopper_jax}


_COMPILE_SECONDS: list[float] = [0.0]


def _on_jax_event(event: str, duration: float, **_: object) -> None:
    """Accumulate JAX tracing/lowering/compilation time (jax.monitoring events)."""
    if event.startswith(COMPILE_EVENT_PREFIX):
        _COMPILE_SECONDS[0] += duration


def _timed_run(engine: Engine, size: int, steps: int) -> tuple[float, float]:
    """(wall seconds, JAX compile seconds inside it) of one search."""
    compile_before = _COMPILE_SECONDS[0]
    start = time.perf_counter()
    engine(size, steps)
    wall = time.perf_counter() - start
    return wall, _COMPILE_SECONDS[0] - compile_before


def measure(engine: Engine, size: int, steps: int, repeats: int) -> dict[str, float]:
    """Per-candidate and per-run costs of ``engine`` (medians over repeats), after one warm-up run.

    ``marginal``: the engine's own cost per candidate in ms, the slope between a run of ``steps`` and one of
    ``steps // 4`` (both fresh searches, same phase mix; JAX compile time, measured by jax.monitoring,
    taken out of each run first), so per-run costs cancel; ``fixed``: the per-run
    cost in s (intercept: setup and, for hopper_jax, compilation); ``incl``: wall / steps in ms of the
    long run; ``compile``: JAX compile seconds inside one long run.
    """
    engine(size, WARMUP_STEPS)
    short = max(steps // 4, 1)
    longs = [_timed_run(engine, size, steps) for _ in range(repeats)]
    shorts = [_timed_run(engine, size, short) for _ in range(repeats)]
    long_wall = statistics.median(w for w, _ in longs)
    long_work = statistics.median(w - c for w, c in longs)  # compile time varies by ±0.3 s: take it out
    short_work = statistics.median(w - c for w, c in shorts)
    slope = (long_work - short_work) / (steps - short)
    return {
        "marginal": slope * 1e3,
        "fixed": long_wall - slope * steps,
        "incl": long_wall * 1e3 / steps,
        "compile": statistics.median(c for _, c in longs),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=list(FULL_STEPS))
    p.add_argument("--steps", type=int, nargs="+",
                   help="steps per size (default: 2000 for 1000, 300 for 100000)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="fewer steps, 1 repeat")
    p.add_argument("--objective", choices=sorted(OBJECTIVES), default="first",
                   help="first: the first coordinate (default); constant: 0.0, no improvements (engine alone)")
    p.add_argument("--out", help="write the markdown report to this file")
    args = p.parse_args(argv)
    table = QUICK_STEPS if args.quick else FULL_STEPS
    if args.quick:
        args.repeats = 1
    if args.steps is None:
        args.steps = [table.get(s, 300) for s in args.sizes]
    if len(args.steps) != len(args.sizes):
        p.error("--steps needs one value per --sizes entry")
    return args


_METRIC_LABEL = {"marginal": "ms per candidate (engine's own cost, slope)",
                 "fixed": "s per run (setup + compile, intercept)",
                 "incl": "ms/cand, wall/steps of one run",
                 "compile": "JAX compile s per run"}


def _row(size: int, steps: int, kind: str, res: dict[str, dict[str, float]]) -> list[str]:
    """One table row: a metric for both engines and their ratio."""
    ph, hj = res["pyhopper"].get(kind), res["hopper_jax"].get(kind)
    ratio = hj / ph if ph and hj is not None and ph > 0 else None
    return [f"({size},)", str(steps), _METRIC_LABEL[kind], fmt(ph, 3), fmt(hj, 3),
            fmt(ratio, 3)]


def main(argv: list[str] | None = None) -> None:
    """Measure both engines for each shape and print a markdown table."""
    args = parse_args(argv)
    OBJECTIVE[0] = OBJECTIVES[args.objective]
    jax.monitoring.register_event_duration_secs_listener(_on_jax_event)
    available = {}
    for name in ENGINES:
        reason = unavailable_reason(name)
        if reason:
            print(f"[skip] {name}: {reason}", file=sys.stderr)
        available[name] = reason is None
    rows = []
    for size, steps in zip(args.sizes, args.steps):
        res = {name: (measure(ENGINES[name], size, steps, args.repeats)
                      if available[name] else {}) for name in ENGINES}
        print(f"  shape=({size},) steps={steps}: {res}", file=sys.stderr, flush=True)
        rows += [_row(size, steps, kind, res) for kind in _METRIC_LABEL]
    header = ["shape", "steps", "metric", "PyHopper 1.2.3", "hopper_jax (Python mode)",
              "ratio hopper_jax / PyHopper"]
    report.emit(report.assemble("### Engine overhead per candidate (trivial objective)",
                                markdown_table(header, rows), NOTES), args.out)


if __name__ == "__main__":
    main()
