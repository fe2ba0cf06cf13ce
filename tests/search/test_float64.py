"""float(..., dtype="float64"): float64 search coordinates and float64 score comparisons, under 64-bit JAX.

Each test turns `jax_enable_x64` on for its own duration only (the engine cache keys on it)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hopper_jax as hj
from hopper_jax.space.compile import Space
from hopper_jax.space.fingerprint import fingerprint

#: A minimum that float32 cannot hold: its coordinates sit between float32 neighbours.
TARGET = np.array([0.123456789012345, -0.5432109876543])


@pytest.fixture
def x64():
    jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", False)


def space(dtype: str) -> dict:
    return {"x": hj.float(-1, 1, shape=(2,), dtype=dtype), "y": hj.float(-1, 1, dtype=dtype)}


def python_loss(c: dict) -> float:
    return float(np.sum((c["x"] - TARGET) ** 2) + (c["y"] - 0.3) ** 2)


def jax_loss(c: dict) -> jax.Array:
    return jnp.sum((c["x"] - TARGET) ** 2) + (c["y"] - 0.3) ** 2


def test_float64_needs_64_bit_jax_and_says_how():
    with pytest.raises(ValueError, match="jax_enable_x64"):
        hj.Search(x=hj.float(0, 1, dtype="float64"))


@pytest.mark.parametrize("dtype", ["float16", "int32", "double precision"])
def test_an_unknown_coordinate_type_is_refused(dtype):
    with pytest.raises(ValueError, match="'float32'.*'float64'"):
        hj.float(0, 1, dtype=dtype)


@pytest.mark.parametrize("mode", ["python", "jax"])
def test_float64_coordinates_go_past_the_float32_floor(x64, mode):
    def best_f(dtype):
        search = hj.Search(space(dtype))
        if mode == "python":
            search.run(python_loss, "min", steps=3000, seed=0, quiet=True)
        else:
            search.run(jax_loss, "min", mode="jax", population_size=16, generations=300, seed=0, quiet=True)
        return search

    narrow, wide = best_f("float32"), best_f("float64")
    assert narrow.best_f > 1e-16  # float32 positions stop near 1e-7 of the range
    assert wide.best_f < 1e-22
    assert wide.best["x"].dtype == np.float64 and isinstance(wide.best["y"], float)
    assert narrow.best["x"].dtype == np.float32
    # the values the objective saw are the ones recorded: the best's loss is reproduced exactly
    assert python_loss(wide.best) == pytest.approx(wide.best_f, rel=1e-9, abs=1e-30)


def test_scores_compare_in_float64(x64):
    # 1e7 + x: float32 scores cannot tell apart values 1e-6 apart (their spacing there is 1); float64 can
    search = hj.Search(x=hj.float(0, 1, dtype="float64"))
    search.run(lambda c: 1e7 + c["x"], "min", steps=400, seed=0, quiet=True)
    fs = np.array(search.history.fs)
    assert search.best_f == fs.min()
    assert search.state.score.dtype == np.float64
    assert float(search.state.core.best_score) == -search.best_f  # the core kept the same best


def test_fingerprints_tell_apart_float64_values_equal_in_float32(x64):
    a = jnp.array([0.5], jnp.float64)
    b = a + 1e-12
    assert np.float32(a[0]) == np.float32(b[0])
    assert not np.array_equal(np.asarray(fingerprint((a,))), np.asarray(fingerprint((b,))))
    assert np.array_equal(np.asarray(fingerprint((a,))), np.asarray(fingerprint((a + 0.0,))))


def test_float64_is_part_of_the_space_signature(x64):
    assert Space(space("float32")).signature() != Space(space("float64")).signature()
    assert Space(space("float64")).score_dtype is np.float64
    assert Space(space("float32")).score_dtype is np.float64  # 64-bit JAX compares scores in float64


def test_scores_are_float32_without_64_bit_jax():
    assert Space(space("float32")).score_dtype is np.float32


@pytest.mark.parametrize("mode", ["python", "jax"])
def test_under_64_bit_jax_an_objective_with_a_large_offset_improves_below_float32_resolution(x64, mode):
    """float32 resolves 1e5 to 0.008: float32 scores would stop there (COCO's f_opt offsets reach 1000)."""
    offset = 1e5
    search = hj.Search(x=hj.float(-1, 1, shape=(2,)))
    if mode == "python":
        search.run(lambda c: offset + float(np.sum((c["x"] - 0.3) ** 2)), "min", steps=1500, seed=0, quiet=True)
    else:
        search.run(lambda c: offset + jnp.sum((c["x"] - 0.3) ** 2).astype(jnp.float64), "min", steps=1536, mode="jax",
                   population_size=16, seed=0, quiet=True)
    assert search.best_f - offset < 1e-6
    assert search.best_f == min(search.history.fs)  # the core's best is the history's


@pytest.mark.parametrize("mode", ["python", "jax"])
def test_a_float64_search_resumes_from_its_checkpoint(x64, tmp_path, mode):
    def run(steps):
        search = hj.Search(space("float64"))
        kwargs = {} if mode == "python" else {"mode": "jax", "population_size": 8}
        objective = python_loss if mode == "python" else jax_loss
        search.run(objective, "min", steps=steps, seed=0, quiet=True, checkpoint_path=tmp_path / "ck", **kwargs)
        return search

    first, resumed = run(200), run(400)
    assert len(resumed.history) == 400 and resumed.history.fs[:200] == first.history.fs  # went on from step 200
    assert resumed.state.score.dtype == np.float64
    assert resumed.best_f <= first.best_f
    assert float(resumed.state.core.best_score) == -resumed.best_f


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_internal_scores_keep_the_space_score_type_and_clip_infinities_to_its_range(dtype):
    from hopper_jax.search.state import scores_of

    limit = np.finfo(dtype).max
    one = scores_of(1e7 + 1e-6, "min", dtype)
    assert type(one) is dtype and one == dtype(-(1e7 + 1e-6))
    many = scores_of([float("inf"), float("-inf"), float("nan"), 2.0], "max", dtype)
    assert many.dtype == dtype
    assert list(many) == [limit, -limit, -np.inf, 2.0]
    assert scores_of(float("inf"), "min", dtype) == -limit  # the worst value, held as a value
