"""What checkpointing costs: per evaluation on a 1 ms objective, per journal append as the log grows,
and per snapshot of a JAX search with a 1e6-element parameter.

    python benchmarks/bench_checkpoint.py            # full: figures for benchmarks/results/checkpoint.md
    python benchmarks/bench_checkpoint.py --quick    # a few seconds, for the CI smoke test
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import hopper_jax as hj  # noqa: E402
from benchmarks import report  # noqa: E402
from benchmarks.machine import fmt, markdown_table  # noqa: E402
from hopper_jax.persistence import CheckpointStore, Journal  # noqa: E402


def busy_ms(params: dict) -> float:
    """A 1 ms objective (busy wait: sleep is too coarse at this scale)."""
    end = time.perf_counter() + 1e-3
    while time.perf_counter() < end:
        pass
    return float(np.sum((params["w"] - 0.3) ** 2) + (params["n"] - 3) ** 2)


def steady_ms_per_eval(search: hj.Search, skip: int) -> float:
    """Milliseconds per evaluation from the history's finish times, after `skip` warm-up records."""
    seconds = [r["seconds"] for r in search.history.records][skip:]
    return 1e3 * (seconds[-1] - seconds[0]) / (len(seconds) - 1)


def python_mode(steps: int, repeats: int) -> list[list[str]]:
    """ms/evaluation without a checkpoint, with one (journal fsync per evaluation, snapshot every 60 s),
    and with a snapshot after every speculative block (checkpoint_interval=0); interleaved repeats."""
    settings = {"no checkpoint": None, "checkpoint (default 60 s snapshots)": 60.0,
                "checkpoint, snapshot every block": 0.0}
    times: dict[str, list[float]] = {name: [] for name in settings}
    for repeat in range(repeats):
        for name, interval in settings.items():
            search = hj.Search(w=hj.float(-1, 1, shape=(8,)), n=hj.int(0, 9), act=hj.choice("a", "b"))
            with tempfile.TemporaryDirectory() as directory:
                kwargs = {} if interval is None else dict(checkpoint_path=os.path.join(directory, "ck"),
                                                          checkpoint_interval=interval)
                search.run(busy_ms, "min", steps=steps, seed=repeat, quiet=True, **kwargs)
            times[name].append(steady_ms_per_eval(search, skip=steps // 10))
    base = statistics.median(times["no checkpoint"])
    return [[name, fmt(statistics.median(t), 3), fmt(statistics.median(t) - base, 3),
             fmt(statistics.median(t) / base, 3)] for name, t in times.items()]


def journal_growth(records: int) -> list[list[str]]:
    """Mean append time (one record, fsync'd) at the start and at the end of a long journal."""
    record = {"step": 0, "key": 2**63, "status": "ok", "f": 1.5, "type": 3, "temperature": 0.5, "at": 1.0,
              "elapsed": 1.0, "seconds": 1e-3, "error": None, "partial": [],
              "candidate": {"w": list(np.linspace(0, 1, 8)), "n": 3, "act": "a"}}
    with tempfile.TemporaryDirectory() as directory:
        journal = Journal(os.path.join(directory, "journal.jsonl"))
        durations = []
        for step in range(records):
            started = time.perf_counter()
            journal.append([{**record, "step": step}])
            durations.append(time.perf_counter() - started)
        journal.close()
    window = max(records // 10, 1)
    return [[f"records 1–{window}", fmt(1e3 * statistics.mean(durations[:window]), 3)],
            [f"records {records - window + 1}–{records}", fmt(1e3 * statistics.mean(durations[-window:]), 3)]]


def large_jax(size: int, population: int, generations: int) -> list[list[str]]:
    """A JAX search over a `size`-element parameter with a snapshot after every generation: snapshot bytes
    on disk, median seconds per snapshot write (timed around `CheckpointStore.save`), journal bytes per
    candidate."""
    def loss(candidate):
        return jnp.mean((candidate["w"] - 0.1) ** 2)

    durations: list[float] = []
    save = CheckpointStore.save

    def timed_save(self, *args):
        started = time.perf_counter()
        save(self, *args)
        durations.append(time.perf_counter() - started)

    start = np.random.default_rng(0).uniform(-1, 1, size)  # incompressible: the worst case for snapshots
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "ck")
        search = hj.Search(w=hj.float(-1, 1, shape=(size,), init=start))
        CheckpointStore.save = timed_save
        try:
            search.run(loss, "min", mode="jax", population_size=population, generations=generations, seed=0,
                       quiet=True, checkpoint_path=path, checkpoint_interval=0.0)
        finally:
            CheckpointStore.save = save
        state = os.path.join(path, "state")
        steps = sorted(int(s) for s in os.listdir(state) if s.isdigit())
        snapshot_bytes = sum(os.path.getsize(os.path.join(root, f))
                             for root, _, files in os.walk(os.path.join(state, str(steps[-1]))) for f in files)
        journal_bytes = os.path.getsize(os.path.join(path, "journal.jsonl")) / (population * generations)
    return [[f"{size:.0e}-element parameter, P={population}", fmt(snapshot_bytes / 2**20, 3),
             fmt(statistics.median(durations), 3), fmt(journal_bytes, 3), f"{len(steps)} kept"]]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    report.add_output_arguments(parser, "checkpoint", "small sizes, a few seconds")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    quick = args.quick
    python_rows = python_mode(steps=200 if quick else 2000, repeats=1 if quick else 3)
    journal_rows = journal_growth(500 if quick else 20_000)
    jax_rows = large_jax(20_000 if quick else 1_000_000, 16 if quick else 256, 2 if quick else 4)
    text = report.assemble(
        "### Checkpoint cost per evaluation, Python mode, 1 ms objective (median of interleaved repeats)",
        markdown_table(["setting", "ms / evaluation", "overhead ms", "ratio"], python_rows),
        "### Journal append (one record, fsync'd) as the journal grows",
        markdown_table(["appends", "mean ms per append"], journal_rows),
        "### JAX mode, a large array parameter: what a snapshot and the journal hold",
        markdown_table(["search", "snapshot MiB", "s per snapshot", "journal bytes / candidate", "snapshots"],
                       jax_rows),
        "Notes: in JAX mode the journal holds one compact record per generation (base64 columns: objective "
        "values, fingerprints, phases, temperatures, and per candidate the values of leaves up to 10 000 "
        "elements or the summary of larger ones: mean, std, min, max), so the bytes per candidate stay a few "
        "dozen whatever the parameter size; candidates can be drawn again from the seed and the step. A "
        "snapshot holds the core state (the best and the merged-moves proposal in the internal encoding), the "
        "best's decoded values and the pickled best dict: about 3 copies of the parameter, whatever the "
        "population or the history; Orbax keeps the last 3. `s per snapshot`: median time of one snapshot write "
        "(the run saves after every generation; the default is every 60 s). The parameter starts from uniform "
        "noise, so the snapshot does not compress.",
        total_s=time.perf_counter() - started)
    report.emit(text, report.output_path(args))


if __name__ == "__main__":
    main()
