"""JAX objectives evaluated a population at a time: jit(vmap(objective)), compiled once per run.

With several devices the population axis is split over a 1-D mesh ('pop') by `jax.jit` with `NamedSharding`
(no pmap); with `chunk_size` it is evaluated in sequential chunks by `jax.lax.map`. Either way the caller
gets exactly P values: padded rows (copies of row 0) are dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..space.compile import Space
from .sharding import Layout, check_chunk_size, mesh_of, pad_rows, resolve_devices, row_sharding, shard_rows, to_host

MODES = ("python", "jax", "jax-batched")


class BatchedEvaluator:
    """Evaluates a whole population of decoded values in one jitted call.

    mode='jax': `objective(candidate) -> scalar` for one candidate dict; it is vmapped.
    mode='jax-batched': `objective(population) -> (P,)`, where every leaf has a leading population axis
    (for users who vmap themselves, e.g. rollouts sharing environment keys across the population).
    devices: None → `jax.local_devices()`; with D > 1 devices each holds P/D rows (P padded up to a multiple
      of D with copies of row 0). In a multi-process run pass `jax.devices()` to split over every host.
    chunk_size: None, or evaluate c rows at a time (c rounded up to a multiple of D), for populations that do
      not fit in memory at once.
    With D > 1 or chunk_size, a 'jax-batched' objective sees the padded population (or one (c, ...) chunk at
    a time), so its rows must not depend on each other; the padded rows' values are dropped.
    """

    def __init__(self, objective: Callable[..., Any], space: Space, mode: str, kwargs: dict[str, Any] | None = None,
                 devices: Sequence[Any] | None = None, chunk_size: int | None = None):
        if not callable(objective):
            raise ValueError(f"The objective must be callable, got {objective!r}")
        kwargs = dict(kwargs or {})
        self.space, self.mode = space, mode
        self.devices = resolve_devices(devices)
        self.chunk_size = check_chunk_size(chunk_size)
        self._move = devices is not None  # one given device: values are moved there first
        self.last_output: jax.Array | None = None  # the last device output, padding included (for inspection)

        def one(values):
            return objective(space.jax_tree(values), **kwargs)

        def population(values):
            if mode == "jax-batched":
                return objective(space.jax_tree(values), **kwargs)
            return jax.vmap(one)(values)

        self._population = population
        self._compiled = self._build(population)

    # ---- compiled functions (built once; jit caches one executable per population shape) ---------------
    @property
    def _plain(self) -> bool:
        """One device and no chunks: today's path, values evaluated where they are."""
        return len(self.devices) == 1 and self.chunk_size is None

    def _build(self, population: Callable) -> Callable:
        if self._plain:
            return jax.jit(population)
        mesh, chunked = mesh_of(self.devices), self.chunk_size is not None
        self._rows = rows = row_sharding(mesh, chunked)
        if not chunked:
            return jax.jit(population, in_shardings=(rows,), out_shardings=rows)
        chunk_rows = row_sharding(mesh, chunked=False)

        def chunk(values):  # (chunk, ...) leaves, split over the devices → (chunk,)
            return population(jax.lax.with_sharding_constraint(values, chunk_rows))

        def chunks(values):  # (chunks, chunk, ...) leaves → (chunks, chunk), one chunk at a time
            return jax.lax.map(chunk, values)

        return jax.jit(chunks, in_shardings=(rows,), out_shardings=rows)

    def layout(self, size: int) -> Layout:
        """How `size` rows are padded and chunked on this evaluator's devices."""
        return Layout(size, len(self.devices), self.chunk_size)

    # ---- checks and evaluation ----------------------------------------------------------------------
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
        """(P,) float64 objective values on the host, for `values` = tuple of (P, ...) decoded leaves."""
        if self._plain or not values:
            moved = jax.device_put(values, self.devices[0]) if self._move and values else values
            self.last_output = self._compiled(moved)
            return np.asarray(jax.device_get(self.last_output), dtype=np.float64)
        layout = self.layout(values[0].shape[0])
        padded = pad_rows(values, layout.padded, None if self.chunk_size is None else layout.chunks)
        self.last_output = self._compiled(jax.device_put(padded, self._rows))
        return to_host(self.last_output, layout.size)

    # ---- what the last evaluation looked like (for tests and diagnostics) ------------------------------
    @property
    def last_sharding(self) -> jax.sharding.Sharding | None:
        """The sharding of the last device output (padded rows included), or None before any call."""
        return None if self.last_output is None else self.last_output.sharding

    def last_shards(self) -> list[tuple[int, int]]:
        """(device id, values held) for each shard of the last output on this process's devices."""
        return shard_rows(self.last_output)
