"""JAX objectives evaluated a population at a time: jit(vmap(objective)), compiled once per run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..space.compile import Space

MODES = ("python", "jax", "jax-batched")


class BatchedEvaluator:
    """Evaluates a whole population of decoded values in one jitted call.

    mode='jax': `objective(candidate) -> scalar` for one candidate dict; it is vmapped.
    mode='jax-batched': `objective(population) -> (P,)`, where every leaf has a leading population axis
    (for users who vmap themselves, e.g. rollouts sharing environment keys across the population).
    """

    def __init__(self, objective: Callable[..., Any], space: Space, mode: str, kwargs: dict[str, Any] | None = None):
        if not callable(objective):
            raise ValueError(f"The objective must be callable, got {objective!r}")
        kwargs = dict(kwargs or {})
        self.space, self.mode = space, mode

        def one(values):
            return objective(space.jax_tree(values), **kwargs)

        def population(values):
            if mode == "jax-batched":
                return objective(space.jax_tree(values), **kwargs)
            return jax.vmap(one)(values)

        self._population = population
        self._compiled = jax.jit(population)

    def check(self, values: tuple[jax.Array, ...]) -> None:
        """Trace the objective on `values` (P rows) before the search; explain what is wrong if it fails."""
        size = values[0].shape[0] if values else 1
        try:
            result = jax.eval_shape(self._population, values)
        except Exception as error:  # noqa: BLE001 - re-raised with advice
            raise ValueError(
                f"The objective cannot be traced by JAX, which mode={self.mode!r} needs ({type(error).__name__}: "
                f"{error}). Write it with jax.numpy and without Python control flow on its inputs or "
                f"float()/numpy conversions, or run it with mode='python'."
            ) from error
        expected = "a scalar per candidate" if self.mode == "jax" else f"an array of shape ({size},)"
        if not isinstance(result, jax.ShapeDtypeStruct) or result.shape != (size,):
            shape = getattr(result, "shape", type(result).__name__)
            raise ValueError(f"The objective must return {expected}; it returned shape {shape} "
                             f"(mode={self.mode!r}).")
        if not jnp.issubdtype(result.dtype, jnp.floating) and not jnp.issubdtype(result.dtype, jnp.integer):
            raise ValueError(f"The objective must return real numbers, it returned dtype {result.dtype}.")

    def __call__(self, values: tuple[jax.Array, ...]) -> np.ndarray:
        """(P,) float64 objective values on the host."""
        return np.asarray(jax.device_get(self._compiled(values)), dtype=np.float64)
