"""Noisy objectives: evaluate several times and reduce, reporting running estimates for pruning.

`wrap_n_times` is PyHopper's, for Python objectives: a generator objective whose yields are the running
reduction (so a pruner can stop a hopeless candidate after a few repetitions). `average_over_keys` is its
JAX counterpart: one PRNG key per repetition, all repetitions evaluated by one vmap (one compilation).
"""

from __future__ import annotations

import inspect
import numbers
from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

REDUCTIONS = ("mean", "median")


def _reduction(reduction: str | Callable, where: str) -> Callable:
    if callable(reduction):
        return reduction
    if reduction == "mean":
        return np.mean
    if reduction in ("median", "med"):
        return np.median
    raise ValueError(f"{where}(reduction={reduction!r}): pass 'mean', 'median' or a function of a list of "
                     f"values (e.g. numpy.max).")


def _check_n(n: Any, where: str) -> int:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"{where}(n={n!r}): n is the number of evaluations to reduce; pass an int >= 1.")
    return int(n)


class RepeatedObjective:
    """`func` evaluated `n` times per candidate; calling it returns a generator of running reductions.

    Picklable whenever `func` is (so it runs in worker processes).
    """

    def __init__(self, func: Callable[..., Any], n: int, yield_after: int | None = 0,
                 reduction: str | Callable = "mean", pass_index_arg: bool = False):
        if not callable(func):
            raise TypeError(f"wrap_n_times needs a callable objective, got {func!r}")
        self.n = _check_n(n, "wrap_n_times")
        if yield_after is not None and (isinstance(yield_after, bool) or not isinstance(yield_after, numbers.Integral)
                                        or not 0 <= yield_after < self.n):
            raise ValueError(f"wrap_n_times(yield_after={yield_after!r}, n={self.n}): pass an int in [0, n - 1] "
                             f"(the first call after which the running {reduction} is reported), or None to "
                             f"report only the final value.")
        self.func, self.yield_after, self.pass_index_arg = func, yield_after, bool(pass_index_arg)
        self.reduce = _reduction(reduction, "wrap_n_times")

    def __call__(self, candidate: Any, **kwargs: Any) -> Iterator[float]:
        """Yield the reduction of the results so far after each call i >= yield_after (always after the last)."""
        first = self.n - 1 if self.yield_after is None else self.yield_after
        results: list[float] = []
        for i in range(self.n):
            result = self.func(candidate, i, **kwargs) if self.pass_index_arg else self.func(candidate, **kwargs)
            if result is None:
                raise ValueError(f"The objective wrapped by wrap_n_times returned None on call {i}; end it with "
                                 f"`return <value>`.")
            results.append(float(result))
            if i >= first:
                yield float(self.reduce(results))


def wrap_n_times(func: Callable[..., Any], n: int, yield_after: int | None = 0, reduction: str | Callable = "mean",
                 pass_index_arg: bool = False) -> RepeatedObjective:
    """A Python objective that calls `func(candidate, **kwargs)` n times and reports the running reduction.

    Args:
      func: the noisy objective (`func(candidate, i, **kwargs)` with `pass_index_arg`, i = 0..n-1).
      n: evaluations per candidate.
      yield_after: the running reduction is yielded after every call i >= yield_after (each yield is an
        estimate a pruner can act on); None yields only the final reduction of all n.
      reduction: 'mean', 'median' or a function of the list of results.
    """
    return RepeatedObjective(func, n, yield_after, reduction, pass_index_arg)


class KeyAveraged:
    """`g(candidate, key)`: `f` under `n` keys split from `key`, reduced; see `average_over_keys`."""

    def __init__(self, f: Callable[..., Any], n: int, reduction: str = "mean"):
        if not callable(f):
            raise TypeError(f"average_over_keys needs a callable objective, got {f!r}")
        if reduction not in REDUCTIONS:
            raise ValueError(f"average_over_keys(reduction={reduction!r}): pass 'mean' or 'median' (a JAX "
                             f"reduction over the n evaluations).")
        try:
            inspect.signature(f).bind(None, None)
        except TypeError:
            raise ValueError(f"average_over_keys needs an objective f(candidate, key) -> scalar, which it calls "
                             f"with n different PRNG keys; {f!r} does not take two arguments.") from None
        except ValueError:
            pass  # no signature to check (a builtin): calls will tell
        self.f, self.n, self.reduction = f, _check_n(n, "average_over_keys"), reduction

    def __call__(self, candidate: Any, key: Any, **kwargs: Any) -> Any:
        keys = _split(key, self.n)  # (n, *key.shape)
        values = jax.vmap(lambda k: self.f(candidate, k, **kwargs))(keys)  # (n, ...)
        return jnp.mean(values, axis=0) if self.reduction == "mean" else jnp.median(values, axis=0)


def average_over_keys(f: Callable[..., Any], n: int, reduction: str = "mean") -> KeyAveraged:
    """A JAX objective `g(candidate, key)` that reduces `f(candidate, key=k)` over n keys split from `key`.

    The n evaluations are one `vmap` (compiled once with the rest of the population's evaluation); the
    result's shape is f's. With mode='jax-batched', `key` is the population's (P,) keys and each row gets
    its own n keys. `reduction`: 'mean' or 'median'.
    """
    return KeyAveraged(f, n, reduction)


def _split(key: Any, n: int) -> Any:
    """n keys per key: a typed key (or raw uint32 key data) of shape S → typed keys of shape (n, *S)."""
    if not jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.wrap_key_data(key)
    if key.ndim == 0:
        return jax.random.split(key, n)
    flat = jax.vmap(lambda k: jax.random.split(k, n))(key.reshape(-1))  # (size, n)
    return jnp.moveaxis(flat, -1, 0).reshape(n, *key.shape)


__all__ = ["KeyAveraged", "RepeatedObjective", "average_over_keys", "wrap_n_times"]
