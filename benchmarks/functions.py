"""Shifted, box-bounded test functions for the quality benchmark.

Every function is minimized on the box ``[-5, 5]^d`` and has its minimum
(value 0) at a fixed point ``x*`` drawn once per dimension count ``d`` from
``numpy.random.default_rng(12345).uniform(-4, 4, size=d)``, so the optimum is
not the box centre (PyHopper, for instance, evaluates the centre first).

Each function exists in two twins sharing one definition: a ``jax.numpy``
version (jit/vmap friendly, for JAX optimizers) and a plain ``numpy`` version
(for Python-loop optimizers such as PyHopper, where per-call JAX dispatch
would dominate the timing). Both accept a single point of shape ``(d,)`` or a
batch of shape ``(n, d)`` and reduce over the last axis.
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import Callable

import jax.numpy as jnp
import numpy as np

LOWER: float = -5.0
UPPER: float = 5.0
SHIFT_SEED: int = 12345
SHIFT_RANGE: float = 4.0

FUNCTION_NAMES: tuple[str, ...] = ("sphere", "rastrigin", "rosenbrock")


def _sphere(z, xp: ModuleType):
    """Sum of squares; minimum 0 at z = 0."""
    return xp.sum(z * z, axis=-1)


def _rastrigin(z, xp: ModuleType):
    """Rastrigin; minimum 0 at z = 0, ~10^d local minima."""
    d = z.shape[-1]
    return 10.0 * d + xp.sum(z * z - 10.0 * xp.cos(2.0 * np.pi * z), axis=-1)


def _rosenbrock(z, xp: ModuleType):
    """Rosenbrock valley; minimum 0 at z = (1, ..., 1)."""
    head, tail = z[..., :-1], z[..., 1:]
    return xp.sum(100.0 * (tail - head * head) ** 2 + (1.0 - head) ** 2, axis=-1)


# name -> (raw function, offset added to x - x* so the minimum lands on x*)
_RAW: dict[str, tuple[Callable, float]] = {
    "sphere": (_sphere, 0.0),
    "rastrigin": (_rastrigin, 0.0),
    "rosenbrock": (_rosenbrock, 1.0),
}


@functools.lru_cache(maxsize=None)
def optimum(d: int) -> np.ndarray:
    """The fixed minimizer ``x*`` for dimension ``d`` (float32, read-only)."""
    rng = np.random.default_rng(SHIFT_SEED)
    x_star = rng.uniform(-SHIFT_RANGE, SHIFT_RANGE, size=d).astype(np.float32)
    x_star.setflags(write=False)
    return x_star


def make_numpy(name: str, d: int) -> Callable[[np.ndarray], np.ndarray]:
    """Numpy twin of function ``name`` in dimension ``d``."""
    raw, offset = _RAW[name]
    x_star = optimum(d).astype(np.float64)

    def f(x: np.ndarray) -> np.ndarray:
        z = np.asarray(x, dtype=np.float64) - x_star + offset
        return raw(z, np)

    f.__name__ = f"{name}_{d}_numpy"
    return f


def make_jax(name: str, d: int) -> Callable[[jnp.ndarray], jnp.ndarray]:
    """``jax.numpy`` twin of function ``name`` in dimension ``d``."""
    raw, offset = _RAW[name]
    x_star = jnp.asarray(optimum(d))

    def f(x: jnp.ndarray) -> jnp.ndarray:
        z = x - x_star + offset
        return raw(z, jnp)

    f.__name__ = f"{name}_{d}_jax"
    return f


def _self_check() -> None:
    """Both twins agree and vanish at the optimum."""
    for name in FUNCTION_NAMES:
        for d in (2, 10, 100):
            x_star = optimum(d)
            fn, fj = make_numpy(name, d), make_jax(name, d)
            assert abs(float(fn(x_star))) < 1e-6, name
            pts = np.random.default_rng(0).uniform(LOWER, UPPER, (4, d))
            np.testing.assert_allclose(
                fn(pts), np.asarray(fj(jnp.asarray(pts, jnp.float32))), rtol=1e-4
            )
    print("functions: self-check ok")


if __name__ == "__main__":
    _self_check()
