"""Hops: phase-2 rows that resample one element of a bounded continuous block from its prior.

Phase 2 moves around the best with steps that shrink as they stop improving; once the search sits in a local
basin, no step of that size leaves it, and a restart at full size moves every chosen element at once, which
on a landscape of many basins lands worse almost always. A hop keeps the best and draws one block element
afresh, uniformly in its bounds: on a landscape whose basins repeat along the axes (Rastrigin, Styblinski-Tang,
Levy), it tries the other basins of one coordinate while the others stay at their best values. A `HOP_SHARE` of
the phase-2 rows hop; like model steps they leave the step size and the learned shape alone (a hop's outcome
says nothing about the step size), so they cost a share of the evaluations and change nothing else.

Each row decides from a stream of its own key (folded with 3), so that a hop is one whatever the block size of
the speculative asks, and draws the element and its new value from the same stream.

Shapes: n block elements, P rows.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

#: Share of the phase-2 rows that hop by default (`hopper(hop_share=...)` decides per search; 0: none); an
#: ablation setting, which the engine caches' keys do not see. benchmarks/RESULTS.md §48.
HOP_SHARE = 0.1


def _stream(key: jax.Array) -> jax.Array:
    """(3,) uniforms of a row's hop stream, from its PRNG key data: (decides, element, value)."""
    return jax.random.uniform(jax.random.fold_in(jax.random.wrap_key_data(key), 3), (3,))


def hop_rows(keys: jax.Array, share: float = HOP_SHARE) -> jax.Array:
    """(P,) bool: the rows (PRNG key data `keys` (P, k)) that hop, a `share` of them."""
    return jax.vmap(_stream)(keys)[:, 0] < share


def hop_step(key: jax.Array, current: jax.Array) -> jax.Array:
    """(n,) the block step of a hop from `current` (n,), the best's block coordinates in the unit box: one
    element, drawn at random, moves to a uniform draw in [0, 1]; the others stay."""
    draws = _stream(key)
    n = current.shape[0]
    element = jnp.minimum(jnp.floor(draws[1] * n).astype(jnp.int32), n - 1)
    return jnp.where(jnp.arange(n) == element, draws[2] - current, 0.0).astype(current.dtype)
