"""What a PyHopper program meets first: a small process pool and a short runtime budget, against PyHopper.

Every row is one fresh interpreter running the same program under `import pyhopper` and under
`import hopper_jax as pyhopper` (end to end, imports and start-up included), the two alternating:
- pool: `n_jobs=5`, 10 trivial steps, and `n_jobs=4`, 20 steps of `time.sleep(0.2)`: the whole program's wall
  time and, timed inside it, the import line, `Search(...)` and `run()` up to its first result (the pool's
  start-up);
- runtime: a 5-D sphere for `runtime="2s"` and `"10s"`: evaluations made and the share of random seeding
  (phase 1 should hold a quarter of the time the search had).

    python benchmarks/bench_first_hour.py --quick   # one repeat, the first pool program, runtime 1 s
    python benchmarks/bench_first_hour.py           # three repeats: writes benchmarks/results/first_hour.md
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import report  # noqa: E402
from benchmarks.machine import fmt, markdown_table  # noqa: E402

LIBRARIES = {"PyHopper 1.2.3": "import pyhopper", "hopper_jax": "import hopper_jax as pyhopper"}
PARTS = {"import": "of which: the import line", "search": "of which: Search(...) (hopper_jax imports JAX here)",
         "first": "of which: run() to its first result (pool start-up and the first proposal)"}

POOL = """
import time, json, sys
started = time.perf_counter()
{import_line}
imported = time.perf_counter()
class First(pyhopper.callbacks.Callback):
    at = None
    def on_evaluate_end(self, candidate, f, info):
        self.at = self.at or time.perf_counter()
def objective(params, pause={pause}):
    if pause:
        time.sleep(pause)
    return -(params["x"] - 0.3) ** 2
if __name__ == "__main__":
    search = pyhopper.Search(x=pyhopper.float(0, 1))
    first, running = First(), time.perf_counter()
    search.run(objective, "max", steps={steps}, n_jobs={n_jobs}, quiet=True, callbacks=[first])
    print(json.dumps({{"evaluations": len(search.history), "import": imported - started,
                      "search": running - imported, "first": first.at - running}}))
"""

RUNTIME = """
import json
{import_line}
class Count(pyhopper.callbacks.Callback):
    evaluations = seeding = 0
    def on_evaluate_end(self, candidate, f, info):
        self.evaluations += 1
        self.seeding += "SEEDING" in getattr(info.type, "name", str(info.type)).upper()
def objective(params):
    return -sum((params[k] - 0.3) ** 2 for k in "abcde")
if __name__ == "__main__":
    search = pyhopper.Search({{k: pyhopper.float(0, 1) for k in "abcde"}})
    count = Count()
    search.run(objective, "max", runtime="{runtime}", quiet=True, callbacks=[count])
    print(json.dumps({{"evaluations": count.evaluations, "seeding": count.seeding}}))
"""


def run_program(code: str, directory: pathlib.Path, name: str) -> tuple[float, dict]:
    """Wall seconds of a fresh interpreter running `code` (written to a file: pools spawn from it), its JSON."""
    path = directory / f"{name}.py"
    path.write_text(code)
    start = time.perf_counter()
    # bytecode is cached as on a user's machine: an environment that sets PYTHONDONTWRITEBYTECODE (this one
    # does) would make every interpreter compile the sources of whatever has no .pyc yet, hopper_jax's included
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    out = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=600,
                         cwd=directory, env={**env, "PYTHONPATH": str(ROOT)})
    wall = time.perf_counter() - start
    if out.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{out.stderr[-2000:]}")
    return wall, json.loads(out.stdout.strip().splitlines()[-1])


def pool_rows(repeats: int, directory: pathlib.Path, quick: bool = False) -> list[list[str]]:
    cases = [("n_jobs=5, 10 trivial steps", dict(n_jobs=5, steps=10, pause=0)),
             ("n_jobs=4, 20 steps of 0.2 s", dict(n_jobs=4, steps=20, pause=0.2))][: 1 if quick else None]
    rows = []
    for label, case in cases:
        seconds: dict[str, dict[str, list[float]]] = {lib: {} for lib in LIBRARIES}
        for repeat in range(repeats):
            for lib, import_line in LIBRARIES.items():
                wall, result = run_program(POOL.format(import_line=import_line, **case), directory,
                                           f"pool_{repeat}")
                assert result["evaluations"] >= case["steps"] * 0.8, (lib, result)
                for part, value in [("whole program", wall), *((part, result[part]) for part in PARTS)]:
                    seconds[lib].setdefault(part, []).append(value)
        for part in ["whole program", *PARTS]:
            ours, theirs = (statistics.median(seconds[lib][part]) for lib in reversed(LIBRARIES))
            rows.append([label, PARTS.get(part, part), fmt(theirs, 3), fmt(ours, 3), fmt(ours / theirs, 3)])
    return rows


def runtime_rows(runtimes: list[str], repeats: int, directory: pathlib.Path) -> list[list[str]]:
    rows = []
    for runtime in runtimes:
        for lib, import_line in LIBRARIES.items():
            results = [run_program(RUNTIME.format(import_line=import_line, runtime=runtime), directory,
                                   f"runtime_{repeat}")[1] for repeat in range(repeats)]
            evaluations = statistics.median(r["evaluations"] for r in results)
            share = statistics.median(r["seeding"] / max(r["evaluations"], 1) for r in results)
            rows.append([runtime, lib, f"{evaluations:.0f}", f"{share:.2f}"])
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    report.add_output_arguments(parser, "first_hour", "one repeat, the first pool program, a 1 s runtime")
    args = parser.parse_args(argv)
    import tempfile

    started = time.perf_counter()
    repeats = 1 if args.quick else 3
    with tempfile.TemporaryDirectory() as tmp:
        directory = pathlib.Path(tmp)
        pools = pool_rows(repeats, directory, args.quick)
        runtimes = runtime_rows(["1s"] if args.quick else ["2s", "10s"], repeats, directory)
    text = report.assemble(
        "### A small process pool: wall seconds of the whole program (fresh interpreter; median of "
        f"{repeats})\n\n" + markdown_table(["program", "part", "PyHopper 1.2.3 s", "hopper_jax s",
                                            "ratio hopper_jax / PyHopper"], pools),
        "### A short runtime budget, 5-D sphere: evaluations made and the share of random seeding (median of "
        f"{repeats})\n\n" + markdown_table(["runtime", "library", "evaluations", "random-seeding share"], runtimes),
        "Notes: each row runs `benchmarks/bench_first_hour.py`'s program text in a new interpreter, so imports, "
        "worker start-up and compilation count. hopper_jax's on-disk cache of its compiled functions is left as "
        "the machine has it (a first run ever on a machine compiles them; the runtime rows show the phase split "
        "holding either way). PyHopper has no seed argument; neither program sets one. The programs run with "
        "bytecode caching on (PYTHONDONTWRITEBYTECODE removed from their environment), as on a user's machine.",
        total_s=time.perf_counter() - started)
    report.emit(text, report.output_path(args))


if __name__ == "__main__":
    main()
