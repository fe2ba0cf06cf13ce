"""A 64-bit fingerprint of each candidate, computed inside jit.

The duplicate cache compares fingerprints instead of hashing whole candidates on the host, so its cost
stays O(1) host work per candidate however large the arrays are: the device mixes every element (its
bits and its position) with a MurmurHash3-style finaliser and sums the results (mod 2^32) per leaf, in two
lanes with different seeds; a leaf's sum is mixed with its index, and the leaves' hashes are summed.
Inactive leaves (in unchosen options of a conditional choice) do not count.

Because a leaf's hash depends on the sum of its elements' terms, a candidate that differs from another in
a few elements has a fingerprint computed from the other's sums in O(elements changed): `changed_sums`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

_SEEDS = (np.uint32(0x9E3779B1), np.uint32(0x85EBCA77))
#: Leaves with at most this many elements share one concatenated block in `leaf_sums`.
SMALL_LEAF = 64


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
    if value.dtype == jnp.float64:  # float64 coordinates: both halves of each value count
        value = jnp.where(value == 0, 0.0, value)  # -0.0 → 0.0
        halves = jax.lax.bitcast_convert_type(value, jnp.uint32)  # (n, 2)
        return halves[:, 0] ^ _mix(halves[:, 1])
    if jnp.issubdtype(value.dtype, jnp.floating):
        value = value.astype(jnp.float32)
        value = jnp.where(value == 0, jnp.float32(0.0), value)  # -0.0 → 0.0
        return jax.lax.bitcast_convert_type(value, jnp.uint32)
    return jax.lax.bitcast_convert_type(value.astype(jnp.int32), jnp.uint32)


def _terms(bits: jax.Array, positions: jax.Array, salts: jax.Array) -> jax.Array:
    """(2, n) per-element terms: mix(bits ^ mix(position · C + seed + leaf salt)) in both lanes."""
    seeds = jnp.asarray(np.asarray(_SEEDS, np.uint32))[:, None]  # (2, 1): both lanes at once
    return _mix(bits ^ _mix(positions.astype(jnp.uint32) * jnp.uint32(0x27D4EB2F) + seeds + salts))


def _salt(leaf: int) -> int:
    return (leaf * 0x165667B1) & 0xFFFFFFFF  # wraps like uint32 arithmetic


def leaf_sums(values: tuple[jax.Array, ...], only: frozenset[int] | None = None) -> jax.Array:
    """(2, L) uint32: per leaf, the sum (mod 2^32) of its elements' terms, in both lanes (with `only`, just
    those leaves; the others are 0).

    Leaves of at most `SMALL_LEAF` elements are hashed together in one concatenated block (a space of many
    scalars then costs a few operations, not a few dozen per leaf); larger leaves one at a time.
    """
    wanted = set(range(len(values))) if only is None else only
    small = [j for j, value in enumerate(values) if value.size <= SMALL_LEAF and j in wanted]
    columns = {}
    if small:
        sizes = [values[j].size for j in small]
        bits = jnp.concatenate([_bits(values[j]) for j in small])
        positions = jnp.concatenate([jnp.arange(size, dtype=jnp.uint32) for size in sizes])
        salts = jnp.concatenate([jnp.full(size, _salt(j), jnp.uint32) for j, size in zip(small, sizes)])
        terms = _terms(bits, positions, salts)
        bounds = np.cumsum([0, *sizes])
        for j, a, b in zip(small, bounds[:-1], bounds[1:]):
            columns[j] = jnp.sum(terms[:, a:b], axis=1, dtype=jnp.uint32)
    for j, value in enumerate(values):
        if j not in wanted:
            columns[j] = jnp.zeros(2, jnp.uint32)
        elif j not in columns:
            terms = _terms(_bits(value), jnp.arange(value.size, dtype=jnp.uint32), jnp.uint32(_salt(j)))
            columns[j] = jnp.sum(terms, axis=1, dtype=jnp.uint32)
    if not values:
        return jnp.zeros((2, 0), jnp.uint32)
    return jnp.stack([columns[j] for j in range(len(values))], axis=1)


def changed_sums(leaf: int, old: jax.Array, new: jax.Array, positions: jax.Array, valid: jax.Array) -> jax.Array:
    """(2,) the change of leaf `leaf`'s sums when its elements at flat `positions` (where `valid`) go from
    decoded values `old` to `new` (positions distinct)."""
    salt = jnp.uint32(_salt(leaf))
    change = _terms(_bits(new), positions, salt) - _terms(_bits(old), positions, salt)
    return jnp.sum(jnp.where(valid, change, jnp.uint32(0)), axis=1, dtype=jnp.uint32)


def combine(sums: jax.Array, active: jax.Array | None = None) -> jax.Array:
    """(2,) fingerprint from (2, L) leaf sums: the sum of mix(sum + leaf index) over the active leaves."""
    hashes = _mix(sums + jnp.arange(sums.shape[1], dtype=jnp.uint32))
    if active is not None:
        hashes = jnp.where(active, hashes, jnp.uint32(0))
    return jnp.sum(hashes, axis=1, dtype=jnp.uint32)


def fingerprint(values: tuple[jax.Array, ...], active: jax.Array | None = None) -> jax.Array:
    """(2,) uint32 fingerprint of one candidate's decoded values; `active` masks leaves out."""
    return combine(leaf_sums(values), active)


def as_int(fingerprint_row: np.ndarray) -> int:
    """A host-side dictionary key from a (2,) uint32 fingerprint."""
    return (int(fingerprint_row[0]) << 32) | int(fingerprint_row[1])
