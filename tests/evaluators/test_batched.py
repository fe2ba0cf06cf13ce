"""BatchedEvaluator with key-taking JAX objectives (one device; several devices: test_sharding.py)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hopper_jax as hj
from hopper_jax.evaluators import BatchedEvaluator, takes_key
from hopper_jax.noise import average_over_keys
from hopper_jax.space.compile import Space

SPACE = Space({"w": hj.float(-1.0, 1.0, shape=(3,)), "k": hj.int(0, 5)})


def noisy(candidate, key):
    return jnp.sum(candidate["w"]) + candidate["k"] + jax.random.normal(key)


def batched_noisy(population, key):
    return jnp.sum(population["w"], axis=1) + population["k"] + jax.vmap(jax.random.normal)(key)


@pytest.fixture(scope="module")
def values():
    z = (jax.random.uniform(jax.random.key(1), (6, 3)), jax.random.uniform(jax.random.key(2), (6,)))
    return jax.jit(jax.vmap(SPACE.decode))(z)


@pytest.fixture(scope="module")
def keys():
    return jax.random.split(jax.random.key(7), 6)


def expected(values, keys):
    """Row i's value computed alone with its own key."""
    return np.asarray([float(np.sum(values[0][i]) + values[1][i] + jax.random.normal(keys[i])) for i in range(6)])


def test_takes_key_reads_the_signature():
    assert takes_key(noisy) and takes_key(lambda c, *, key: 0.0) and takes_key(average_over_keys(noisy, 2))
    assert takes_key(jax.jit(noisy)) and takes_key(functools.partial(noisy))
    assert not takes_key(lambda c: 0.0) and not takes_key(lambda c, **kwargs: 0.0) and not takes_key(max)


@pytest.mark.parametrize("mode, objective", [("jax", noisy), ("jax-batched", batched_noisy)])
@pytest.mark.parametrize("chunk_size", [None, 4])
def test_each_row_gets_its_own_key(values, keys, mode, objective, chunk_size):
    evaluator = BatchedEvaluator(objective, SPACE, mode, chunk_size=chunk_size)
    assert evaluator.takes_key
    evaluator.check(values)
    evaluator.check(values, keys)
    np.testing.assert_allclose(evaluator(values, keys), expected(values, keys), rtol=1e-6)
    other = jax.random.split(jax.random.key(8), 6)
    assert not np.allclose(evaluator(values, other), evaluator(values, keys))  # the keys matter
    raw = jax.random.key_data(keys)  # raw uint32 key data is accepted too
    np.testing.assert_array_equal(evaluator(values, raw), evaluator(values, keys))


def test_missing_or_misshapen_keys_say_what_to_pass(values, keys):
    evaluator = BatchedEvaluator(noisy, SPACE, "jax")
    with pytest.raises(ValueError, match=r"keys=jax.random.split\(key, population_size\)"):
        evaluator(values)
    with pytest.raises(ValueError, match=r"shape \(6,\)"):
        evaluator(values, keys[:4])
    with pytest.raises(ValueError, match=r"shape \(6,\)"):
        evaluator(values, keys.reshape(2, 3))
    with pytest.raises(ValueError, match="rename"):
        BatchedEvaluator(noisy, SPACE, "jax", kwargs={"key": 1})


def test_keys_are_ignored_by_an_objective_without_a_key(values, keys):
    evaluator = BatchedEvaluator(lambda c: jnp.sum(c["w"]), SPACE, "jax")
    assert not evaluator.takes_key
    np.testing.assert_array_equal(evaluator(values, keys), evaluator(values))


def test_check_still_explains_shape_errors(values):
    with pytest.raises(ValueError, match="a scalar per candidate"):
        BatchedEvaluator(lambda c, key: c["w"] + jax.random.normal(key), SPACE, "jax").check(values)


def test_average_over_keys_is_compiled_once_and_reduces(values, keys):
    evaluator = BatchedEvaluator(average_over_keys(noisy, 64), SPACE, "jax")
    out = evaluator(values, keys)
    clean = np.asarray(jnp.sum(values[0], axis=1) + values[1])
    assert np.all(np.abs(out - clean) < 0.5) and not np.allclose(out, clean)  # the mean of 64 normals
    evaluator(values, jax.random.split(jax.random.key(9), 6))
    assert evaluator._compiled._cache_size() == 1


# ---- compile_ahead: the objective compiles in a background thread ---------------------------------------
def test_compile_ahead_gives_the_same_values_and_the_call_uses_its_executable(values, keys):
    plain = BatchedEvaluator(lambda c, key: noisy(c, key), SPACE, "jax")
    ahead = BatchedEvaluator(lambda c, key: noisy(c, key), SPACE, "jax")
    ahead.compile_ahead(jax.eval_shape(lambda: values))
    np.testing.assert_array_equal(ahead(values, keys), plain(values, keys))
    assert ahead._compiled._cache_size() == 0  # the background executable ran, jit compiled nothing
    assert plain._compiled._cache_size() == 1


def test_clear_forgets_built_objectives_after_their_compiles_finish(values, keys):
    from hopper_jax.evaluators import batched

    def objective(c, key):
        return noisy(c, key)

    first = BatchedEvaluator(objective, SPACE, "jax")
    first.compile_ahead(jax.eval_shape(lambda: values))
    assert BatchedEvaluator(objective, SPACE, "jax")._compiled is first._compiled  # shared until cleared
    batched.clear()
    again = BatchedEvaluator(objective, SPACE, "jax")
    assert again._compiled is not first._compiled and not again._ahead
    np.testing.assert_array_equal(again(values, keys), first(values, keys))


def test_compile_ahead_for_other_shapes_falls_back_to_jit(values, keys):
    evaluator = BatchedEvaluator(lambda c, key: noisy(c, key), SPACE, "jax")
    evaluator.compile_ahead(tuple(jax.ShapeDtypeStruct((4, *v.shape[1:]), v.dtype) for v in values))
    np.testing.assert_allclose(evaluator(values, keys), expected(values, keys), rtol=1e-6)
    assert evaluator._compiled._cache_size() == 1


def test_a_failing_compile_ahead_reports_its_error_at_the_call(values):
    def broken(candidate):
        raise RuntimeError("objective bug")

    evaluator = BatchedEvaluator(broken, SPACE, "jax")
    evaluator.compile_ahead(values)  # fails in its thread, silently
    with pytest.raises(RuntimeError, match="objective bug"):
        evaluator(values)


def test_a_second_run_of_the_same_objective_compiles_nothing_again():
    def objective(candidate):
        return jnp.sum(candidate["w"]) + candidate["k"]

    runs = []
    for _ in range(2):
        search = hj.Search(w=hj.float(-1.0, 1.0, shape=(3,)), k=hj.int(0, 5))
        search.run(objective, "max", generations=3, population_size=8, mode="jax", seed=0, quiet=True)
        runs.append(search.history.fs)
    evaluator = BatchedEvaluator(objective, Space(search._template), "jax")
    assert evaluator._ahead  # the executable compiled ahead in the first run is kept for the objective
    evaluator.compile_ahead(jax.eval_shape(lambda: tuple(np.zeros((8, *s), np.float32) for s in [(3,)])
                                           + (np.zeros(8, np.int32),)))
    assert len(evaluator._ahead) == 1  # nothing new started
    assert runs[0] == runs[1]


def test_a_second_evaluator_of_the_same_objective_checks_it_without_tracing_it_again(values):
    traces = []

    def objective(candidate):
        traces.append(1)  # runs once per trace, never per evaluation
        return jnp.sum(candidate["w"]) * candidate["k"]

    shapes = jax.eval_shape(lambda: values)
    first = BatchedEvaluator(objective, SPACE, "jax").check(shapes)
    traced = len(traces)
    second = BatchedEvaluator(objective, SPACE, "jax").check(shapes)
    assert traced >= 1 and len(traces) == traced
    assert first.shape == second.shape == (6,)
