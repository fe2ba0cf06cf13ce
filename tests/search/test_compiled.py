"""Tests for hopper_jax.search.compiled: jitted functions shared by searches over equal spaces."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import hopper_jax as hj
from hopper_jax.search import compiled as compiled_module


def template(ub: float = 1.0) -> dict:
    return {"x": hj.float(0.0, ub, shape=(3,)), "n": hj.int(0, 9), "act": hj.choice("relu", "tanh")}


def loss(p):
    return jnp.sum((p["x"] - 0.3) ** 2) + (p["n"] - 4) ** 2


def run(search: hj.Search) -> list[float]:
    search.run(loss, "min", mode="jax", population_size=8, generations=4, seed=1, quiet=True)
    return search.history.fs


def test_equal_spaces_share_functions_and_do_not_compile_them_again():
    first, second = hj.Search(template()), hj.Search(template())
    assert first.engine.compiled() is second.engine.compiled()
    run(first)
    functions = first.engine.compiled()
    halves = (functions.tell_generation, functions.propose_generation)
    sizes = [half._cache_size() for half in halves]
    assert sizes == [1, 1]  # tell compiled ahead is the executable the later calls use: one each
    run(second)
    assert [half._cache_size() for half in halves] == sizes  # nothing new compiled
    assert second.history.fs == first.history.fs


def test_different_settings_get_their_own_functions_and_sharing_changes_no_result():
    wide = hj.Search(template(ub=2.0))
    assert wide.engine.compiled() is not hj.Search(template()).engine.compiled()
    run(hj.Search(template()))  # fill the cache with the narrow space first
    shared = run(wide)
    compiled_module._cache.clear()
    fresh = run(hj.Search(template(ub=2.0)))
    assert shared == fresh
    assert max(np.max(c["x"]) for c in wide.history.candidates) > 1.0  # the wide bounds were used


def test_the_cache_keeps_a_bounded_number_of_spaces():
    compiled_module._cache.clear()
    for ub in np.linspace(1.0, 2.0, compiled_module.CACHE_SIZE + 3):
        hj.Search(template(ub=float(ub))).engine.compiled()
    assert len(compiled_module._cache) == compiled_module.CACHE_SIZE


def test_another_schedule_is_another_entry():
    search = hj.Search(template())
    before = search.engine.compiled()
    search.run(loss, "min", mode="jax", population_size=8, generations=2, seed=0, quiet=True,
               start_temperature=0.5, end_temperature=0.1)
    assert search.engine.compiled() is not before


def test_quick_options_keep_what_this_jaxlib_knows_and_drop_the_rest(monkeypatch):
    known = compiled_module.quick_options()
    assert known and set(known) <= set(compiled_module.QUICK_OPTIONS)
    monkeypatch.setattr(compiled_module, "QUICK_OPTIONS", {**known, "xla_no_such_option_anywhere": True})
    compiled_module.quick_options.cache_clear()
    try:
        assert compiled_module.quick_options() == known
    finally:
        compiled_module.quick_options.cache_clear()


def test_a_new_search_compiles_nothing_until_its_best_is_read():
    from jax import monitoring

    compiles = []

    def listener(event, duration, **_):
        if event.endswith("backend_compile_duration"):
            compiles.append(event)

    monitoring.register_event_duration_secs_listener(listener)
    try:
        search = hj.Search({"lr": hj.float(1e-4, 1e-1, log=True, init=1e-2), "n": hj.int(3, 17, init=5)})
        assert compiles == []  # the initial values are decoded on first read, not when the search is built
        assert search.best["n"] == 5 and search.best["lr"] == pytest.approx(1e-2, rel=1e-5)
    finally:
        monitoring.unregister_event_duration_listener(listener)


@pytest.mark.parametrize("seed", [0, 1, 12345, 2**31 - 1, 2**31, 2**33 + 7, -1])
def test_seed_key_is_jax_random_key(seed):
    key = compiled_module.seed_key(seed)
    assert key.dtype == jax.random.key(0).dtype
    np.testing.assert_array_equal(jax.random.key_data(key), jax.random.key_data(jax.random.key(seed)))


def test_schedule_identity_follows_the_computation_not_the_object():
    identity = compiled_module.schedule_identity
    cosine = identity(optax.cosine_decay_schedule(1.0, 1, alpha=0.2))
    assert cosine == identity(optax.cosine_decay_schedule(1.0, 1, alpha=0.2))  # another object, same function
    assert cosine != identity(optax.cosine_decay_schedule(1.0, 1, alpha=0.1))
    assert identity((1.0, 0.2)) == ("linear", 1.0, 0.2) != identity(optax.linear_schedule(1.0, 0.2, 1))
    table = np.linspace(1.0, 0.0, 5, dtype=np.float32)  # a closed-over array is part of the identity
    assert identity(lambda p: table[0] * p) != identity(lambda p: table[::-1][0] * p)


def test_searches_with_equal_schedule_functions_share_their_compiled_functions():
    def search_with(alpha):
        search = hj.Search(template())
        search.engine.reschedule(optax.cosine_decay_schedule(1.0, 1, alpha=alpha))
        return search.engine.compiled()

    assert search_with(0.2) is search_with(0.2)
    assert search_with(0.2) is not search_with(0.3)


def test_an_untraceable_schedule_is_refused_with_advice():
    with pytest.raises(ValueError, match="optax.cosine_decay_schedule"):
        hj.Search(template()).run(loss, "min", mode="jax", population_size=8, generations=2, quiet=True,
                                  temperature_schedule=lambda p: 1.0 if p < 0.5 else 0.2)
