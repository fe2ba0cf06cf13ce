"""The pre-flight memory check of JAX-mode generations (search/memory.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hopper_jax as hj
from hopper_jax.search import memory

SHAPES = (jax.ShapeDtypeStruct((8, 1000, 10), jnp.float32), jax.ShapeDtypeStruct((8,), jnp.int32))


def test_candidate_bytes_counts_one_row_of_every_leaf():
    assert memory.candidate_bytes(SHAPES) == 1000 * 10 * 4 + 4


def test_generation_estimate_grows_with_the_population():
    per = 4 * 10**8
    assert memory.generation_bytes(8, per) == (8 + memory.FIXED_CANDIDATES) * per
    assert memory.generation_bytes(64, per) - memory.generation_bytes(8, per) == 56 * per


def test_available_memory_of_the_cpu_is_known_on_linux():
    room = memory.available_bytes(jax.devices("cpu")[0])
    assert room is not None and 0 < room < 2**50


def test_a_generation_that_does_not_fit_is_refused_with_a_population_that_does(monkeypatch):
    shapes = (jax.ShapeDtypeStruct((64, 10**8), jnp.float32),)
    monkeypatch.setattr(memory, "available_bytes", lambda device: 22 * 10**9)
    with pytest.raises(ValueError, match=r"population_size=64 .* pass population_size=34 or less") as info:
        memory.check_generation_fits(64, shapes)
    assert "chunk_size=" in str(info.value) and memory.SKIP_VARIABLE in str(info.value)
    memory.check_generation_fits(34, shapes)  # the advice fits
    with pytest.raises(ValueError):
        memory.check_generation_fits(35, shapes)


def test_a_candidate_too_large_for_any_population_says_so(monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda device: 10**9)
    with pytest.raises(ValueError, match="a single candidate does not fit"):
        memory.check_generation_fits(1, (jax.ShapeDtypeStruct((1, 10**9), jnp.float32),))


def test_small_generations_and_the_opt_out_skip_the_check(monkeypatch):
    def fail(device):
        raise AssertionError("memory was read")

    monkeypatch.setattr(memory, "available_bytes", fail)
    memory.check_generation_fits(4096, (jax.ShapeDtypeStruct((4096, 10_000), jnp.float32),))  # 0.16 GB: unchecked
    monkeypatch.setenv(memory.SKIP_VARIABLE, "1")
    memory.check_generation_fits(64, (jax.ShapeDtypeStruct((64, 10**8), jnp.float32),))


def test_search_run_refuses_before_compiling_or_allocating(monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda device: 5 * 10**8)
    search = hj.Search(w=hj.float(-1, 1, shape=(10**7,)))
    traced = []
    with pytest.raises(ValueError, match="population_size=16 candidates of 0.04 GB"):
        search.run(lambda c: traced.append(1) or jnp.sum(c["w"]), "min", generations=2, population_size=16,
                   mode="jax", quiet=True, seed=0)
    assert not traced and search.best_f is None and len(search.history) == 0
    np.testing.assert_equal(memory.candidate_bytes(search.engine.value_shapes(16)), 4 * 10**7)
