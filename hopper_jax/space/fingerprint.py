"""A 64-bit fingerprint of each candidate, computed inside jit.

The duplicate cache compares fingerprints instead of hashing whole candidates on the host, so its cost
stays O(1) host work per candidate however large the arrays are: the device mixes every element (its
bits and its position) with a MurmurHash3-style finaliser and sums the results (mod 2^32), in two lanes
with different seeds. Inactive leaves (in unchosen options of a conditional choice) do not count.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

_SEEDS = (np.uint32(0x9E3779B1), np.uint32(0x85EBCA77))


def _mix(h: jax.Array) -> jax.Array:
    """MurmurHash3's 32-bit finaliser: an invertible avalanche of uint32 values."""
    h = h ^ (h >> 16)
    h = h * jnp.uint32(0x85EBCA6B)
    h = h ^ (h >> 13)
    h = h * jnp.uint32(0xC2B2AE35)
    return h ^ (h >> 16)


def _bits(value: jax.Array) -> jax.Array:
    value = value.reshape(-1)
    if value.dtype == jnp.bool_:
        return value.astype(jnp.uint32)
    if jnp.issubdtype(value.dtype, jnp.floating):
        value = value.astype(jnp.float32)
        value = jnp.where(value == 0, jnp.float32(0.0), value)  # -0.0 → 0.0
        return jax.lax.bitcast_convert_type(value, jnp.uint32)
    return jax.lax.bitcast_convert_type(value.astype(jnp.int32), jnp.uint32)


def fingerprint(values: tuple[jax.Array, ...], active: jax.Array | None = None) -> jax.Array:
    """(2,) uint32 fingerprint of one candidate's decoded values; `active` masks leaves out."""
    lanes = []
    for seed in _SEEDS:
        total = jnp.uint32(0)
        for leaf, value in enumerate(values):
            bits = _bits(value)
            position = jnp.arange(bits.shape[0], dtype=jnp.uint32)
            leaf_salt = (leaf * 0x165667B1) & 0xFFFFFFFF  # wraps like uint32 arithmetic (leaf >= 12 overflows)
            salt = _mix(position * jnp.uint32(0x27D4EB2F) + jnp.uint32(seed) + jnp.uint32(leaf_salt))
            leaf_hash = _mix(jnp.sum(_mix(bits ^ salt), dtype=jnp.uint32) + jnp.uint32(leaf))
            if active is not None:
                leaf_hash = jnp.where(active[leaf], leaf_hash, jnp.uint32(0))
            total = total + leaf_hash
        lanes.append(total)
    return jnp.stack(lanes)


def as_int(fingerprint_row: np.ndarray) -> int:
    """A host-side dictionary key from a (2,) uint32 fingerprint."""
    return (int(fingerprint_row[0]) << 32) | int(fingerprint_row[1])
