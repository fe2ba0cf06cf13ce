"""What the shell costs over the core: `Search.run(mode="jax")` against the functional core in one `lax.scan`.

The objective is a small MLP fit, d = 8320 parameters in two float arrays: `loss = mean((tanh(X @ w1) @ w2
- y)**2)` with X of shape (256, 64), w1 (64, 128), w2 (128,). For each population size P the same
G generations run two ways, side by side in one process:

- core: `hopper(space)` ask → decode → vmap(loss) → tell, every generation inside one jitted `lax.scan`
  (what a user writes by hand; no duplicate check, no history);
- Search.run: `hj.Search(...).run(loss, "min", generations=G, population_size=P, mode="jax")` with its
  defaults (history, duplicate check, callbacks), quiet.

"first run" times a run that traces and compiles everything (hopper_jax's functions and the objective;
hopper_jax's on-disk cache is off); "warm" times a second run of the same shapes. Milliseconds per
generation are wall / G; the ratio is Search.run over core.

    python benchmarks/bench_engine.py --quick
    python benchmarks/bench_engine.py            # full: writes benchmarks/results/engine.md
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("HOPPER_JAX_CACHE_DIR", "off")  # first runs compile hopper_jax's functions too

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import report  # noqa: E402
from benchmarks.machine import fmt, markdown_table  # noqa: E402

FULL = {"sizes": (256, 4096), "generations": 40, "repeats": 3}
QUICK = {"sizes": (32,), "generations": 6, "repeats": 1}
BAR = 1.2


def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 64)).astype(np.float32)
    y = np.tanh(x @ rng.normal(size=(64, 128)).astype(np.float32) * 0.1) @ rng.normal(size=128).astype(np.float32)
    return x, y.astype(np.float32)


X, Y = data()


def loss(candidate: dict) -> jax.Array:
    return jnp.mean((jnp.tanh(X @ candidate["w1"]) @ candidate["w2"] - Y) ** 2)


def template() -> dict:
    import hopper_jax as hj

    return {"w1": hj.float(-1.0, 1.0, shape=(64, 128)), "w2": hj.float(-1.0, 1.0, shape=(128,))}


def core_run(size: int, generations: int):
    """A function of a seed that runs G generations of the core in one jitted scan; returns the best loss."""
    import hopper_jax as hj

    space = hj.Space(template())
    algo = hj.hopper(space)

    def generation(state, inputs):
        key, progress = inputs
        population = algo.ask(key, state, jnp.full((size,), progress))
        values = algo.decode(population)
        fs = jax.vmap(loss)(space.jax_tree(values))
        return algo.tell(state, population, -fs), jnp.min(fs)

    @jax.jit
    def run(seed):
        keys = jax.random.split(jax.random.key(seed), generations)
        progress = jnp.arange(generations, dtype=jnp.float32) * size / (generations * size)
        state, best = jax.lax.scan(generation, algo.init(), (keys, progress))
        return -state.best_score, best

    return lambda seed: float(jax.block_until_ready(run(seed))[0])


def search_run(size: int, generations: int):
    import hopper_jax as hj

    def run(seed: int) -> float:
        search = hj.Search(template())
        search.run(loss, "min", generations=generations, population_size=size, mode="jax", seed=seed, quiet=True)
        return float(search.best_f)

    return run


def fresh() -> None:
    """Forget every compiled function (JAX's and hopper_jax's), as in a new process."""
    from hopper_jax.search import compiled

    jax.clear_caches()
    compiled.clear()


def measure(size: int, generations: int, repeats: int) -> list[list[str]]:
    """Rows (first run, warm) × (core, Search.run) for one population size: ms per generation."""
    runners = {"core (lax.scan)": core_run, "Search.run": search_run}
    first: dict[str, list[float]] = {name: [] for name in runners}
    warm: dict[str, list[float]] = {name: [] for name in runners}
    bests: dict[str, float] = {}
    for repeat in range(repeats):
        for name, make in runners.items():  # interleaved, so load changes hit both alike
            fresh()
            run = make(size, generations)
            started = time.perf_counter()
            run(repeat)
            first[name].append(time.perf_counter() - started)
            started = time.perf_counter()
            bests[name] = run(repeat + 100)
            warm[name].append(time.perf_counter() - started)
    rows = []
    for label, times in (("first run", first), ("warm", warm)):
        core, shell = (statistics.median(times[name]) * 1e3 / generations for name in runners)
        rows.append([str(size), label, fmt(core, 3), fmt(shell, 3), fmt(shell / core, 3)])
    return rows, bests


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    report.add_output_arguments(parser, "engine", "one small population, a few seconds")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    started = time.perf_counter()
    rows, notes = [], []
    for size in settings["sizes"]:
        size_rows, bests = measure(size, settings["generations"], settings["repeats"])
        rows += size_rows
        notes.append(f"P={size}: best loss of the warm run, core {fmt(bests['core (lax.scan)'])}, Search.run "
                     f"{fmt(bests['Search.run'])}")
    bars = [f"- P={row[0]}, {row[1]}: Search.run / core = {row[4]} (bar ≤ {BAR}): "
            f"**{'met' if float(row[4]) <= BAR else 'MISSED'}**" for row in rows if row[1] == "warm"]
    text = report.assemble(
        f"### Search.run(mode='jax') against the core in one lax.scan: ms per generation, MLP d = 8320, "
        f"G = {settings['generations']} (median of {settings['repeats']})",
        markdown_table(["P", "run", "core ms / gen", "Search.run ms / gen", "ratio"], rows),
        "Bars (warm runs):\n" + "\n".join(bars),
        "Notes: " + "; ".join(notes) + ". The core runs without duplicate checks or a history; Search.run keeps "
        "its defaults (history within its byte budget, duplicate check on the device, callbacks).",
        total_s=time.perf_counter() - started)
    report.emit(text, report.output_path(args))


if __name__ == "__main__":
    main()
