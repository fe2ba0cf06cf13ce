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
    """(2,) uint32 fingerprint of one candidate's decoded values; `active` masks leaves out.

    Leaf j hashes to mix(sum_i mix(bits_i ^ salt(i, j)) + j), and the fingerprint is the sum of the leaves'
    hashes. Leaves of at most `SMALL_LEAF` elements are hashed together in one concatenated block (a space
    of many scalars then costs a few operations, not a few dozen per leaf); larger leaves one at a time.
    """
    small = [j for j, value in enumerate(values) if value.size <= SMALL_LEAF]
    blocks = ([small] if small else []) + [[j] for j, value in enumerate(values) if value.size > SMALL_LEAF]
    lanes = jnp.zeros(len(_SEEDS), jnp.uint32)
    for leaves in blocks:
        hashes = _block_hashes([_bits(values[j]) for j in leaves], leaves)  # (2, len(leaves))
        if active is not None:
            hashes = jnp.where(active[jnp.asarray(leaves)], hashes, jnp.uint32(0))
        lanes = lanes + jnp.sum(hashes, axis=1, dtype=jnp.uint32)
    return lanes


#: Leaves with at most this many elements share one concatenated block in `fingerprint`.
SMALL_LEAF = 64


def _block_hashes(bits: list[jax.Array], leaves: list[int]) -> jax.Array:
    """(2, L) uint32: the hash of each of the L leaves `leaves` (flat uint32 `bits`) in both lanes."""
    sizes = [b.shape[0] for b in bits]
    salts = [(leaf * 0x165667B1) & 0xFFFFFFFF for leaf in leaves]  # wraps like uint32 arithmetic
    position = jnp.concatenate([jnp.arange(size, dtype=jnp.uint32) for size in sizes])
    leaf_salt = jnp.concatenate([jnp.full(size, salt, jnp.uint32) for size, salt in zip(sizes, salts)])
    seeds = jnp.asarray(np.asarray(_SEEDS, np.uint32))[:, None]  # (2, 1): both lanes at once
    mixed = _mix(jnp.concatenate(bits) ^ _mix(position * jnp.uint32(0x27D4EB2F) + seeds + leaf_salt))  # (2, N)
    bounds = np.cumsum([0, *sizes])
    sums = jnp.stack([jnp.sum(mixed[:, a:b], axis=1, dtype=jnp.uint32) for a, b in zip(bounds[:-1], bounds[1:])],
                     axis=1)
    return _mix(sums + jnp.asarray(np.asarray(leaves, np.uint32)))


def as_int(fingerprint_row: np.ndarray) -> int:
    """A host-side dictionary key from a (2,) uint32 fingerprint."""
    return (int(fingerprint_row[0]) << 32) | int(fingerprint_row[1])
