"""Row-wise helpers over populations (a leading axis of P rows): batched maps and row selection."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

#: On CPU, phase 1 samples a population this many array elements at a time (a scan over row batches):
#: threefry's intermediates then stay in cache, which made sampling (256, 1e5) and (64, 1e6) populations
#: 1.6-1.9x faster than one vmap (benchmarks/RESULTS.md §7). The values are identical either way.
CPU_BATCH_ELEMENTS = 2**20


def rows_per_batch(size: int, row_elements: int) -> int:
    """How many of `size` rows of `row_elements` elements to compute at once: about `CPU_BATCH_ELEMENTS`
    elements on CPU; all of them on other backends (GPU, TPU want the whole population at once)."""
    if jax.default_backend() != "cpu":
        return size
    return min(size, max(1, CPU_BATCH_ELEMENTS // max(row_elements, 1)))


def batched_rows(fn: Callable[[Any], Any], rows: Any, row_elements: int, into: Any = None,
                 take: jax.Array | None = None) -> Any:
    """`fn(rows)` for a function of a batch of rows, computed `rows_per_batch` rows at a time into one output.

    `rows` is a pytree with a leading population axis P; `fn` maps B rows to a pytree of (B, ...) arrays, row by
    row; `row_elements` is the size of one output row. The batches are slices of `rows` written in place into
    the output (no copy of a population-sized input or output), the last batch overlapping the one before it
    (it writes equal rows). With `into` (an earlier output) and `take` (P,) bool, only rows in `take` are
    computed and written, into `into`.
    """
    size = jax.tree.leaves(rows)[0].shape[0]
    batch = rows_per_batch(size, row_elements)
    if batch >= size:
        out = fn(rows)
        return out if take is None else jax.tree.map(lambda r, o: where_rows(take, r, o), out, into)
    count = -(-size // batch)
    batch = -(-size // count)  # balanced batches: the overlap is under `count` rows

    def part(start):
        return jax.tree.map(lambda a: jax.lax.dynamic_slice_in_dim(a, start, batch), rows)

    if into is None:
        into = jax.tree.map(lambda s: jnp.zeros((size, *s.shape[1:]), s.dtype), jax.eval_shape(fn, part(0)))

    def write(b, out):
        start = jnp.minimum(b * batch, size - batch)
        if take is None:
            new = fn(part(start))
        else:
            wanted = jax.lax.dynamic_slice_in_dim(take, start, batch)
            old = jax.tree.map(lambda o: jax.lax.dynamic_slice_in_dim(o, start, batch), out)
            new = jax.lax.cond(jnp.any(wanted), lambda: jax.tree.map(lambda r, o: where_rows(wanted, r, o),
                                                                     fn(part(start)), old), lambda: old)
        return jax.tree.map(lambda o, r: jax.lax.dynamic_update_slice_in_dim(o, r, start, 0), out, new)

    return jax.lax.fori_loop(0, count, write, into)


def map_rows(fn: Callable, rows: Any, row_elements: int) -> Any:
    """`jax.vmap(fn)(rows)`, computed `rows_per_batch` rows at a time (`batched_rows`)."""
    return batched_rows(jax.vmap(fn), rows, row_elements)


def where_rows(mask: jax.Array, on_true: jax.Array, on_false: jax.Array | float) -> jax.Array:
    """Row i of `on_true` (P, ...) where mask (P,) is True, else row i (or the scalar) of `on_false`."""
    return jnp.where(mask.reshape(mask.shape + (1,) * (on_true.ndim - 1)), on_true, on_false)
