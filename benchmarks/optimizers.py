"""Optimizer runners for the quality benchmark.

Every runner has the signature ``run_<name>(fn_name, d, budget, seed) ->
(best_f, seconds)``: it minimizes the shifted test function ``fn_name`` in
dimension ``d`` on the box ``[-5, 5]^d`` with exactly ``budget`` objective
evaluations and returns the best value ever evaluated plus the end-to-end
wall time of the run (JIT compilation included for the JAX optimizers).

Peer libraries are imported lazily, so a missing one only disables its rows.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import math
import time
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.functions import LOWER, UPPER, make_jax, make_numpy

Runner = Callable[[str, int, int, int], tuple[float, float]]

# --- settings for the evosax peers (stated in the result notes) -------------
SNES_STD_INIT: float = 1.0  # evosax default; 2.0 was worse in a d=100 check
OPENES_POPULATION: int = 64
OPENES_LR: float = 0.05  # Adam; evosax default SGD(1e-3) barely moves in 78 gens
OPENES_STD_START: float = 2.0
OPENES_STD_END: float = 0.05  # exponential decay over the run
HJ_POPULATION: int = 32
RANDOM_CHUNK: int = 512


def snes_population(d: int) -> int:
    """4 + floor(3 ln d), rounded up to an even number."""
    pop = 4 + int(math.floor(3.0 * math.log(d)))
    return pop + (pop % 2)


def _timed(fn: Callable[[], float]) -> tuple[float, float]:
    """Run ``fn`` and return ``(its float result, wall seconds)``."""
    start = time.perf_counter()
    value = float(fn())
    return value, time.perf_counter() - start


# --- random search ----------------------------------------------------------
def run_random(fn_name: str, d: int, budget: int, seed: int) -> tuple[float, float]:
    """Uniform random search in the box (numpy, vectorized in chunks)."""
    f = make_numpy(fn_name, d)

    def search() -> float:
        rng = np.random.default_rng(seed)
        best, left = np.inf, budget
        while left > 0:
            n = min(left, RANDOM_CHUNK)
            best = min(best, float(f(rng.uniform(LOWER, UPPER, (n, d))).min()))
            left -= n
        return best

    return _timed(search)


# --- PyHopper 1.2.3 ---------------------------------------------------------
def run_pyhopper(fn_name: str, d: int, budget: int, seed: int) -> tuple[float, float]:
    """PyHopper 1.2.3 with its default schedule (unseeded: np.random.seed only)."""
    import pyhopper

    f = make_numpy(fn_name, d)

    def objective(params: dict) -> float:
        return float(f(params["x"]))

    def search() -> float:
        np.random.seed(seed)  # PyHopper exposes no seed; this is best effort
        with contextlib.redirect_stdout(io.StringIO()):  # summary printed even if quiet
            s = pyhopper.Search(x=pyhopper.float(LOWER, UPPER, shape=d))
            s.run(objective, "min", steps=budget, quiet=True)
        return s.best_f

    return _timed(search)


# --- evosax (SNES, OpenAI-ES) -----------------------------------------------
def _evosax_best(es, params, fn_name: str, d: int, budget: int, seed: int) -> float:
    """Ask/clip/evaluate/tell in a ``lax.scan``; return best value evaluated.

    Samples are clipped to the box before evaluation; the unclipped samples are
    told to the ES so its gradient estimate matches its sampling distribution.
    Leftover evaluations (``budget % population``) come from one last ``ask``.
    """
    f = make_jax(fn_name, d)
    pop = es.population_size
    gens, rest = divmod(budget, pop)

    def evaluate(x: jax.Array) -> jax.Array:
        return f(jnp.clip(x, LOWER, UPPER))

    def step(carry, key):
        state, best = carry
        k_ask, k_tell = jax.random.split(key)
        x, state = es.ask(k_ask, state, params)
        fit = evaluate(x)
        state, _ = es.tell(k_tell, x, fit, state, params)
        return (state, jnp.minimum(best, fit.min())), None

    @jax.jit
    def run(key: jax.Array) -> jax.Array:
        k_init, k_loop, k_last = jax.random.split(key, 3)
        state = es.init(k_init, jnp.zeros(d), params)
        carry = (state, jnp.asarray(jnp.inf, jnp.float32))
        (state, best), _ = jax.lax.scan(step, carry, jax.random.split(k_loop, gens))
        if rest:
            x, _ = es.ask(k_last, state, params)
            best = jnp.minimum(best, evaluate(x[:rest]).min())
        return best

    return float(run(jax.random.key(seed)))


def run_snes(fn_name: str, d: int, budget: int, seed: int) -> tuple[float, float]:
    """evosax SNES, population 4 + floor(3 ln d) (even), mean 0, std 1."""
    from evosax.algorithms import SNES

    def search() -> float:
        es = SNES(snes_population(d), jnp.zeros(d))
        params = es.default_params.replace(std_init=jnp.asarray(SNES_STD_INIT))
        return _evosax_best(es, params, fn_name, d, budget, seed)

    return _timed(search)


def run_openes(fn_name: str, d: int, budget: int, seed: int) -> tuple[float, float]:
    """evosax OpenAI-ES, population 64, Adam, std decaying 2.0 -> 0.05."""
    import optax
    from evosax.algorithms import Open_ES

    def search() -> float:
        gens = max(budget // OPENES_POPULATION, 1)
        schedule = optax.exponential_decay(
            OPENES_STD_START, gens, OPENES_STD_END / OPENES_STD_START
        )
        es = Open_ES(
            OPENES_POPULATION,
            jnp.zeros(d),
            optimizer=optax.adam(OPENES_LR),
            std_schedule=schedule,
        )
        return _evosax_best(es, es.default_params, fn_name, d, budget, seed)

    return _timed(search)


# --- hopper_jax ---------------------------------------------------------------
def run_hopper_jax(
    fn_name: str, d: int, budget: int, seed: int, population_size: int = HJ_POPULATION
) -> tuple[float, float]:
    """hopper_jax in JAX mode (objective vmapped by the library)."""
    import hopper_jax as hj

    f = make_jax(fn_name, d)

    def objective(candidate: dict) -> jax.Array:
        return f(candidate["x"])

    def search() -> float:
        s = hj.Search({"x": hj.float(LOWER, UPPER, shape=(d,))})
        with contextlib.redirect_stdout(io.StringIO()):
            s.run(
                objective,
                "min",
                steps=budget,
                seed=seed,
                mode="jax",
                population_size=population_size,
                quiet=True,
            )
        return s.best_f

    return _timed(search)


def run_hopper_jax_seq(fn_name: str, d: int, budget: int, seed: int) -> tuple[float, float]:
    """hopper_jax in Python mode: one candidate at a time (PyHopper's sequential loop), numpy objective."""
    import hopper_jax as hj

    f = make_numpy(fn_name, d)

    def search() -> float:
        s = hj.Search({"x": hj.float(LOWER, UPPER, shape=(d,))})
        s.run(lambda c: float(f(c["x"])), "min", steps=budget, seed=seed, quiet=True)
        return s.best_f

    return _timed(search)


RUNNERS: dict[str, Runner] = {
    "hopper_jax": run_hopper_jax,
    "hopper_jax_seq": run_hopper_jax_seq,
    "pyhopper": run_pyhopper,
    "random": run_random,
    "snes": run_snes,
    "openes": run_openes,
}

_REQUIRES: dict[str, str] = {
    "hopper_jax": "hopper_jax",
    "hopper_jax_seq": "hopper_jax",
    "pyhopper": "pyhopper",
    "snes": "evosax",
    "openes": "evosax",
}


def unavailable_reason(name: str) -> str | None:
    """Why runner ``name`` cannot run here, or ``None`` if it can."""
    module = _REQUIRES.get(name)
    if module is None:
        return None
    try:
        mod = importlib.import_module(module)
        if module == "hopper_jax":
            getattr(mod, "Search")
            getattr(mod, "float")
    except Exception as exc:  # noqa: BLE001 - report any import failure
        return f"{type(exc).__name__}: {exc}"
    return None
