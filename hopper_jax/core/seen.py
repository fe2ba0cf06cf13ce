"""A bounded set of candidate fingerprints on the device: JAX mode's duplicate cache.

A `SeenTable` is direct-mapped: fingerprint (a, b) lives in slot `b mod C` (C a power of two), and a newer
fingerprint in the same slot replaces the older one. Its memory is fixed (9 bytes a slot) however long a
search runs; it remembers every candidate of a run with fewer than about C evaluations and the most recent
ones beyond that, which is where phase 2 draws its duplicates (near the current best).

Everything here is pure and jittable, and deterministic on every backend: a write never scatters twice to
one slot (when several rows of a population map to one slot, only the last row is written).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

#: Slots per population row (C = next power of two >= SLOTS_PER_ROW * P), within [MIN_SLOTS, MAX_SLOTS].
SLOTS_PER_ROW = 64
MIN_SLOTS, MAX_SLOTS = 2**12, 2**20


class SeenTable(NamedTuple):
    """Fingerprints seen so far: (C, 2) uint32 and (C,) bool occupied."""

    fingerprints: jax.Array
    occupied: jax.Array


def capacity_for(population_size: int) -> int:
    """Slots of the table for populations of `population_size` rows."""
    wanted = SLOTS_PER_ROW * max(int(population_size), 1)
    return int(min(MAX_SLOTS, max(MIN_SLOTS, 1 << (wanted - 1).bit_length())))


def empty(capacity: int) -> SeenTable:
    """A table of `capacity` (a power of two) empty slots, as numpy arrays (put on the device by jit)."""
    if capacity & (capacity - 1):
        raise ValueError(f"capacity must be a power of two, got {capacity}")
    return SeenTable(np.zeros((capacity, 2), np.uint32), np.zeros(capacity, bool))


def _slots(fingerprints: jax.Array, capacity: int) -> jax.Array:
    return (fingerprints[:, 1] & jnp.uint32(capacity - 1)).astype(jnp.int32)


def contains(table: SeenTable, fingerprints: jax.Array) -> jax.Array:
    """(P,) bool: which of the (P, 2) fingerprints are in the table."""
    slots = _slots(fingerprints, table.occupied.shape[0])
    stored = table.fingerprints[slots]
    return table.occupied[slots] & jnp.all(stored == fingerprints, axis=1)


def repeats(fingerprints: jax.Array) -> jax.Array:
    """(P,) bool: rows whose fingerprint an earlier row of the same population already has."""
    rows = jnp.arange(fingerprints.shape[0], dtype=jnp.int32)
    first, second, order = jax.lax.sort((fingerprints[:, 0], fingerprints[:, 1], rows), num_keys=3)
    same = jnp.concatenate([jnp.zeros(1, bool), (first[1:] == first[:-1]) & (second[1:] == second[:-1])])
    return jnp.zeros(rows.shape, bool).at[order].set(same, unique_indices=True)


def insert(table: SeenTable, fingerprints: jax.Array, mask: jax.Array) -> SeenTable:
    """The table with the (P, 2) fingerprints of rows where `mask` is True added (the last row wins a slot)."""
    capacity = table.occupied.shape[0]
    rows = jnp.arange(fingerprints.shape[0], dtype=jnp.int32)
    slots = jnp.where(mask, _slots(fingerprints, capacity), capacity)  # capacity: out of range, dropped
    sorted_slots, order = jax.lax.sort((slots, rows), num_keys=2)
    last = jnp.concatenate([sorted_slots[:-1] != sorted_slots[1:], jnp.ones(1, bool)])
    targets = jnp.where(last, sorted_slots, capacity)  # every in-range target now appears once
    return SeenTable(jnp.asarray(table.fingerprints).at[targets].set(fingerprints[order], mode="drop"),
                     jnp.asarray(table.occupied).at[targets].set(True, mode="drop"))


def insert_host(table: SeenTable, keys: list[int]) -> SeenTable:
    """`insert` for host keys (64-bit ints, high word first), in order; numpy, no device program."""
    fingerprints, occupied = np.array(table.fingerprints, np.uint32), np.array(table.occupied, bool)
    if keys:
        keys_array = np.asarray(keys, np.uint64)
        pairs = np.stack([keys_array >> np.uint64(32), keys_array & np.uint64(0xFFFFFFFF)], axis=1).astype(np.uint32)
        slots = (pairs[:, 1] & np.uint32(occupied.shape[0] - 1)).astype(np.int64)
        _, last_from_end = np.unique(slots[::-1], return_index=True)
        last = len(slots) - 1 - last_from_end  # the last key of each slot wins, as in `insert`
        fingerprints[slots[last]] = pairs[last]
        occupied[slots[last]] = True
    return SeenTable(fingerprints, occupied)


def host_keys(table: SeenTable) -> list[int]:
    """The 64-bit keys held by the table, in slot order."""
    fingerprints = np.asarray(table.fingerprints, np.uint64)[np.asarray(table.occupied, bool)]
    return ((fingerprints[:, 0] << np.uint64(32)) | fingerprints[:, 1]).tolist()
