"""HPO benchmark: N configurations of the digits MLP, batched hopper_jax against sequential and vmapped peers.

Every method evaluates the same number N of configurations of `examples/batched_hpo.py` (same space, same
training function, same data) and reports the best validation accuracy and the end-to-end wall time:

- hopper_jax G×P: `mode="jax"`, G generations of P configurations (G·P = N); each generation is one
  jitted, vmapped training call;
- pyhopper: PyHopper 1.2.3, one configuration at a time through the jitted single-configuration trainer;
- optuna: Optuna TPE (seeded), one configuration at a time through the same jitted trainer;
- vmap: N configurations drawn at random from the priors, trained in one hand-written `jax.jit(jax.vmap(...))`.

JAX's caches are cleared before every run, so each run pays its own compilation (the trainer's, and
hopper_jax's own functions), and that time is counted in its wall time.

    python benchmarks/bench_hpo.py --quick
    nice -n 10 python benchmarks/bench_hpo.py --out benchmarks/results/hpo.md
    python benchmarks/bench_hpo.py --timeline   # where hopper_jax's first run spends its time
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import functools
import importlib
import io
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from importlib import metadata
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import hopper_jax as hj  # noqa: E402
from benchmarks.machine import fmt, footer, markdown_table  # noqa: E402
from benchmarks.report import CompileClock  # noqa: E402
from hopper_jax.persistence import executables  # noqa: E402
from hopper_jax.search import compiled  # noqa: E402

hpo = importlib.import_module("examples.batched_hpo")

WALL_BAR = 1.2  # hopper_jax's wall time at most this multiple of the hand-written vmap's
#: hopper_jax's engine cache directories of this process (removed at exit); the "rerun" rows' (one per
#: population size) are filled before the first seed.
ENGINE_CACHES = tempfile.mkdtemp(prefix="hopper_jax_bench_hpo_")
atexit.register(shutil.rmtree, ENGINE_CACHES, ignore_errors=True)


class Result(NamedTuple):
    best: float  # best validation accuracy found
    seconds: float  # end-to-end wall time, compilation included
    compile_seconds: float  # of which XLA compilation (jax.monitoring)
    evaluated: int  # configurations trained
    accuracies: tuple[float, ...] = ()  # every configuration's accuracy, where the method exposes them


def _timed(method: Callable[[], tuple[float, int, tuple[float, ...]]]) -> Result:
    """Run `method` from cold JAX caches; time it end to end and count its compilation."""
    jax.clear_caches()
    CompileClock.reset()
    start = time.perf_counter()
    best, evaluated, accuracies = method()
    return Result(float(best), time.perf_counter() - start, CompileClock.total(), evaluated, accuracies)


def _single_trainer(train_steps: int) -> Callable[[dict], float]:
    """The jitted one-configuration trainer used by the sequential methods: dict of floats → accuracy."""
    train = jax.jit(functools.partial(hpo.validation_accuracy, train_steps=train_steps))
    return lambda config: float(train({k: np.float32(v) for k, v in config.items()}))


def run_hopper_jax(n: int, seed: int, train_steps: int, population: int, cache: str | None) -> Result:
    """`cache`: hopper_jax's engine cache directory (`hopper_jax.persistence.executables`); None: a new, empty
    one (the first run on a machine). Either way nothing compiled is kept in memory, as in a new process."""
    compiled.clear()
    executables.set_cache_dir(cache or tempfile.mkdtemp(prefix="first_run_", dir=ENGINE_CACHES))

    def method():
        search = hj.Search(hpo.space())
        objective = functools.partial(hpo.validation_accuracy, train_steps=train_steps)
        search.run(objective, "max", generations=n // population, population_size=population, mode="jax",
                   seed=seed, quiet=True)
        return search.best_f, len(search.history), tuple(search.history.fs)

    return _timed(method)


def run_pyhopper(n: int, seed: int, train_steps: int, jit_per_config: bool = False) -> Result:
    """PyHopper 1.2.3; `jit_per_config`: each configuration's values are baked into a fresh jit (compiled
    once per configuration, as when a training script builds its optimiser from the params dict)."""
    import pyhopper

    def method():
        count = [0]
        train = None if jit_per_config else _single_trainer(train_steps)

        def objective(config: dict) -> float:
            count[0] += 1
            if train is None:
                return float(jax.jit(functools.partial(hpo.validation_accuracy, config, train_steps=train_steps))())
            return train(config)

        np.random.seed(seed)  # PyHopper 1.2.3 has no seed argument
        search = pyhopper.Search(hpo.space(pyhopper))
        with contextlib.redirect_stdout(io.StringIO()):  # it prints a summary even when quiet
            search.run(objective, "max", steps=n, quiet=True)
        return search.best_f, count[0], ()

    return _timed(method)


def run_optuna(n: int, seed: int, train_steps: int) -> Result:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def method():
        train = _single_trainer(train_steps)
        bounds = {name: (float(p.lb), float(p.ub), bool(p.log)) for name, p in hpo.space().items()}

        def objective(trial) -> float:
            return train({name: trial.suggest_float(name, lo, hi, log=log) for name, (lo, hi, log) in bounds.items()})

        study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
        study.optimize(objective, n_trials=n)
        return study.best_value, len(study.trials), ()

    return _timed(method)


def run_vmap(n: int, seed: int, train_steps: int, batch: int | None = None) -> Result:
    """N random configurations trained by one jitted vmap, in one call or in calls of `batch` configurations."""
    batch = batch or n

    def method():
        configs = {k: jnp.asarray(v) for k, v in hpo.sample_configs(n, seed).items()}
        train = jax.jit(functools.partial(hpo.population_accuracy, train_steps=train_steps))
        accuracies = np.concatenate([np.asarray(train({k: v[i:i + batch] for k, v in configs.items()}))
                                     for i in range(0, n, batch)])
        return accuracies.max(), n, tuple(accuracies.tolist())

    return _timed(method)


PYHOPPER_ONCE, PYHOPPER_EACH, VMAP = "pyhopper (jit once)", "pyhopper (jit per config)", "vmap (random)"


def same_batches(n: int, population: int) -> str:
    """Name of the hand-written vmap that trains in hopper_jax's batches (engine overhead reference)."""
    return f"vmap {n // population}×{population} (random)"


def hopper_rows(n: int, populations: list[int]) -> dict[str, tuple[int, str | None]]:
    """hopper_jax's rows: name → (population, engine cache directory; None: empty for every run)."""
    rows = {}
    for p in populations:
        rows[f"hopper_jax {n // p}×{p} (first run)"] = (p, None)
        rows[f"hopper_jax {n // p}×{p} (rerun)"] = (p, os.path.join(ENGINE_CACHES, f"rerun_{p}"))
    return rows


def methods(n: int, populations: list[int]) -> dict[str, Callable[[int, int], Result]]:
    """Method name → run(seed, train_steps)."""
    table = {name: functools.partial(run_hopper_jax, n, population=p, cache=cache)
             for name, (p, cache) in hopper_rows(n, populations).items()}
    table[PYHOPPER_ONCE] = functools.partial(run_pyhopper, n)
    table[PYHOPPER_EACH] = functools.partial(run_pyhopper, n, jit_per_config=True)
    table.update({"optuna TPE": functools.partial(run_optuna, n), VMAP: functools.partial(run_vmap, n)})
    table.update({same_batches(n, p): functools.partial(run_vmap, n, batch=p) for p in populations if p < n})
    return table


def benchmark(n: int, seeds: int, train_steps: int, populations: list[int]) -> dict[str, list[Result]]:
    """Every method on seeds 0..seeds-1, interleaved (the order rotates with the seed)."""
    for p in populations:
        if n % p:
            raise ValueError(f"population {p} does not divide N={n}")
    table = methods(n, populations)
    hpo.digits()  # load the data and start the JAX backend before any clock runs
    jnp.ones(1).block_until_ready()
    for p, cache in hopper_rows(n, populations).values():  # fill the rerun rows' engine caches, untimed
        if cache is not None:
            run_hopper_jax(p, 0, 1, p, cache)
    results: dict[str, list[Result]] = {name: [] for name in table}
    names = list(table)
    for seed in range(seeds):
        for name in names[seed % len(names):] + names[:seed % len(names)]:
            results[name].append(table[name](seed, train_steps))
            print(f"seed {seed} {name}: best {results[name][-1].best:.4f} in {results[name][-1].seconds:.2f} s",
                  file=sys.stderr, flush=True)
    return results


def median(results: list[Result], field: str) -> float:
    return statistics.median(getattr(r, field) for r in results)


def spread_line(results: list[Result]) -> str:
    """Quantiles of the random configurations' accuracies (median over seeds)."""
    accuracies = np.asarray([r.accuracies for r in results])
    quantiles = [np.median(np.percentile(accuracies, q, axis=1)) for q in (0, 10, 50, 90, 100)]
    return (f"Spread of the {accuracies.shape[1]} random configurations (vmap row; median over seeds): worst "
            f"{quantiles[0]:.3f}, 10th percentile {quantiles[1]:.3f}, median {quantiles[2]:.3f}, 90th percentile "
            f"{quantiles[3]:.3f}, best {quantiles[4]:.3f}.")


def bar_lines(results: dict[str, list[Result]], n: int, populations: list[int]) -> list[str]:
    """One line per hopper_jax row: each bar, met or MISSED."""
    vmap_wall = median(results[VMAP], "seconds")
    lines = []
    for name, (population, _) in hopper_rows(n, populations).items():
        rs = results[name]
        wall, best = median(rs, "seconds"), median(rs, "best")
        checks = [(f"wall {wall:.2f} s ≤ {WALL_BAR}× vmap's {vmap_wall:.2f} s ({wall / vmap_wall:.2f}×)",
                   wall <= WALL_BAR * vmap_wall)]
        reference = same_batches(n, population)
        if reference in results:  # the engine's own overhead: the same training batches without a search
            batches_wall = median(results[reference], "seconds")
            checks.append((f"(engine overhead) wall ≤ {WALL_BAR}× {reference}'s {batches_wall:.2f} s "
                           f"({wall / batches_wall:.2f}×)", wall <= WALL_BAR * batches_wall))
        for peer in (PYHOPPER_ONCE, PYHOPPER_EACH):
            peer_wall, peer_best = median(results[peer], "seconds"), median(results[peer], "best")
            checks += [(f"wall < {peer}'s {peer_wall:.2f} s", wall < peer_wall),
                       (f"best {best:.4f} ≥ {peer}'s {peer_best:.4f}", best >= peer_best)]
        lines.append(f"- {name}: " + "; ".join(f"{text}: **{'met' if ok else 'MISSED'}**" for text, ok in checks))
    return lines


def report(results: dict[str, list[Result]], n: int, seeds: int, train_steps: int, populations: list[int]) -> str:
    """The markdown fragment for one training length: table, spread, bars."""
    vmap_wall = median(results[VMAP], "seconds")
    rows = [[name, str(min(r.evaluated for r in rs)), fmt(median(rs, "best")), fmt(median(rs, "seconds"), 3),
             fmt(median(rs, "compile_seconds"), 3), fmt(median(rs, "seconds") / vmap_wall, 3)]
            for name, rs in results.items()]
    table = markdown_table(["method", "configs", "best val. accuracy", "wall s", "of which compile s",
                            "wall / vmap"], rows)
    title = f"#### {n} configurations per method, {train_steps} training steps each (medians over {seeds} seeds)"
    return "\n".join([title, "", table, "", spread_line(results[VMAP]), "", "Bars (on the medians):",
                      *bar_lines(results, n, populations)])


NOTES = """Notes:
- Task: `examples/batched_hpo.py`, a 64-{hidden}-10 ReLU MLP on scikit-learn's digits (1200 training, 597 \
validation images), AdamW through `optax.inject_hyperparams`, minibatches of {batch} (the number of steps is in \
each table's title); searched: learning rate, weight decay, b1, b2, initial weight scale, label smoothing. \
Objective: validation accuracy (max). Minibatch order and initial weights are fixed, so a configuration's \
accuracy is deterministic.
- Every method trains exactly N configurations (hopper_jax: G generations × population P = N; the configs \
column counts what was trained, so a duplicate, which costs a step but no training, would show there).
- hopper_jax: `Search(space).run(validation_accuracy, "max", generations=G, population_size=P, mode="jax", \
seed=seed)`, with nothing compiled in memory (as in a new process). Its engine functions (the generation \
step: tell, propose, re-draw duplicates) are kept on disk across processes (`hopper_jax.persistence.executables`, \
on by default): "first run" starts each run with an empty cache directory, so it traces, compiles and \
stores them (the first run of a space on a machine); "rerun" finds them stored by an untimed run before the \
first seed and loads them (every later run of the script). The trainer is compiled in every run, as for \
every other method; hopper_jax compiles it in a background thread while its engine compiles.
- pyhopper (jit once): one jitted single-configuration trainer whose hyperparameters are traced arguments, so \
it compiles once per run. pyhopper (jit per config): each configuration's values are baked into a fresh \
`jax.jit` (a compilation per configuration, as in a script that builds its optimiser from the params dict). \
PyHopper 1.2.3 has no seed argument: `np.random.seed(seed)` only.
- optuna TPE: `TPESampler(seed=seed)`, defaults otherwise (10 random start-up trials), the jit-once trainer.
- vmap (random): N configurations drawn from the same priors (log-uniform / uniform), trained in one \
`jax.jit(jax.vmap(train))` call: batched training with no search around it; its accuracies give the spread. \
vmap G×P (random): the same, trained in G calls of P configurations, the batches hopper_jax G×P trains in; \
hopper_jax's wall over this one is what the engine itself adds.
- Wall time is end to end from cold JAX caches (`jax.clear_caches()` before each run), compilation included; \
"of which compile s" is the wall time during which a JAX backend compile ran (compiles in background threads \
that overlap count once). Methods run interleaved in one process, the order \
rotating with the seed.
- Versions: {versions}."""


def _timeline(label: str, run: Callable[[list], None]) -> str:
    """A markdown table of `run(ends)` from cold JAX caches: every trace, lowering and XLA compile over 20 ms,
    with its thread, start and end in seconds from the call; `run` appends when each batch of training ended."""
    kinds = {"jaxpr_trace_duration": "trace", "jaxpr_to_mlir_module_duration": "lower",
             "backend_compile_duration": "XLA compile"}
    events: list[list[str]] = []
    ends: list[float] = []
    start = time.perf_counter()

    def listen(event: str, duration: float, **_) -> None:
        kind = kinds.get(event.rsplit("/", 1)[-1])
        if kind and duration > 0.02:
            begin = time.perf_counter() - start - duration
            events.append([f"{begin:.2f}", f"{begin + duration:.2f}", threading.current_thread().name, kind,
                           f"{duration:.3f}"])

    jax.clear_caches()
    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        run(ends)
    finally:
        jax.monitoring.clear_event_listeners()
    wall = time.perf_counter() - start
    return (f"### {label}: {wall:.2f} s\n\n" + markdown_table(["from s", "to s", "thread", "what", "seconds"], events)
            + "\n\nTraining batches ended at " + ", ".join(f"{end - start:.2f}" for end in ends) + " s.")


def timeline(train_steps: int, population: int, n: int) -> str:
    """Where a first run's time goes: hopper_jax (empty engine cache) and the hand-written vmap in the same
    G×P batches. Tracing and lowering hold the GIL; an XLA compile in another thread overlaps them."""
    objective = functools.partial(hpo.validation_accuracy, train_steps=train_steps)
    hpo.digits()  # load the data first (scikit-learn): the tables start at the call

    def hopper_run(ends: list) -> None:
        class Ends(hj.callbacks.Callback):
            def on_generation_end(self, *args, **kwargs):
                ends.append(time.perf_counter())

        compiled.clear()
        executables.set_cache_dir(tempfile.mkdtemp(prefix="timeline_", dir=ENGINE_CACHES))
        hj.Search(hpo.space()).run(objective, "max", generations=n // population, population_size=population,
                                   mode="jax", seed=0, quiet=True, callbacks=[Ends()])

    def vmap_run(ends: list) -> None:
        configs = {k: jnp.asarray(v) for k, v in hpo.sample_configs(n, 0).items()}
        train = jax.jit(functools.partial(hpo.population_accuracy, train_steps=train_steps))
        for i in range(0, n, population):
            np.asarray(train({k: v[i:i + population] for k, v in configs.items()}))
            ends.append(time.perf_counter())

    batches = f"{n // population}×{population}, {train_steps} training steps"
    return "\n\n".join([_timeline(f"hopper_jax's first run, {batches}", hopper_run),
                         _timeline(f"the hand-written vmap, {batches}", vmap_run)])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N=4, 1 seed, 100 training steps (CI smoke test)")
    parser.add_argument("--configs", type=int, default=64, help="N, configurations per method")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--train-steps", type=int, nargs="+", default=[hpo.TRAIN_STEPS],
                        help="training lengths; one table each")
    parser.add_argument("--populations", type=int, nargs="+", default=[16],
                        help="hopper_jax population sizes (each divides N)")
    parser.add_argument("--out", help="write the markdown fragment here")
    parser.add_argument("--timeline", action="store_true",
                        help="only a timeline of one hopper_jax first run (the first population size and length)")
    args = parser.parse_args(argv)
    if args.timeline:
        print(timeline(args.train_steps[0], args.populations[0], args.configs) + "\n\n" + footer())
        return
    if args.quick:
        args.configs, args.seeds, args.train_steps, args.populations = 4, 1, [100], [2]
    sections = [report(benchmark(args.configs, args.seeds, steps, args.populations), args.configs, args.seeds, steps,
                       args.populations) for steps in args.train_steps]
    versions = ", ".join(f"{p} {metadata.version(p)}" for p in ("optax", "optuna", "scikit-learn"))
    notes = NOTES.format(hidden=hpo.HIDDEN, batch=hpo.BATCH_SIZE, versions=versions)
    text = "\n\n".join(sections + [notes, footer()])
    print(text)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")


if __name__ == "__main__":
    main()
