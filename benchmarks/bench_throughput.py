"""Throughput of `ask`: candidates per second of hopper_jax's jitted ask against evosax's and a dense floor.

For each (P, d) every method is one jitted function of a fresh PRNG key that returns a population of P
parameter vectors of length d in the box [-5, 5]:

- hopper_jax phase 2 / phase 1: `hopper(Space({"x": hj.float(-5, 5, shape=(d,))}))`, `ask` at progress
  0.5 (local perturbation of the best) or 0 (random sampling), **plus `decode`**: the function returns
  both the population (what `tell` needs) and the decoded parameter values (what the objective sees);
- dense floor: one normal draw of shape (P, d), added to a mean and clipped to the box;
- evosax Open_ES ask (antithetic, its default) and Sep_CMA_ES ask, with their state, as evosax returns them.

    python benchmarks/bench_throughput.py --quick
    python benchmarks/bench_throughput.py              # full: writes benchmarks/results/throughput.md
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import report  # noqa: E402
from benchmarks.machine import fmt, markdown_table  # noqa: E402

LOWER, UPPER = -5.0, 5.0
FULL_SIZES: list[tuple[int, int]] = [(256, 1_000), (256, 100_000), (64, 1_000_000)]
QUICK_SIZES: list[tuple[int, int]] = [(256, 1_000), (64, 100_000)]
METHODS = ("hopper_jax phase 2", "hopper_jax phase 1", "dense floor", "evosax OpenES", "evosax Sep-CMA-ES")
OURS = METHODS[:2]
#: Phase 1 with parts of its sampler switched back (ablation, measured in the same interleaved loop):
#: {name: (row batches on CPU, two uniforms per threefry block)}.
SAMPLERS = {"one vmap, jax.random.uniform (before)": (False, False), "one vmap, two words per block": (False, True),
            "row batches, two words per block (now)": (True, True)}
BAR = "evosax OpenES"
Ask = Callable[[jax.Array], object]  # key -> pytree of arrays


def hopper_ask(population: int, d: int, progress: float) -> Ask:
    """hopper_jax's ask + decode at `progress` (0: phase 1, 0.5: phase 2), from the initial state."""
    import hopper_jax as hj
    from hopper_jax import Space, hopper

    algo = hopper(Space({"x": hj.float(LOWER, UPPER, shape=(d,))}))
    state, where = algo.init(), jnp.full((population,), progress, jnp.float32)

    @jax.jit
    def ask(key):
        pop = algo.ask(key, state, where)
        return pop, algo.decode(pop)

    return ask


@contextlib.contextmanager
def _sampler(batched: bool, both_words: bool):
    """While active, newly traced hopper_jax code samples without row batches and/or with jax.random.uniform."""
    from hopper_jax.core import rows
    from hopper_jax.space import encodings

    saved = rows.CPU_BATCH_ELEMENTS, encodings.unit_uniforms
    if not batched:
        rows.CPU_BATCH_ELEMENTS = 2**62
    if not both_words:
        tiny = float(jnp.finfo(jnp.float32).tiny)
        encodings.unit_uniforms = lambda key, count: jax.random.uniform(key, (count,), jnp.float32, tiny, 1.0)
    try:
        yield
    finally:
        rows.CPU_BATCH_ELEMENTS, encodings.unit_uniforms = saved


def phase_1_variant(population: int, d: int, batched: bool, both_words: bool) -> Ask:
    """hopper_jax's phase-1 ask + decode, traced and compiled under `_sampler(batched, both_words)`."""
    ask = hopper_ask(population, d, 0.0)
    with _sampler(batched, both_words):
        jax.block_until_ready(ask(jax.random.key(0)))
    return ask


def dense_floor(population: int, d: int) -> Ask:
    """The least any dense sampler does: normal draw + add + clip, shape (P, d)."""
    mean = jnp.zeros((d,), jnp.float32)
    return jax.jit(lambda key: jnp.clip(mean + jax.random.normal(key, (population, d)), LOWER, UPPER))


def evosax_ask(name: str, population: int, d: int) -> Ask:
    """evosax `ask` of algorithm `name` from its initial state (mean 0), returning (x, state)."""
    import evosax.algorithms

    es = getattr(evosax.algorithms, name)(population, jnp.zeros(d))
    params = es.default_params
    state = es.init(jax.random.key(0), jnp.zeros(d), params)
    return jax.jit(lambda key: es.ask(key, state, params))


BUILDERS: dict[str, Callable[[int, int], Ask]] = {
    "hopper_jax phase 2": lambda p, d: hopper_ask(p, d, 0.5),
    "hopper_jax phase 1": lambda p, d: hopper_ask(p, d, 0.0),
    "dense floor": dense_floor,
    "evosax OpenES": lambda p, d: evosax_ask("Open_ES", p, d),
    "evosax Sep-CMA-ES": lambda p, d: evosax_ask("Sep_CMA_ES", p, d),
}


def _call(ask: Ask, key: jax.Array) -> float:
    """Seconds for one call, blocking until every output array is ready."""
    start = time.perf_counter()
    jax.block_until_ready(ask(key))
    return time.perf_counter() - start


def measure(population: int, d: int, repeats: int, warmup: int = 2) -> dict[str, float]:
    """Median seconds per ask of every method; the methods take turns within each repeat (shared noise)."""
    asks = {name: BUILDERS[name](population, d) for name in METHODS}
    asks.update({name: phase_1_variant(population, d, *switches) for name, switches in SAMPLERS.items()})
    keys = iter(jax.random.split(jax.random.key(1), (warmup + repeats) * len(asks)))
    for ask in asks.values():  # compile, then warm the caches
        for _ in range(warmup):
            _call(ask, next(keys))
    times: dict[str, list[float]] = {name: [] for name in asks}
    for _ in range(repeats):
        for name, ask in asks.items():
            times[name].append(_call(ask, next(keys)))
    return {name: statistics.median(t) for name, t in times.items()}


def render(results: dict[tuple[int, int], dict[str, float]], repeats: int) -> list[str]:
    """Throughput table, ratio table and the bar verdict."""
    rate_rows, ratio_rows, verdicts = [], [], []
    for (p, d), secs in results.items():
        rate = {name: p / s for name, s in secs.items()}
        rate_rows.append([str(p), f"{d:.0e}"] + [fmt(rate[n], 3) for n in METHODS])
        ratio_rows.append([str(p), f"{d:.0e}", *(fmt(rate[o] / rate[BAR], 3) for o in OURS),
                           *(fmt(rate[o] / rate["dense floor"], 3) for o in OURS),
                           fmt(rate[OURS[0]] / rate["evosax Sep-CMA-ES"], 3)])
        verdicts.append((p, d, rate[OURS[0]] / rate[BAR], rate[OURS[1]] / rate[BAR]))
    missed = [f"{phase} at ({p}, {d:.0e}): {r:.2f}×" for p, d, r2, r1 in verdicts
              for phase, r in (("phase 2", r2), ("phase 1", r1)) if r < 1.0]
    verdict = ("**Bar met**: hopper_jax's ask, phase 2 (local perturbation, 75 % of a default run) and phase 1 "
               "(random sampling) alike, ≥ 1× evosax OpenES ask at every size." if not missed else
               "**Bar MISSED**: hopper_jax's ask < 1× evosax OpenES ask for " + "; ".join(missed))
    return [
        f"### Candidates per second of `ask` (median of {repeats} timed calls after warm-up)",
        markdown_table(["P", "d", *METHODS], rate_rows),
        "### Ratios (candidates/s of hopper_jax over the other; > 1: hopper_jax is faster)",
        markdown_table(["P", "d", "phase 2 / OpenES", "phase 1 / OpenES", "phase 2 / dense floor",
                        "phase 1 / dense floor", "phase 2 / Sep-CMA-ES"], ratio_rows),
        verdict,
        "### Phase-1 sampler, step by step: ms per ask (same loop; speed-up over the first column)",
        markdown_table(["P", "d", *SAMPLERS], [
            [str(p), f"{d:.0e}", *(f"{secs[n] * 1e3:.3g} ({secs[first] / secs[n]:.2f}×)" for n in SAMPLERS)]
            for (p, d), secs in results.items() for first in [next(iter(SAMPLERS))]]),
    ]


NOTES = """Notes:
- Every method is one `jax.jit` function of a fresh PRNG key (keys differ per call); a call is timed up to \
`jax.block_until_ready` on all its outputs. Each method is compiled and called twice before timing; then \
the methods take turns, call by call, so load changes on this shared machine hit all of them alike. \
Times are medians; candidates/s = P / seconds per ask.
- hopper_jax includes `decode` (unit box → [-5, 5] parameter values) and returns the population as well \
(the encoded rows, the phase-2 flags, per-parameter actions and temperatures that `tell` needs), from \
`algo.init()` (best at the box centre). Phase 2 changes at most 4·√d elements per row (`mutation_cap`), \
drawing O(√d) random numbers per row, but still writes every element of its (P, d) outputs; phase 1 \
draws P·d uniforms, two per threefry block (`jax.random.uniform` spends a block per number under JAX's \
default partitionable threefry), on CPU in batches of rows of about 2^20 elements (`CPU_BATCH_ELEMENTS`), which \
keeps threefry's intermediates in cache and made it about 2× faster than one vmap over the population (same values).
- evosax asks run from their initial state (mean 0, default params); OpenES antithetic sampling draws \
P/2 · d normals and mirrors them; Sep-CMA-ES draws P · d normals and scales them by its diagonal. \
The dense floor draws P · d normals, adds a mean and clips (no state)."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=15)
    report.add_output_arguments(p, "throughput", f"sizes {QUICK_SIZES}, 5 repeats")
    args = p.parse_args(argv)
    args.sizes = QUICK_SIZES if args.quick else FULL_SIZES
    if args.quick:
        args.repeats = 5
    return args


def main(argv: list[str] | None = None) -> None:
    """Measure every size and print (and in full mode save) the markdown report."""
    args = parse_args(argv)
    start, results = time.perf_counter(), {}
    for p, d in args.sizes:
        results[(p, d)] = measure(p, d, args.repeats)
        print(f"  (P, d) = ({p}, {d}): " + ", ".join(f"{n} {s * 1e3:.3g} ms" for n, s in results[(p, d)].items()),
              file=sys.stderr, flush=True)
    text = report.assemble(*render(results, args.repeats), NOTES, total_s=time.perf_counter() - start)
    report.emit(text, report.output_path(args))


if __name__ == "__main__":
    main()
