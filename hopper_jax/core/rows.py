"""Row-wise helpers over populations (a leading axis of P rows): batched maps and row selection."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

#: On CPU, phase 1 samples a population this many array elements at a time (a scan over row batches):
#: threefry's intermediates then stay in cache, which made sampling (256, 1e5) and (64, 1e6) populations
#: 1.6-1.9x faster than one vmap (benchmarks/RESULTS.md §7). The values are identical either way.
CPU_BATCH_ELEMENTS = 2**20


def map_rows(fn: Callable, rows: Any, row_elements: int) -> Any:
    """`jax.vmap(fn)(rows)`, computed in batches of about `CPU_BATCH_ELEMENTS` elements on CPU.

    `rows` is a pytree with a leading population axis; `row_elements` is the size of one output row.
    Other backends (GPU, TPU) want the whole population at once and get the plain vmap.
    """
    size = jax.tree.leaves(rows)[0].shape[0]
    batch = max(1, CPU_BATCH_ELEMENTS // max(row_elements, 1))
    if jax.default_backend() != "cpu" or batch >= size:
        return jax.vmap(fn)(rows)
    return jax.lax.map(fn, rows, batch_size=batch)


def where_rows(mask: jax.Array, on_true: jax.Array, on_false: jax.Array | float) -> jax.Array:
    """Row i of `on_true` (P, ...) where mask (P,) is True, else row i (or the scalar) of `on_false`."""
    return jnp.where(mask.reshape(mask.shape + (1,) * (on_true.ndim - 1)), on_true, on_false)


def select_rows(mask: jax.Array, on_true: NamedTuple, on_false: NamedTuple) -> Any:
    """Rows of population `on_true` where mask (P,) is True, else of `on_false`; base and given rows stay
    those of `on_false`."""
    per_row = ("keys", "sampled", "index", "moved", "local", "actions", "temperature")
    return on_false._replace(**{name: jax.tree.map(lambda a, b: where_rows(mask, a, b), getattr(on_true, name),
                                                  getattr(on_false, name)) for name in per_row})
