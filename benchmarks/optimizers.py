"""Optimizer runners for the quality benchmark.

Every runner has the signature ``run(fn_name, d, budget, seed) -> (best_f, seconds)``: it minimizes
the shifted test function ``fn_name`` in dimension ``d`` on the box ``[-5, 5]^d`` with exactly
``budget`` objective evaluations and returns the best value ever evaluated plus the wall time of
the run. ``OPTIMIZERS`` lists them with the library they need and the largest ``d`` they run at.

Peer libraries are imported lazily, so a missing one only disables its rows.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import importlib
import io
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.functions import LOWER, UPPER, make_jax, make_numpy

Runner = Callable[[str, int, int, int], tuple[float, float]]

# --- settings for the peers (stated in the result notes) ----------------------
SNES_STD_INIT: float = 1.0  # evosax default; 2.0 was worse in a d=100 check
CMA_STD_INIT: float = 3.0  # 0.3 x the box width, the usual CMA-ES rule of thumb
OPENES_POPULATION: int = 64
OPENES_LR: float = 0.05  # Adam; evosax default SGD(1e-3) barely moves in 78 gens
OPENES_STD_START: float = 2.0
OPENES_STD_END: float = 0.05  # exponential decay over the run
HJ_POPULATION: int = 32
HJ_FLOAT_DTYPE: str = "float32"  # hopper_jax's coordinate type ("float64" needs jax_enable_x64)
RANDOM_CHUNK: int = 512


def default_population(d: int) -> int:
    """4 + floor(3 ln d), rounded up to an even number (CMA-ES / SNES default)."""
    pop = 4 + math.floor(3.0 * math.log(d))
    return pop + (pop % 2)


def _timed(fn: Callable[[], float]) -> tuple[float, float]:
    """Run ``fn`` and return ``(its float result, wall seconds)``."""
    start = time.perf_counter()
    value = float(fn())
    return value, time.perf_counter() - start


class BestOf:
    """Wraps an objective; remembers the lowest value it returned (best ever evaluated) and the call count."""

    def __init__(self, f: Callable[..., float]):
        self.f, self.best, self.count = f, math.inf, 0

    def __call__(self, *args) -> float:
        value = float(self.f(*args))
        self.best, self.count = min(self.best, value), self.count + 1
        return value


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

    f = BestOf(make_numpy(fn_name, d))

    def search() -> float:
        np.random.seed(seed)  # PyHopper exposes no seed; this is best effort
        with contextlib.redirect_stdout(io.StringIO()):  # summary printed even if quiet
            s = pyhopper.Search(x=pyhopper.float(LOWER, UPPER, shape=d))
            s.run(lambda params: f(params["x"]), "min", steps=budget, quiet=True)
        return f.best

    return _timed(search)


# --- evosax (SNES, OpenAI-ES, CMA-ES, Sep-CMA-ES) -------------------------------
@functools.lru_cache(maxsize=64)
def _evosax_program(name: str, fn_name: str, d: int, budget: int) -> Callable[[jax.Array], jax.Array]:
    """``evosax_program`` on the test function ``fn_name``, compiled once per (fn, d, budget)."""
    return evosax_program(name, make_jax(fn_name, d), d, budget)


def evosax_program(name: str, f: Callable[[jax.Array], jax.Array], d: int, budget: int, clip: bool = True
                   ) -> Callable[[jax.Array], jax.Array]:
    """A jitted ``run(key) -> best f`` for evosax optimizer ``name`` on ``f``: (P, d) points -> (P,) values.

    Ask/clip/evaluate/tell in a ``lax.scan``. With ``clip``, samples are clipped to the box before evaluation
    and the unclipped samples are told to the ES so its update matches its sampling distribution (no penalty:
    a sample outside the box looks as good as its projection, which can stall CMA-ES on an edge). Leftover
    evaluations (``budget % population``) come from one last ``ask``. The running best has ``f``'s dtype.
    """
    es, params = evosax_strategy(name, d, budget)
    gens, rest = divmod(budget, es.population_size)
    dtype = jax.eval_shape(f, jax.ShapeDtypeStruct((1, d), jnp.zeros(()).dtype)).dtype

    def evaluate(x: jax.Array) -> jax.Array:
        return f(jnp.clip(x, LOWER, UPPER) if clip else x)

    def step(carry, key):
        state, best = carry
        k_ask, k_tell = jax.random.split(key)
        x, state = es.ask(k_ask, state, params)
        fit = evaluate(x)
        state, _ = es.tell(k_tell, x, fit, state, params)
        return (state, jnp.fmin(best, jnp.nanmin(fit))), None  # a diverged ES (NaN) keeps its best

    @jax.jit
    def run(key: jax.Array) -> jax.Array:
        k_init, k_loop, k_last = jax.random.split(key, 3)
        state = es.init(k_init, jnp.zeros(d), params)
        carry = (state, jnp.asarray(jnp.inf, dtype))
        (state, best), _ = jax.lax.scan(step, carry, jax.random.split(k_loop, gens))
        if rest:
            x, _ = es.ask(k_last, state, params)
            best = jnp.fmin(best, jnp.nanmin(evaluate(x[:rest])))
        return best

    return run


def _snes(d: int, budget: int, population: int | None = None):
    from evosax.algorithms import SNES

    es = SNES(population or default_population(d), jnp.zeros(d))
    return es, es.default_params.replace(std_init=jnp.asarray(SNES_STD_INIT))


def _cma(cls_name: str, d: int, budget: int, population: int | None = None):
    import evosax.algorithms

    es = getattr(evosax.algorithms, cls_name)(population or default_population(d), jnp.zeros(d))
    return es, es.default_params.replace(std_init=jnp.asarray(CMA_STD_INIT))


def _openes(d: int, budget: int, population: int | None = None):
    import optax
    from evosax.algorithms import Open_ES

    population = population or OPENES_POPULATION
    gens = max(budget // population, 1)
    schedule = optax.exponential_decay(OPENES_STD_START, gens, OPENES_STD_END / OPENES_STD_START)
    es = Open_ES(population, jnp.zeros(d), optimizer=optax.adam(OPENES_LR), std_schedule=schedule)
    return es, es.default_params


_EVOSAX = {
    "snes": _snes,
    "openes": _openes,
    "cmaes": functools.partial(_cma, "CMA_ES"),
    "sep_cmaes": functools.partial(_cma, "Sep_CMA_ES"),
}


def evosax_strategy(name: str, d: int, budget: int, population: int | None = None):
    """(evosax strategy, its params) for optimizer ``name`` ("snes", "openes", "cmaes", "sep_cmaes") on d
    dimensions and ``budget`` evaluations, set up as every benchmark here runs it; ``population`` replaces the
    default population size (`default_population(d)`, OPENES_POPULATION for OpenES)."""
    return _EVOSAX[name](d, budget, population)


def evosax_runner(name: str) -> Runner:
    """Runner for evosax optimizer ``name``; the compiled program is reused across seeds of one cell."""

    def run(fn_name: str, d: int, budget: int, seed: int) -> tuple[float, float]:
        program = _evosax_program(name, fn_name, d, budget)
        return _timed(lambda: program(jax.random.key(seed)))

    run.__name__ = f"run_{name}"
    return run


# --- Optuna TPE and Nevergrad NGOpt --------------------------------------------
def run_optuna_tpe(fn_name: str, d: int, budget: int, seed: int) -> tuple[float, float]:
    """Optuna TPESampler(seed) defaults (univariate), one float per coordinate."""
    f = make_numpy(fn_name, d)

    def objective(trial) -> float:
        return float(f(np.array([trial.suggest_float(f"x{i}", LOWER, UPPER) for i in range(d)])))

    return _timed(lambda: optuna_tpe_minimize(objective, budget, seed))


def optuna_tpe_minimize(objective: Callable[..., float], budget: int, seed: int) -> float:
    """Best value of ``budget`` trials of Optuna's TPESampler(seed) (defaults) on ``objective(trial)``."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=budget)
    return study.best_value


def patch_nevergrad_metamodel() -> None:
    """nevergrad 1.0.12's metamodel calls ``float()`` on a (1,) array, which numpy ≥ 2.4 refuses.

    Shadow ``float`` in that one module with a version that accepts size-1 arrays (the old numpy
    behaviour), so NGOpt's metamodel runs as its authors intended instead of crashing.
    """
    from nevergrad.optimization import metamodel

    metamodel.float = lambda x=0.0: builtins.float(np.asarray(x).item() if np.ndim(x) else x)


def run_ngopt(fn_name: str, d: int, budget: int, seed: int) -> tuple[float, float]:
    """Nevergrad NGOpt (its own algorithm selection), bounded array, one worker."""
    import nevergrad as ng

    f = BestOf(make_numpy(fn_name, d))

    def search() -> float:
        ngopt_minimize(f, ng.p.Array(shape=(d,), lower=LOWER, upper=UPPER), budget, seed)
        return f.best

    return _timed(search)


def ngopt_minimize(f: Callable[..., float], param, budget: int, seed: int) -> None:
    """Minimize ``f`` over the nevergrad parametrization ``param`` with NGOpt, ``budget`` evaluations, one worker."""
    import nevergrad as ng

    patch_nevergrad_metamodel()
    param.random_state = np.random.RandomState(seed)
    ng.optimizers.NGOpt(parametrization=param, budget=budget, num_workers=1).minimize(f)


# --- hopper_jax ---------------------------------------------------------------
def run_hopper_jax(fn_name: str, d: int, budget: int, seed: int) -> tuple[float, float]:
    """hopper_jax in JAX mode (objective vmapped by the library), population HJ_POPULATION."""
    import hopper_jax as hj

    f = make_jax(fn_name, d)
    space = {"x": hj.float(LOWER, UPPER, shape=(d,), dtype=HJ_FLOAT_DTYPE)}
    return _timed(lambda: hopper_jax_minimize(space, lambda c: f(c["x"]), budget, seed, "jax"))


def run_hopper_jax_seq(fn_name: str, d: int, budget: int, seed: int) -> tuple[float, float]:
    """hopper_jax in Python mode: one candidate at a time (PyHopper's loop), numpy objective."""
    import hopper_jax as hj

    f = make_numpy(fn_name, d)
    space = {"x": hj.float(LOWER, UPPER, shape=(d,), dtype=HJ_FLOAT_DTYPE)}
    return _timed(lambda: hopper_jax_minimize(space, lambda c: float(f(c["x"])), budget, seed, "python"))


def hopper_jax_minimize(space: dict, objective: Callable, budget: int, seed: int, mode: str) -> float:
    """Best value of a hopper_jax search over ``space`` with ``budget`` evaluations (defaults otherwise).

    ``mode`` is "python" (one candidate at a time) or a JAX mode ("jax", "jax-batched"), which evaluates
    populations of HJ_POPULATION candidates.
    """
    import hopper_jax as hj

    jax_mode = {} if mode == "python" else {"mode": mode, "population_size": HJ_POPULATION}
    s = hj.Search(space)
    s.run(objective, "min", steps=budget, seed=seed, quiet=True, **jax_mode)
    return s.best_f


@dataclass(frozen=True)
class Optimizer:
    """A runner, the module it needs, and the largest dimension and budget it is run at (None: any)."""

    run: Runner
    module: str | None = None
    max_d: int | None = None
    max_budget: int | None = None

    def runs(self, d: int, budget: int) -> bool:
        """Whether this optimizer is run in dimension ``d`` at ``budget`` evaluations."""
        return (self.max_d is None or d <= self.max_d) and (self.max_budget is None or budget <= self.max_budget)


OPTIMIZERS: dict[str, Optimizer] = {
    "hopper_jax": Optimizer(run_hopper_jax, "hopper_jax"),
    "hopper_jax_seq": Optimizer(run_hopper_jax_seq, "hopper_jax"),
    "pyhopper": Optimizer(run_pyhopper, "pyhopper"),
    # full covariance: at d=1000 one 5000-evaluation run takes ~200 s here (a 1000x1000 eigendecomposition
    # per generation), so it runs up to d=100; Sep-CMA-ES (diagonal) covers d=1000
    "cmaes": Optimizer(evosax_runner("cmaes"), "evosax", max_d=100),
    "sep_cmaes": Optimizer(evosax_runner("sep_cmaes"), "evosax"),
    "snes": Optimizer(evosax_runner("snes"), "evosax"),
    "openes": Optimizer(evosax_runner("openes"), "evosax"),
    # wall time per run grows too fast to run them at 5000 evaluations on 2 cores (see the notes)
    "optuna_tpe": Optimizer(run_optuna_tpe, "optuna", max_d=10, max_budget=1000),
    "ngopt": Optimizer(run_ngopt, "nevergrad", max_d=100, max_budget=1000),
    "random": Optimizer(run_random),
}
RUNNERS: dict[str, Runner] = {name: opt.run for name, opt in OPTIMIZERS.items()}


def unavailable_reason(name: str) -> str | None:
    """Why optimizer ``name`` cannot run here, or ``None`` if it can."""
    spec = OPTIMIZERS.get(name)
    module = spec.module if spec else name
    if module is None:
        return None
    try:
        importlib.import_module(module)
    except Exception as exc:  # noqa: BLE001 - report any import failure
        return f"{type(exc).__name__}: {exc}"
    return None
