"""JAX objectives evaluated a population at a time: jit(vmap(objective)), compiled once per run.

With several devices the population axis is split over a 1-D mesh ('pop') by `jax.jit` with `NamedSharding`
(no pmap); with `chunk_size` it is evaluated in sequential chunks by `jax.lax.map`. Either way the caller
gets exactly P values: padded rows (copies of row 0) are dropped.

An objective with a parameter named `key` gets one PRNG key per row (`keys`, supplied by the caller): the
keys travel as one more leaf of the population, so padding, sharding and chunking move them with their rows.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..space.compile import Space
from .sharding import Layout, check_chunk_size, mesh_of, pad_rows, resolve_devices, row_sharding, shard_rows, to_host

MODES = ("python", "jax", "jax-batched")


def takes_key(objective: Callable[..., Any]) -> bool:
    """True if `objective` has a parameter named `key` (it then gets a PRNG key per candidate)."""
    try:
        parameter = inspect.signature(objective).parameters.get("key")
    except (TypeError, ValueError):  # no signature (some builtins): it takes no key
        return False
    return parameter is not None and parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)


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
    Keys: if the objective has a parameter named `key` (`takes_key`), each call needs `keys`, a (P,) array of
    typed PRNG keys (`jax.random.split(key, P)`); mode='jax' calls `objective(candidate, key=keys[i])` per
    row, mode='jax-batched' `objective(population, key=keys)`.
    """

    def __init__(self, objective: Callable[..., Any], space: Space, mode: str, kwargs: dict[str, Any] | None = None,
                 devices: Sequence[Any] | None = None, chunk_size: int | None = None):
        if not callable(objective):
            raise ValueError(f"The objective must be callable, got {objective!r}")
        kwargs = dict(kwargs or {})
        self.takes_key = takes_key(objective)
        if self.takes_key and "key" in kwargs:
            raise ValueError("kwargs has an entry 'key', but the objective's `key` parameter receives a PRNG key "
                             "per candidate from the search; rename that keyword argument.")
        self.space, self.mode = space, mode
        self.devices = resolve_devices(devices)
        self.chunk_size = check_chunk_size(chunk_size)
        self._move = devices is not None  # one given device: values are moved there first
        self.last_output: jax.Array | None = None  # the last device output, padding included (for inspection)

        def call(values, keys):  # keys: None, one key ('jax') or (P,) keys ('jax-batched')
            return objective(space.jax_tree(values), **kwargs, **({} if keys is None else {"key": keys}))

        def population(leaves):  # the decoded values, then the (P,) keys if the objective takes them
            values, keys = (leaves[:-1], leaves[-1]) if self.takes_key else (leaves, None)
            if mode == "jax-batched":
                return call(values, keys)
            return jax.vmap(call)(values, keys)

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

    def _leaves(self, values: tuple[jax.Array, ...], keys: jax.Array | None) -> tuple[jax.Array, ...]:
        """`values`, plus the checked (P,) typed keys if the objective takes a key (else `keys` is ignored)."""
        if not self.takes_key:
            return values
        size = values[0].shape[0] if values else None
        if keys is None:
            raise ValueError("The objective has a `key` parameter, so every evaluation needs one PRNG key per "
                             "candidate: call the evaluator with keys=jax.random.split(key, population_size).")
        if not jnp.issubdtype(keys.dtype, jax.dtypes.prng_key):
            keys = jax.random.wrap_key_data(keys)  # raw uint32 key data, e.g. from jax.random.PRNGKey
        if keys.ndim != 1 or (size is not None and keys.shape[0] != size):
            raise ValueError(f"keys must hold one PRNG key per candidate, shape ({size},) (e.g. "
                             f"jax.random.split(key, {size})); got shape {keys.shape}.")
        return (*values, keys)

    # ---- checks and evaluation ----------------------------------------------------------------------
    def check(self, values: tuple[jax.Array, ...], keys: jax.Array | None = None) -> None:
        """Trace the objective on `values` (P rows) before the search; explain what is wrong if it fails.

        A key-taking objective is traced with `keys`, or with placeholder keys if none are given.
        """
        size = values[0].shape[0] if values else 1
        if self.takes_key and keys is None:
            keys = jax.random.split(jax.random.key(0), size)
        leaves = self._leaves(values, keys)
        try:
            result = jax.eval_shape(self._population, leaves)
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

    def __call__(self, values: tuple[jax.Array, ...], keys: jax.Array | None = None) -> np.ndarray:
        """(P,) float64 objective values on the host, for `values` = tuple of (P, ...) decoded leaves.

        keys: (P,) typed PRNG keys, one per row, for an objective that takes `key` (ignored otherwise).
        """
        leaves = self._leaves(values, keys)
        if self._plain or not leaves:
            moved = jax.device_put(leaves, self.devices[0]) if self._move and leaves else leaves
            self.last_output = self._compiled(moved)
            return np.asarray(jax.device_get(self.last_output), dtype=np.float64)
        layout = self.layout(leaves[0].shape[0])
        padded = pad_rows(leaves, layout.padded, None if self.chunk_size is None else layout.chunks)
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
