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


def test_the_worst_infinity_is_recorded_as_a_value_in_jax_mode(tmp_path):
    def odd_k_diverges(c):
        return jnp.where(c["k"] % 2 == 1, jnp.inf, jnp.sum(c["x"] ** 2))

    search = make_search()
    search.run(odd_k_diverges, "min", generations=3, population_size=16, seed=0, mode="jax", quiet=True,
               checkpoint_path=str(tmp_path / "ckpt"))
    fs = np.asarray(search.history.fs)
    assert np.isinf(fs).any() and search.history.count("failed") == 0
    assert np.isfinite(search.best_f) and search.best_f == fs.min()
    resumed = make_search()  # the journal keeps the infinities (strict JSON has none)
    resumed.run(odd_k_diverges, "min", generations=3, population_size=16, seed=0, mode="jax", quiet=True,
                checkpoint_path=str(tmp_path / "ckpt"))
    np.testing.assert_array_equal(np.asarray(resumed.history.fs), fs)
    everywhere = make_search()
    everywhere.run(lambda c: jnp.inf + c["k"], "min", generations=2, population_size=8, seed=0, mode="jax",
                   quiet=True)
    first = everywhere.history.candidates[0]
    assert everywhere.best_f == np.inf and everywhere.best["k"] == first["k"]
    np.testing.assert_array_equal(everywhere.best["x"], first["x"])


def test_history_summarises_huge_arrays_but_best_keeps_them():
    search = hj.Search(w=hj.float(-1.0, 1.0, shape=(20_000,)))
    search.run(lambda c: jnp.sum(c["w"]), "max", generations=2, population_size=4, seed=0, mode="jax", quiet=True)
    assert all(isinstance(c["w"], hj.ArraySummary) and c["w"].shape == (20_000,) for c in search.history.candidates)
    assert search.best["w"].shape == (20_000,)


def test_duplicates_are_redrawn_on_the_device_and_never_evaluated_twice():
    search = hj.Search(n=hj.int(0, 4), act=hj.choice("relu", "tanh"))  # 10 candidates in all
    seen_rows = []

    class Count(hj.Callback):
        def on_generation_end(self, values, fs, infos):
            seen_rows.append(len(fs))

    search.run(lambda c: c["n"] * 1.0 + c["act"], "max", generations=10, population_size=4, seed=0, mode="jax",
               quiet=True, callbacks=Count())
    evaluated = [(c["n"], c["act"]) for c in search.history.candidates]
    assert len(evaluated) == len(set(evaluated)) == 10  # every candidate once, the duplicates skipped
    assert seen_rows == [4] * 10 and len(search.history.records) == 10
    assert search.best == {"n": 4, "act": "tanh"}


def test_the_best_is_the_cores_best_even_where_float32_cannot_tell_values_apart():
    """f = 1e7 + x: float32 scores tie where float64 values differ; the shell keeps what the core keeps."""
    for mode in ("python", "jax"):
        search = hj.Search(x=hj.float(0.0, 1.0, shape=(3,)))
        objective = (lambda c: 1e7 + float(np.sum(c["x"]))) if mode == "python" else (
            lambda c: jnp.float32(1e7) + jnp.sum(c["x"]))
        kwargs = dict(steps=64) if mode == "python" else dict(generations=8, population_size=8, mode="jax")
        search.run(objective, "max", seed=0, quiet=True, **kwargs)
        decoded = search.engine.decode_row(search.state.core.best)[0]
        np.testing.assert_array_equal(search.best["x"], decoded[0])
        assert float(search.state.core.best_score) == np.float32(search.best_f)
        first = next(r for r in search.history.records if np.array_equal(r["candidate"]["x"], search.best["x"]))
        assert first["f"] == search.best_f


def test_the_cores_best_is_the_candidate_that_scored_its_score_after_every_generation():
    """Duplicates are re-drawn on the device and row 0 may be the merged candidate: whatever row wins, the state
    keeps that row's encoding (a re-draw once swapped the merged row's encoding for another)."""
    search = make_search()
    mismatches = []

    class Check(hj.Callback):
        def on_generation_end(self, values, fs, infos):
            x, k = search.engine.decode_row(search.state.core.best)[0]
            value = float(sphere({"x": x, "k": k}))
            if abs(value + float(search.state.core.best_score)) > 1e-4 * max(1.0, value):
                mismatches.append((infos[0].step, value, -float(search.state.core.best_score)))

    search.run(sphere, "min", generations=40, population_size=32, seed=0, mode="jax", quiet=True, callbacks=Check())
    assert mismatches == []


def test_history_keeps_full_values_within_its_byte_budget_then_summaries():
    search = hj.Search(w=hj.float(-1.0, 1.0, shape=(100,)), s=hj.float(0.0, 1.0))
    search.history.max_bytes = 3 * 16 * 100 * 4  # three generations of 16 rows
    search.run(lambda c: jnp.sum(c["w"]) + c["s"], "max", generations=5, population_size=16, seed=0, mode="jax",
               quiet=True)
    candidates = search.history.candidates
    assert all(isinstance(candidates[i]["w"], np.ndarray) for i in range(48))
    assert all(isinstance(candidates[i]["w"], hj.ArraySummary) for i in range(48, len(candidates)))
    assert all(isinstance(c["s"], float) for c in candidates)  # scalars are always kept
    summary, full = candidates[60]["w"], search.history.records[60]
    assert summary.shape == (100,) and -1.0 <= summary.min <= summary.mean <= summary.max <= 1.0
    assert full["f"] == pytest.approx(summary.mean * 100 + full["candidate"]["s"], rel=1e-5)
    assert search.history.bytes_kept <= search.history.max_bytes
    assert search.best["w"].shape == (100,)


def test_per_candidate_dicts_are_built_only_for_callbacks_that_ask_for_them(monkeypatch):
    search = make_search()
    built = []
    to_python = search.space.to_python
    monkeypatch.setattr(search.space, "to_python", lambda *a: built.append(1) or to_python(*a))

    class GenerationsOnly(hj.Callback):
        def on_generation_end(self, values, fs, infos):
            self.last = (values["x"].shape, fs.shape, infos[3].step)

    only = GenerationsOnly()
    search.run(sphere, "min", generations=4, population_size=16, seed=0, mode="jax", quiet=True, callbacks=only)
    assert len(built) == 1 and only.last == ((16, 50), (16,), 3 * 16 + 3)  # 1: the best that run returns

    class PerCandidate(hj.Callback):
        def __init__(self):
            self.ends = 0

        def on_evaluate_end(self, candidate, f, info):
            self.ends += 1

    per = PerCandidate()
    search.run(sphere, "min", generations=2, population_size=16, seed=1, mode="jax", quiet=True, callbacks=per)
    assert per.ends == 32 and len(built) >= 32


def test_stop_from_a_generation_callback_books_the_generation_in_flight_and_ends():
    search = make_search()

    class StopAfterTwo(hj.Callback):
        def on_search_start(self, s):
            self.search, self.generations = s, 0

        def on_generation_end(self, values, fs, infos):
            self.generations += 1
            if self.generations == 2:
                self.search.stop()

    stopper = StopAfterTwo()
    search.run(sphere, "min", generations=50, population_size=8, seed=0, mode="jax", quiet=True, callbacks=stopper)
    assert 2 <= stopper.generations <= 3 and len(search.history.records) == 8 * stopper.generations
    decoded = search.engine.decode_row(search.state.core.best)[0]
    np.testing.assert_array_equal(search.best["x"], decoded[0])  # the state covers every booked generation


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
