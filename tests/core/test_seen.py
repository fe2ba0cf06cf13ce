"""The device table of seen fingerprints (JAX mode's duplicate cache): membership, repeats, bounded writes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hopper_jax.core import seen


def fingerprints(pairs):
    return jnp.asarray(np.asarray(pairs, np.uint32).reshape(-1, 2))


def test_inserted_fingerprints_are_found_and_others_are_not():
    table = seen.empty(16)
    fps = fingerprints([[1, 2], [3, 4], [5, 6]])
    table = jax.jit(seen.insert)(table, fps, jnp.array([True, True, False]))
    found = seen.contains(table, fingerprints([[1, 2], [3, 4], [5, 6], [1, 3]]))
    np.testing.assert_array_equal(found, [True, True, False, False])


def test_a_slot_keeps_the_last_row_written_and_writes_are_deterministic():
    table = seen.empty(16)
    same_slot = fingerprints([[7, 3], [8, 19], [9, 35], [10, 4]])  # slots 3, 3, 3, 4
    once = jax.jit(seen.insert)(table, same_slot, jnp.ones(4, bool))
    twice = jax.jit(seen.insert)(table, same_slot, jnp.ones(4, bool))
    np.testing.assert_array_equal(once.fingerprints, twice.fingerprints)
    np.testing.assert_array_equal(seen.contains(once, same_slot), [False, False, True, True])
    assert int(np.count_nonzero(once.occupied)) == 2


def test_repeats_flag_every_later_copy_and_never_the_first():
    fps = fingerprints([[1, 1], [2, 2], [1, 1], [3, 3], [2, 2], [1, 1]])
    np.testing.assert_array_equal(jax.jit(seen.repeats)(fps), [False, False, True, False, True, True])


def test_host_insertion_builds_the_same_table_as_the_device():
    rng = np.random.default_rng(0)
    pairs = rng.integers(0, 2**32, (300, 2), dtype=np.uint64).astype(np.uint32)
    pairs[100:] = pairs[:200]  # repeated keys too
    device = seen.insert(seen.empty(64), jnp.asarray(pairs), jnp.ones(300, bool))
    keys = ((pairs[:, 0].astype(np.uint64) << np.uint64(32)) | pairs[:, 1]).tolist()
    host = seen.insert_host(seen.empty(64), keys)
    np.testing.assert_array_equal(np.asarray(device.fingerprints), host.fingerprints)
    np.testing.assert_array_equal(np.asarray(device.occupied), host.occupied)
    assert sorted(seen.host_keys(host)) == sorted(seen.host_keys(device))


def test_capacity_grows_with_the_population_within_its_bounds():
    assert seen.capacity_for(1) == seen.MIN_SLOTS
    assert seen.capacity_for(4096) == 64 * 4096
    assert seen.capacity_for(10**7) == seen.MAX_SLOTS
    with pytest.raises(ValueError, match="power of two"):
        seen.empty(100)
