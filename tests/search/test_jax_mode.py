"""Search.run in JAX modes: batched evaluation, one compile per run, clear errors for untraceable code."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hopper_jax as hj

TARGET = jnp.linspace(-2.0, 2.0, 50)


def sphere(candidate):
    return jnp.sum((candidate["x"] - TARGET) ** 2) + 0.1 * candidate["k"]


def make_search():
    return hj.Search(x=hj.float(-5.0, 5.0, shape=(50,)), k=hj.int(0, 4), tag="const")


def test_jax_mode_compiles_the_objective_once_per_run():
    traces = []

    def counted(candidate):
        traces.append(1)
        return sphere(candidate)

    search = make_search()
    search.run(counted, "min", generations=12, population_size=16, seed=0, mode="jax", quiet=True)
    assert len(traces) == 1  # the check before the search and all 12 generations share one trace
    assert len(search.history) <= 12 * 16


def test_jax_mode_optimises_and_keeps_constants():
    search = make_search()
    initial = float(sphere({"x": jnp.zeros(50), "k": 2}))
    best = search.run(sphere, "min", generations=60, population_size=32, seed=0, mode="jax", quiet=True)
    assert search.best_f < 0.5 * initial
    assert best["tag"] == "const" and isinstance(best["k"], int) and best["x"].shape == (50,)
    assert search.history.records[0]["type"] == hj.CandidateType.INIT


def test_jax_mode_is_deterministic_and_batched_mode_matches():
    def batched(population):  # the user's own vmap over the array leaves (the constant stays out)
        return jax.vmap(lambda x, k: sphere({"x": x, "k": k}))(population["x"], population["k"])

    results = []
    for mode, objective in (("jax", sphere), ("jax", sphere), ("jax-batched", batched)):
        search = make_search()
        search.run(objective, "min", generations=5, population_size=8, seed=7, mode=mode, quiet=True)
        results.append((search.history.fs, search.best_f))
    assert results[0] == results[1]
    np.testing.assert_allclose(results[0][0], results[2][0], rtol=1e-5)


def test_steps_budget_not_multiple_of_population():
    search = make_search()
    search.run(sphere, "min", steps=50, population_size=16, seed=0, mode="jax", quiet=True)
    assert len(search.history.records) == 50


def test_untraceable_objective_fails_before_the_search():
    calls = []

    def python_only(candidate):
        calls.append(1)
        return float(candidate["x"][0])  # float() of a tracer

    search = make_search()
    with pytest.raises(ValueError, match="cannot be traced by JAX") as info:
        search.run(python_only, "min", steps=32, mode="jax", quiet=True)
    assert "mode='python'" in str(info.value)
    assert len(search.history.records) == 0


def test_wrong_output_shape_is_explained():
    search = make_search()
    with pytest.raises(ValueError, match="scalar per candidate"):
        search.run(lambda c: c["x"], "min", steps=32, mode="jax", quiet=True)
    with pytest.raises(ValueError, match=r"shape \(8,\)"):
        search.run(lambda p: p["x"].sum(), "min", steps=16, population_size=8, mode="jax-batched", quiet=True)


def test_string_choice_is_an_index_inside_jit_and_an_option_outside():
    search = hj.Search(act=hj.choice("relu", "tanh", "gelu"), scale=hj.choice(0.5, 1.0, 2.0))
    seen = []

    def objective(c):
        seen.append((c["act"].dtype, c["scale"].dtype))
        return jnp.where(c["act"] == 2, 1.0, 0.0) + c["scale"]

    best = search.run(objective, "max", generations=4, population_size=8, seed=0, mode="jax", quiet=True)
    assert seen[0] == (jnp.int32, jnp.float32)
    assert best == {"act": "gelu", "scale": 2.0}


def test_nan_rows_fail_clearly_or_are_skipped():
    def half_nan(c):
        return jnp.where(c["k"] % 2 == 1, jnp.nan, jnp.sum(c["x"] ** 2))

    with pytest.raises(ValueError, match="NaN"):
        make_search().run(half_nan, "min", generations=3, population_size=16, seed=0, mode="jax", quiet=True)
    search = make_search()
    search.run(half_nan, "min", generations=3, population_size=16, seed=0, mode="jax", quiet=True, ignore_nans=True)
    assert search.history.count("failed") > 0 and all(c["k"] % 2 == 0 for c in search.history.candidates)


def test_history_summarises_huge_arrays_but_best_keeps_them():
    search = hj.Search(w=hj.float(-1.0, 1.0, shape=(20_000,)))
    search.run(lambda c: jnp.sum(c["w"]), "max", generations=2, population_size=4, seed=0, mode="jax", quiet=True)
    assert all(isinstance(c["w"], hj.ArraySummary) and c["w"].shape == (20_000,) for c in search.history.candidates)
    assert search.best["w"].shape == (20_000,)


def test_duplicate_rows_are_replaced_by_a_mask_compiled_once_per_shape():
    from hopper_jax.search.search import Search, _take_rows

    current = ({"a": jnp.zeros((5, 2))}, jnp.zeros(5, jnp.int32))
    hot = ({"a": jnp.ones((5, 2))}, jnp.arange(5, dtype=jnp.int32) + 10)
    before = _take_rows._cache_size()
    for rows in ([1, 3], [0], [0, 1, 2, 4]):  # any number of rows: the same program
        replaced = Search._replace_rows(rows, current, hot)
        expected = np.isin(np.arange(5), rows)
        np.testing.assert_array_equal(np.asarray(replaced[0]["a"]), np.repeat(expected[:, None], 2, 1).astype(float))
        np.testing.assert_array_equal(np.asarray(replaced[1]), np.where(expected, np.arange(5) + 10, 0))
    assert _take_rows._cache_size() == before + 1


def test_queued_guesses_fill_the_first_rows_of_the_first_generation():
    search = make_search()
    guesses = [{"x": np.full(50, 1.5, np.float32), "k": 3}, {"k": 1}]  # the second takes x from the best
    for guess in guesses:
        search += guess
    search.run(sphere, "min", generations=2, population_size=8, seed=0, mode="jax", quiet=True)
    records, candidates = search.history.records, search.history.candidates
    assert [r["type"] for r in records[:3]] == [hj.CandidateType.MANUALLY_ADDED] * 2 + [hj.CandidateType.RANDOM_SEEDING]
    np.testing.assert_allclose(candidates[0]["x"], guesses[0]["x"], rtol=1e-6)  # through the unit encoding
    np.testing.assert_array_equal(candidates[1]["x"], np.zeros(50))  # the initial best's x
    assert candidates[0]["k"] == 3 and candidates[1]["k"] == 1
    for i in range(2):  # each queued row was scored as the objective scores its values
        assert search.history.fs[i] == pytest.approx(float(sphere(candidates[i])), rel=1e-6)
