"""Shifted, box-bounded test functions for the quality benchmark.

Every function is minimized on the box ``[-5, 5]^d`` and written so that its
minimum value is 0 (``f - f*``, so 0 is optimal everywhere, Styblinski-Tang
included) at a fixed point ``x*`` drawn once per dimension count ``d`` from
``numpy.random.default_rng(12345).uniform(-4, 4, size=d)``; the optimum is not
the box centre (PyHopper, for instance, evaluates the centre first).

Each function exists in two twins sharing one definition: a ``jax.numpy``
version (float32, jit/vmap friendly, for JAX optimizers) and a plain ``numpy``
version (float64, for Python-loop optimizers such as PyHopper, where per-call
JAX dispatch would dominate the timing). Both accept a single point of shape
``(d,)`` or a batch of shape ``(n, d)`` and reduce over the last axis.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import ModuleType

import jax.numpy as jnp
import numpy as np

LOWER: float = -5.0
UPPER: float = 5.0
SHIFT_SEED: int = 12345
SHIFT_RANGE: float = 4.0

#: Styblinski-Tang's per-coordinate minimiser: the root of g'(z) = 2z^3 - 16z + 2.5 near -2.9035.
ST_ROOT: float = float(min(np.roots([2.0, 0.0, -16.0, 2.5]).real))


def _sphere(z, xp: ModuleType):
    """Sum of squares; minimum 0 at z = 0."""
    return xp.sum(z * z, axis=-1)


def _ellipsoid(z, xp: ModuleType):
    """Axis-parallel ellipsoid, condition number 1e6: sum 10^(6 i/(d-1)) z_i^2; minimum 0 at z = 0."""
    d = z.shape[-1]
    weights = 10.0 ** (6.0 * np.arange(d) / max(d - 1, 1))
    return xp.sum(xp.asarray(weights, dtype=z.dtype) * z * z, axis=-1)


def _rastrigin(z, xp: ModuleType):
    """Rastrigin; minimum 0 at z = 0, ~10^d local minima."""
    d = z.shape[-1]
    return 10.0 * d + xp.sum(z * z - 10.0 * xp.cos(2.0 * np.pi * z), axis=-1)


def _rosenbrock(z, xp: ModuleType):
    """Rosenbrock valley; minimum 0 at z = (1, ..., 1)."""
    head, tail = z[..., :-1], z[..., 1:]
    return xp.sum(100.0 * (tail - head * head) ** 2 + (1.0 - head) ** 2, axis=-1)


def _ackley(z, xp: ModuleType):
    """Ackley (a=20, b=0.2, c=2 pi); minimum 0 at z = 0 (float32 leaves ~1e-6 there)."""
    rms = xp.sqrt(xp.mean(z * z, axis=-1))
    waves = xp.mean(xp.cos(2.0 * np.pi * z), axis=-1)
    return xp.maximum(-20.0 * xp.exp(-0.2 * rms) - xp.exp(waves) + 20.0 + np.e, 0.0)


def _griewank(z, xp: ModuleType):
    """Griewank: 1 + sum z_i^2 / 4000 - prod cos(z_i / sqrt(i)); minimum 0 at z = 0."""
    d = z.shape[-1]
    root_i = xp.asarray(np.sqrt(np.arange(1, d + 1)), dtype=z.dtype)
    return 1.0 + xp.sum(z * z, axis=-1) / 4000.0 - xp.prod(xp.cos(z / root_i), axis=-1)


def _styblinski_tang(u, xp: ModuleType):
    """Styblinski-Tang minus its minimum, in u = z - ST_ROOT; minimum 0 at u = 0.

    With g(z) = (z^4 - 16 z^2 + 5 z) / 2 and g'(ST_ROOT) = 0, the Taylor expansion is exact:
    g(ST_ROOT + u) - g(ST_ROOT) = u^2 (3 r^2 - 8 + 2 r u + u^2 / 2), r = ST_ROOT, which avoids the
    cancellation of subtracting f* = -39.166 d in float32.
    """
    r = ST_ROOT
    return xp.sum(u * u * ((3.0 * r * r - 8.0) + 2.0 * r * u + 0.5 * u * u), axis=-1)


def _levy(z, xp: ModuleType):
    """Levy; minimum 0 at z = (1, ..., 1)."""
    w = 1.0 + (z - 1.0) / 4.0
    head, last = w[..., :-1], w[..., -1]
    first = xp.sin(np.pi * w[..., 0]) ** 2
    middle = xp.sum((head - 1.0) ** 2 * (1.0 + 10.0 * xp.sin(np.pi * head + 1.0) ** 2), axis=-1)
    tail = (last - 1.0) ** 2 * (1.0 + xp.sin(2.0 * np.pi * last) ** 2)
    return first + middle + tail


# name -> (raw function, offset added to x - x* so the minimum lands on x*)
_RAW: dict[str, tuple[Callable, float]] = {
    "sphere": (_sphere, 0.0),
    "ellipsoid": (_ellipsoid, 0.0),
    "rosenbrock": (_rosenbrock, 1.0),
    "rastrigin": (_rastrigin, 0.0),
    "ackley": (_ackley, 0.0),
    "griewank": (_griewank, 0.0),
    "styblinski_tang": (_styblinski_tang, 0.0),
    "levy": (_levy, 1.0),
}

#: Rotated (non-separable) twins: the raw function of R (x - x*) (+ offset), R a fixed random rotation per d.
ROTATED: dict[str, str] = {"ellipsoid_rot": "ellipsoid", "rastrigin_rot": "rastrigin", "rosenbrock_rot": "rosenbrock"}
ROTATION_SEED: int = 54321

FUNCTION_NAMES: tuple[str, ...] = tuple(_RAW) + tuple(ROTATED)


@functools.cache
def rotation(d: int) -> np.ndarray:
    """A fixed random rotation of R^d (float64, read-only): Q of the QR decomposition of a Gaussian matrix,
    with its columns' signs fixed so that Q is Haar-distributed."""
    gauss = np.random.default_rng(ROTATION_SEED + d).standard_normal((d, d))
    q, r = np.linalg.qr(gauss)
    q = q * np.sign(np.diag(r))
    q.setflags(write=False)
    return q


def _parts(name: str, d: int) -> tuple[Callable, float, np.ndarray | None]:
    """(raw function, offset, rotation or None) of function `name`."""
    if name in ROTATED:
        raw, offset = _RAW[ROTATED[name]]
        return raw, offset, rotation(d)
    raw, offset = _RAW[name]
    return raw, offset, None


@functools.cache
def optimum(d: int) -> np.ndarray:
    """The fixed minimizer ``x*`` for dimension ``d`` (float32, read-only)."""
    rng = np.random.default_rng(SHIFT_SEED)
    x_star = rng.uniform(-SHIFT_RANGE, SHIFT_RANGE, size=d).astype(np.float32)
    x_star.setflags(write=False)
    return x_star


def make_numpy(name: str, d: int) -> Callable[[np.ndarray], np.ndarray]:
    """Numpy twin of function ``name`` in dimension ``d``: ``(..., d)`` float64 → ``(...)``."""
    raw, offset, rot = _parts(name, d)
    x_star = optimum(d).astype(np.float64)

    def f(x: np.ndarray) -> np.ndarray:
        z = np.asarray(x, dtype=np.float64) - x_star
        z = z if rot is None else z @ rot.T
        return raw(z + offset, np)

    f.__name__ = f"{name}_{d}_numpy"
    return f


def make_jax(name: str, d: int) -> Callable[[jnp.ndarray], jnp.ndarray]:
    """``jax.numpy`` twin of function ``name`` in dimension ``d``: ``(..., d)`` float32 → ``(...)``."""
    raw, offset, rot = _parts(name, d)
    x_star = jnp.asarray(optimum(d))
    rot_t = None if rot is None else jnp.asarray(rot.T, jnp.float32)

    def f(x: jnp.ndarray) -> jnp.ndarray:
        z = x - x_star
        z = z if rot_t is None else z @ rot_t
        return raw(z + offset, jnp)

    f.__name__ = f"{name}_{d}_jax"
    return f


def _self_check() -> None:
    """Both twins agree and vanish at the optimum; Styblinski-Tang equals the textbook formula minus f*."""
    for name in FUNCTION_NAMES:
        for d in (2, 10, 100):
            x_star = optimum(d)
            fn, fj = make_numpy(name, d), make_jax(name, d)
            assert abs(float(fn(x_star))) < 1e-9 * d, (name, d, float(fn(x_star)))
            pts = np.random.default_rng(0).uniform(LOWER, UPPER, (4, d))
            np.testing.assert_allclose(fn(pts), np.asarray(fj(jnp.asarray(pts, jnp.float32))), rtol=2e-4)
            assert np.all(fn(pts) > 0), name
    z = np.random.default_rng(1).uniform(-5, 5, (3, 7))
    textbook = np.sum(z**4 - 16 * z**2 + 5 * z, axis=-1) / 2
    f_star = 7 * (ST_ROOT**4 - 16 * ST_ROOT**2 + 5 * ST_ROOT) / 2
    np.testing.assert_allclose(_styblinski_tang(z - ST_ROOT, np), textbook - f_star, rtol=1e-12)
    for d in (2, 10, 100):
        np.testing.assert_allclose(rotation(d) @ rotation(d).T, np.eye(d), atol=1e-12)
    print("functions: self-check ok")


if __name__ == "__main__":
    _self_check()
