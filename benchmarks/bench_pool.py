"""Process-pool throughput: a 0.2 s sleep objective in-process, on 1 worker and on 2 workers.

Drives `hopper_jax.evaluators.pool.ProcessPool` directly (submit/wait, every worker kept busy), so the
figure is the pool's own overhead and parallelism, not the search loop's. Pool start-up (spawning the
interpreters, importing hopper_jax, unpickling the objective) is timed separately.

    python benchmarks/bench_pool.py            # N=20 candidates per row
    python benchmarks/bench_pool.py --tasks 40 --seconds 0.1
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.machine import footer, markdown_table  # noqa: E402
from hopper_jax.evaluators.pool import ProcessPool  # noqa: E402
from hopper_jax.evaluators.python import evaluate  # noqa: E402


def sleepy(candidate: dict, seconds: float) -> float:
    """The benchmark objective: sleeps, then returns the candidate's x."""
    time.sleep(seconds)
    return float(candidate["x"])


def in_process(tasks: int, seconds: float) -> float:
    """Wall seconds for `tasks` evaluations one after another in this process."""
    start = time.perf_counter()
    for i in range(tasks):
        assert evaluate(sleepy, {"x": i}, {"seconds": seconds}).status == "ok"
    return time.perf_counter() - start


def through_pool(tasks: int, seconds: float, n_jobs: int) -> tuple[float, float]:
    """(start-up seconds, wall seconds for `tasks` evaluations) on a pool of `n_jobs` workers."""
    start = time.perf_counter()
    with ProcessPool(sleepy, {"seconds": seconds}, n_jobs, quiet=True) as pool:
        started = time.perf_counter()
        todo, done = list(range(tasks)), 0
        while done < tasks:
            while todo and pool.in_flight() < pool.capacity:
                ticket = todo.pop(0)
                pool.submit(ticket, {"x": ticket})
            for _, outcome in pool.wait():
                assert outcome.status == "ok", outcome
                done += 1
        finished = time.perf_counter()
    return started - start, finished - started


def through_search(tasks: int, seconds: float, n_jobs: int) -> tuple[float, float]:
    """(candidates/s in steady state, wall s incl. pool start-up) of `Search.run(..., n_jobs=n_jobs)`.

    The steady-state rate comes from the history's completion times after the first three (the first
    ones wait for the JIT compilation of the search's own functions): (N - 3) / (last - third).
    """
    import hopper_jax as hj

    search = hj.Search(x=hj.float(0.0, 1.0))
    start = time.perf_counter()
    search.run(sleepy, "max", steps=tasks, seed=0, n_jobs=n_jobs, quiet=True, kwargs={"seconds": seconds})
    wall = time.perf_counter() - start
    finished = sorted(record["seconds"] for record in search.history.records)
    return (len(finished) - 3) / (finished[-1] - finished[2]), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=0.2)
    args = parser.parse_args()
    rows, rates = [], {}
    for name, n_jobs in (("in-process (n_jobs=1)", None), ("ProcessPool n_jobs=1", 1), ("ProcessPool n_jobs=2", 2)):
        startup, wall = (0.0, in_process(args.tasks, args.seconds)) if n_jobs is None else \
            through_pool(args.tasks, args.seconds, n_jobs)
        rates[name] = args.tasks / wall
        ideal = args.tasks * args.seconds / (n_jobs or 1)
        rows.append([name, f"{startup:.2f}" if n_jobs else "-", f"{wall:.2f}", f"{rates[name]:.2f}",
                     f"{(wall - ideal) / args.tasks * 1e3:.1f}"])
    print(f"## Process pool throughput: {args.tasks} candidates of `time.sleep({args.seconds})`\n")
    print(markdown_table(["engine", "start-up s", "wall s", "candidates/s", "overhead ms/candidate"], rows))
    baseline = rates["in-process (n_jobs=1)"]
    print(f"\nSpeed-up of 2 workers: {rates['ProcessPool n_jobs=2'] / baseline:.2f}x over in-process, "
          f"{rates['ProcessPool n_jobs=2'] / rates['ProcessPool n_jobs=1']:.2f}x over 1 worker (target >= 1.8x). "
          "Start-up is not in the wall time.\n")
    search_rows, search_rates = [], {}
    for n_jobs in (1, 2):
        rate, wall = through_search(args.tasks, args.seconds, n_jobs)
        search_rates[n_jobs] = rate
        search_rows.append([f"Search.run(n_jobs={n_jobs})", f"{rate:.2f}", f"{wall:.2f}"])
    print(f"\n## Through Search.run: {args.tasks} steps of `time.sleep({args.seconds})`\n")
    print(markdown_table(["engine", "candidates/s (steady state)", "wall s incl. start-up"], search_rows))
    print(f"\nSpeed-up of n_jobs=2 over n_jobs=1 (in-process) through Search.run: "
          f"{search_rates[2] / search_rates[1]:.2f}x (target >= 1.8x).\n")
    print(footer())


if __name__ == "__main__":
    main()
