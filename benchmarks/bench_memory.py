"""Memory and journal cost of a long JAX-mode run: the README's large example, peak RSS, with and without a checkpoint.

The README shows `search.run(loss, "min", generations=100, population_size=4096, mode="jax", chunk_size=512)`
over a (10000,) array (and a choice): 4.1e7 parameter values a generation, 4.1e9 over the run. Each
configuration runs in a fresh process, which reports its peak resident memory (ru_maxrss), its wall time,
the size of its history, and, when checkpointed, the journal's bytes. The bars: peak RSS ≤ 2 GB, and a
checkpointed run (journal every generation, snapshots at the default 60 s) costs at most 10 % more time
per generation than the unchecked one.

With `--huge`, one parameter of 1e8 float32 elements instead (issue: PyHopper programs run unchanged): P = 8,
3 generations in a fresh process, peak RSS against the bytes of one population of decoded values.

    python benchmarks/bench_memory.py --quick
    python benchmarks/bench_memory.py            # full: writes benchmarks/results/memory.md
    python benchmarks/bench_memory.py --huge     # 1e8 elements (about 11 GB of RAM)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import report  # noqa: E402
from benchmarks.machine import fmt, markdown_table  # noqa: E402

FULL = {"generations": 100, "population": 4096, "chunk_size": 512, "size": 10_000}
QUICK = {"generations": 4, "population": 256, "chunk_size": 64, "size": 10_000}
RSS_BAR_GB, JOURNAL_BAR = 2.0, 1.10
HUGE = {"size": 100_000_000, "population": 8, "generations": 3}
HUGE_QUICK = {"size": 1_000_000, "population": 8, "generations": 3}

CHILD_HUGE = """
import json, resource, sys, time
import jax.numpy as jnp
import hopper_jax as hj
settings = json.loads(sys.argv[1])
search = hj.Search(w=hj.float(-1, 1, shape=(settings["size"],)))
started = time.perf_counter()
search.run(lambda c: jnp.sum(c["w"] ** 2), "min", generations=settings["generations"],
           population_size=settings["population"], mode="jax", quiet=True, seed=0)
print("RESULT " + json.dumps({"wall": time.perf_counter() - started, "evaluations": len(search.history),
                              "rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}))
"""

CHILD = """
import json, os, resource, sys, time
import jax.numpy as jnp
import hopper_jax as hj
settings = json.loads(sys.argv[1])
path = sys.argv[2] if len(sys.argv) > 2 else None

def loss(candidate):
    return jnp.sum((candidate["w"] - 0.3) ** 2) + candidate["scale"]

def run(generations, path):
    search = hj.Search(w=hj.float(-1.0, 1.0, shape=(settings["size"],)), scale=hj.choice(0.5, 1.0, 2.0))
    started = time.perf_counter()
    search.run(loss, "min", generations=generations, population_size=settings["population"], mode="jax",
               chunk_size=settings["chunk_size"], seed=0, quiet=True, checkpoint_path=path)
    return search, time.perf_counter() - started

# two generations first (same shapes, its own checkpoint): imports and compilation are not per-generation costs
run(2, None if path is None else path + "_warm-up")
search, wall = run(settings["generations"], path)
journal = os.path.getsize(os.path.join(path, "journal.jsonl")) if path else 0
print("RESULT " + json.dumps({"wall": wall, "rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
                              "records": len(search.history.records), "history_mb": search.history.bytes_kept / 2**20,
                              "journal_mb": journal / 2**20, "best_f": search.best_f}))
"""


def run(settings: dict, checkpoint: bool, child: str = CHILD) -> dict:
    with tempfile.TemporaryDirectory() as directory:
        args = [sys.executable, "-c", child, json.dumps(settings)] + ([os.path.join(directory, "ck")] if checkpoint
                                                                       else [])
        out = subprocess.run(args, capture_output=True, text=True, check=False)
        lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
        if out.returncode != 0 or not lines:
            raise RuntimeError(f"child failed ({out.returncode}): {out.stderr[-3000:]}")
        return json.loads(lines[0][len("RESULT "):])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    report.add_output_arguments(parser, "memory", "a small population, a few seconds")
    parser.add_argument("--huge", action="store_true", help="one parameter of 1e8 elements (1e6 with --quick)")
    args = parser.parse_args(argv)
    if args.huge:
        return huge(args)
    settings = QUICK if args.quick else FULL
    started = time.perf_counter()
    plain, checked = run(settings, False), run(settings, True)
    generations = settings["generations"]
    rows = [[name, fmt(r["rss_gb"], 3), fmt(r["wall"], 3), fmt(1e3 * r["wall"] / generations, 3), str(r["records"]),
             fmt(r["history_mb"], 3), fmt(r["journal_mb"], 3), fmt(r["best_f"])]
            for name, r in (("no checkpoint", plain), ("checkpoint (journal every generation)", checked))]
    ratio = checked["wall"] / plain["wall"]
    bars = [f"- peak RSS {fmt(max(plain['rss_gb'], checked['rss_gb']), 3)} GB ≤ {RSS_BAR_GB} GB: "
            f"**{'met' if max(plain['rss_gb'], checked['rss_gb']) <= RSS_BAR_GB else 'MISSED'}**",
            f"- checkpointed / unchecked wall per generation {fmt(ratio, 3)} ≤ {JOURNAL_BAR}: "
            f"**{'met' if ratio <= JOURNAL_BAR else 'MISSED'}**"]
    text = report.assemble(
        f"### The README's large JAX-mode example: P = {settings['population']}, d = {settings['size']} + a choice, "
        f"{generations} generations, chunk_size = {settings['chunk_size']}, one fresh process per row",
        markdown_table(["run", "peak RSS GB", "wall s", "ms / generation", "history records", "history MB kept",
                        "journal MB", "best f"], rows),
        "Bars:\n" + "\n".join(bars),
        "Notes: peak RSS is the process's ru_maxrss (JAX, XLA and the compiled programs included). Each process "
        "first runs two generations of the same search (checkpointed when its row is), so the wall times are "
        "of warm runs: compilation and imports (Orbax's among them) are not counted per generation; snapshots "
        "(every 60 s, the default) and the journal are. The history "
        "keeps every candidate's value, phase, temperature and fingerprint, and per array leaf its values while "
        "the byte budget lasts (256 MiB), summaries (mean, std, min, max) after; the journal holds one compact "
        "record per generation.",
        total_s=time.perf_counter() - started)
    report.emit(text, report.output_path(args))


def huge(args: argparse.Namespace) -> None:
    """Peak RSS of a JAX-mode run over one huge parameter, in population-sized units."""
    settings, started = HUGE_QUICK if args.quick else HUGE, time.perf_counter()
    args._fragment = "memory_huge"
    result = run(settings, False, CHILD_HUGE)
    population_gb = settings["population"] * settings["size"] * 4 / 2**30
    row = [f"{settings['size']:.0e}", str(settings["population"]), str(result["evaluations"]), fmt(result["wall"], 3),
           fmt(result["rss_gb"], 3), fmt(population_gb, 3), fmt(result["rss_gb"] / population_gb, 3)]
    text = report.assemble(
        f"### One huge parameter in JAX mode: {settings['generations']} generations of {settings['population']}, "
        "a fresh process",
        markdown_table(["elements", "P", "evaluations", "wall s", "peak RSS GiB", "one population GiB",
                        "peak / population"], [row]),
        "Notes: `hj.Search(w=hj.float(-1, 1, shape=(n,))).run(lambda c: jnp.sum(c['w'] ** 2), 'min', "
        "generations=3, population_size=8, mode='jax')`; peak RSS is ru_maxrss (JAX and XLA included); one "
        "population is P × n float32 decoded values. Compile time is in the wall time.",
        total_s=time.perf_counter() - started)
    report.emit(text, report.output_path(args))


if __name__ == "__main__":
    main()
