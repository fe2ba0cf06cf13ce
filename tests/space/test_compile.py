"""Tests for hopper_jax.space.compile (Space) and hopper_jax.space.fingerprint."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import hopper_jax as hj
from hopper_jax.space.compile import Space
from hopper_jax.space.fingerprint import as_int, fingerprint


def host(values):
    return tuple(np.asarray(v) for v in values)


def initial_python(space: Space):
    return space.to_python(host(space.decode(space.initial_encoding())), space.initial_objects())


# ---------------------------------------------------------------------------------------------------------------
# template traversal, constants, tuples


def make_template():
    constant_array = np.arange(5)
    inner_tuple = (hj.int(0, 5), "x")
    template = {
        "lr": hj.float(1e-4, 1e-1, log=True),
        "layers": [hj.int(1, 4), {"units": hj.int(8, 64, multiple_of=8)}, "relu"],
        "data": constant_array,
        "pair": inner_tuple,
        "nothing": None,
        "opt": hj.choice("sgd", {"name": "adam", "b1": hj.float(0.8, 0.99)}),
    }
    return template, constant_array, inner_tuple


def test_leaves_in_traversal_order_with_paths():
    template, _, _ = make_template()
    space = Space(template)
    assert [leaf.path for leaf in space.leaves] == [
        ("lr",), ("layers", 0), ("layers", 1, "units"), ("opt",), ("opt", 1, "b1")]
    assert space.size == 5
    assert space.array_leaves == [0, 1, 2, 3, 4]
    assert not space.host_driven
    assert space.has_conditions
    assert space.leaf_index(template["opt"]) == 3
    assert space.array_size == 5


def test_constants_pass_through_verbatim_and_tuples_are_not_traversed():
    template, constant_array, inner_tuple = make_template()
    space = Space(template)
    value = initial_python(space)
    assert value["data"] is constant_array
    assert value["pair"] is inner_tuple  # the Parameter inside stays a Parameter object
    assert isinstance(value["pair"][0], hj.Parameter)
    assert value["nothing"] is None
    assert value["layers"][2] == "relu"
    assert value["lr"] == pytest.approx(np.sqrt(1e-4 * 1e-1), rel=1e-6)
    assert value["layers"][0] == 2 and isinstance(value["layers"][0], int)
    assert value["layers"][1] == {"units": 32}
    assert value["opt"] == "sgd"
    assert isinstance(value["lr"], float)
    # the template is not modified
    assert isinstance(template["lr"], hj.Parameter)


def test_conditional_choice_leaves_conditions_and_active_flags():
    template, _, _ = make_template()
    space = Space(template)
    assert space.leaves[4].conditions == ((3, 1),)
    assert all(leaf.conditions == () for leaf in space.leaves[:4])
    encoded = list(space.initial_encoding())
    flags = np.asarray(space.active(tuple(encoded)))
    assert flags.tolist() == [True, True, True, True, False]  # "sgd": b1 is inactive
    encoded[3] = np.int32(1)
    flags = np.asarray(space.active(tuple(encoded)))
    assert flags.tolist() == [True] * 5


def test_to_python_builds_the_chosen_option_subtree():
    template, _, _ = make_template()
    space = Space(template)
    encoded = list(space.initial_encoding())
    encoded[3] = np.int32(1)  # adam
    encoded[4] = np.float32(1.0)  # b1 at its upper bound
    value = space.to_python(host(space.decode(tuple(encoded))), {})
    assert value["opt"]["name"] == "adam"
    assert set(value["opt"]) == {"name", "b1"}
    assert value["opt"]["b1"] == pytest.approx(0.99, rel=1e-6)
    assert value["opt"] is not template["opt"].options[1]  # a fresh dict, the option is untouched
    assert isinstance(template["opt"].options[1]["b1"], hj.Parameter)


def test_nested_conditional_choices():
    inner = hj.choice("relu", {"kind": "leaky", "slope": hj.float(0.0, 0.5)})
    space = Space({"act": hj.choice("none", {"inner": inner})})
    assert [leaf.path for leaf in space.leaves] == [("act",), ("act", 1, "inner"), ("act", 1, "inner", 1, "slope")]
    assert space.leaves[2].conditions == ((0, 1), (1, 1))
    encoded = [np.int32(1), np.int32(1), np.float32(0.5)]
    assert np.asarray(space.active(tuple(encoded))).tolist() == [True, True, True]
    value = space.to_python(host(space.decode(tuple(encoded))), {})
    assert value == {"act": {"inner": {"kind": "leaky", "slope": 0.25}}}
    encoded[0] = np.int32(0)
    assert np.asarray(space.active(tuple(encoded))).tolist() == [True, False, False]
    assert space.to_python(host(space.decode(tuple(encoded))), {}) == {"act": "none"}


def test_choice_with_parameter_option():
    space = Space({"x": hj.choice("const", hj.int(0, 10), ["nested", hj.int(-10, 0)])})
    assert [leaf.path for leaf in space.leaves] == [("x",), ("x", 1), ("x", 2, 1)]
    values = [np.int32(1), np.int32(7), np.int32(3)]
    assert space.to_python(host(space.decode(tuple(values))), {}) == {"x": 7}
    values[0] = np.int32(2)
    assert space.to_python(host(space.decode(tuple(values))), {}) == {"x": ["nested", -7]}


def test_to_python_scalar_and_array_types():
    space = Space({"f": hj.float(0, 1, init=0.3), "i": hj.int(0, 10, init=7), "a": hj.float(0, 1, shape=(3,)),
                   "ia": hj.int(0, 4, shape=(2,))})
    value = initial_python(space)
    assert value["f"] == 0.3 and type(value["f"]) is float
    assert value["i"] == 7 and type(value["i"]) is int
    assert isinstance(value["a"], np.ndarray) and value["a"].shape == (3,)
    assert value["ia"].dtype == np.int64 and value["ia"].tolist() == [2, 2]


@pytest.mark.parametrize(
    ("param", "expected"),
    [(hj.choice(16, 32, 64, init=32), 32), (hj.choice(16, 32, 64, init=64), 64), (hj.bool(False), False),
     (hj.bool(True), True), (hj.choice(0.25, 2.5, 7.5, init_index=2), 7.5), (hj.choice("a", "b", init="b"), "b")],
)
def test_to_python_choice_returns_the_chosen_option(param, expected):
    # decode gives a numeric choice's *value* (so that it appears as a value inside jit); to_python must map
    # it back to the option, not use it as an index
    value = initial_python(Space({"c": param}))["c"]
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(
    "param",
    [hj.float(-0.5, 0.5, precision=1, init=-0.5), hj.float(-2, 0, precision=0, init=-2.0),
     hj.float(-1.25, 3, precision=2, init=-1.25)],
)
def test_negative_lower_bound_on_the_grid_round_trips(param):
    # the lower bound itself is a grid value and must stay reachable
    assert initial_python(Space({"x": param}))["x"] == float(param.init)


def test_log_grid_value_round_trips_as_the_short_decimal():
    # PyHopper formats with "{:.1g}", so the objective sees 0.3, not 0.30000000000000004
    assert initial_python(Space({"x": hj.float(0.1, 1.0, fmt="0.1g", init=0.3)}))["x"] == 0.3
    assert initial_python(Space({"x": hj.float(1e-3, 1.0, fmt="0.2g", init=0.0026)}))["x"] == 0.0026


@pytest.mark.parametrize(("lb", "ub", "log"), [(0.0, 0.123456789, False), (0.987654321, 3.3, False),
                                               (0.987654321, 3.3, True), (1e-5, 0.123456789, True)])
def test_scalar_python_floats_stay_inside_the_declared_bounds(lb, ub, log):
    # float32 rounding inside jit must not push the Python value past a bound the user declared
    space = Space({"x": hj.float(lb, ub, log=log)})
    for z in (0.0, 1.0):
        value = space.to_python(host(space.decode((np.float32(z),))), {})["x"]
        assert lb <= value <= ub, (z, value)


def test_bound_with_rounding_noise_and_precision_compiles():
    # 0.1 + 0.2 = 0.30000000000000004; the grid value 0.3 is accepted by grid_limits (relative tolerance)
    # and is the default init, so either the declaration is rejected or the space must work
    try:
        param = hj.float(0.1 + 0.2, 0.35, precision=1)
    except ValueError:
        return
    value = initial_python(Space({"x": param}))["x"]
    assert value == pytest.approx(0.3)


def test_custom_leaves_are_host_objects():
    custom = hj.custom(seeding_fn=lambda: "perm", mutation_fn=lambda v: v)
    space = Space({"x": hj.float(0, 1), "p": custom})
    assert space.leaves[1].encoding is None and space.host_driven
    assert space.array_leaves == [0]
    assert space.initial_objects() == {1: "perm"}
    assert initial_python(space)["p"] == "perm"
    hooked = Space({"x": hj.float(0, 1, seeding_fn=lambda: 0.5)})
    assert hooked.leaves[0].encoding is not None and hooked.host_driven


def test_same_parameter_object_twice_raises():
    p = hj.int(0, 1)
    with pytest.raises(ValueError, match="same parameter"):
        Space({"a": p, "b": p})
    with pytest.raises(ValueError, match="same parameter"):
        Space({"a": [p, {"c": p}]})


def test_equal_but_distinct_parameters_are_fine():
    space = Space({"a": hj.int(0, 1), "b": hj.int(0, 1)})
    assert space.size == 2


# ---------------------------------------------------------------------------------------------------------------
# jax_tree inside jit


def test_jax_tree_inside_jit_numeric_choice_is_value_string_choice_is_index():
    space = Space({"lr": hj.float(0, 1, init=0.25), "act": hj.choice("relu", "tanh", init="tanh"),
                   "width": hj.choice(16, 32, 64, init=32), "flag": hj.bool(False),
                   "nested": {"units": [hj.int(1, 9, init=3)]}, "name": "constant"})
    seen = []

    @jax.jit
    def evaluate(encoded):
        tree = space.jax_tree(space.decode(encoded))
        seen.append(tree["name"])
        return tree["lr"], tree["act"], tree["width"], tree["flag"], tree["nested"]["units"][0]

    lr, act, width, flag, units = evaluate(tuple(jnp.asarray(z) for z in space.initial_encoding()))
    assert float(lr) == 0.25
    assert int(act) == 1  # "tanh" is option 1
    assert int(width) == 32 and jnp.issubdtype(width.dtype, jnp.integer)
    assert bool(flag) is False
    assert int(units) == 3
    assert seen == ["constant"]


def test_jax_tree_float_choice_is_a_float():
    space = Space({"c": hj.choice(0.1, 0.2, init_index=1)})
    value = jax.jit(lambda e: space.jax_tree(space.decode(e))["c"])(tuple(space.initial_encoding()))
    assert float(value) == pytest.approx(0.2) and jnp.issubdtype(value.dtype, jnp.floating)


def test_jax_tree_rejects_custom_and_conditional_spaces():
    with pytest.raises(ValueError, match="python"):
        Space({"x": hj.custom(seeding_fn=lambda: 1)}).jax_tree(())
    space = Space({"x": hj.choice("a", {"b": hj.int(0, 3)})})
    with pytest.raises(ValueError, match="python"):
        space.jax_tree(space.decode(space.initial_encoding()))


# ---------------------------------------------------------------------------------------------------------------
# encode_leaf and project_leaf


def test_encode_leaf_errors_name_the_parameter_path():
    space = Space({"model": {"layers": [hj.int(0, 10), hj.float(0, 1, shape=(3,)), hj.choice("a", "b")]}})
    with pytest.raises(ValueError, match="model/layers/0") as info:
        space.encode_leaf(0, 11)
    assert "11" in str(info.value)
    with pytest.raises(ValueError, match="model/layers/1"):
        space.encode_leaf(1, [0.5, 2.0, 0.5])
    with pytest.raises(ValueError, match="model/layers/1"):
        space.encode_leaf(1, np.zeros(4))
    with pytest.raises(ValueError, match="model/layers/1"):
        space.encode_leaf(1, "half")
    with pytest.raises(ValueError, match="model/layers/2") as info:
        space.encode_leaf(2, "c")
    assert "'c'" in str(info.value)


def test_encode_leaf_off_grid_int_raises():
    space = Space({"n": hj.int(0, 64, multiple_of=8), "p": hj.int(1, 64, power_of=2)})
    with pytest.raises(ValueError, match="'n'"):
        space.encode_leaf(0, 12)
    with pytest.raises(ValueError, match="'p'"):
        space.encode_leaf(1, 12)
    assert int(space.encode_leaf(0, 16)) == 2
    assert int(space.encode_leaf(1, 16)) == 4


def test_encode_leaf_valid_values_round_trip():
    space = Space({"f": hj.float(-2, 2), "c": hj.choice("x", "y", "z"), "i": hj.int(-5, 5, shape=(2,))})
    encoded = (space.encode_leaf(0, 1.0), space.encode_leaf(1, "z"), space.encode_leaf(2, [-5, 4]))
    value = space.to_python(host(space.decode(encoded)), {})
    assert value["f"] == 1.0 and value["c"] == "z" and value["i"].tolist() == [-5, 4]


def test_project_leaf_moves_values_onto_the_space():
    space = Space({"f": hj.float(0, 1), "i": hj.int(0, 100, multiple_of=10), "p": hj.int(1, 64, power_of=2),
                   "c": hj.choice("a", "b", "c"), "u": hj.float()})
    decode = lambda i, z: np.asarray(space.leaves[i].encoding.decode(jnp.asarray(z)))  # noqa: E731
    assert float(decode(0, space.project_leaf(0, 3.0))) == 1.0
    assert float(decode(0, space.project_leaf(0, -3.0))) == 0.0
    assert int(decode(1, space.project_leaf(1, 37))) == 40
    assert int(decode(1, space.project_leaf(1, 1000))) == 100
    assert int(decode(2, space.project_leaf(2, 30))) == 32
    assert int(decode(2, space.project_leaf(2, 0))) == 1
    assert int(space.project_leaf(3, 7)) == 2
    assert int(space.project_leaf(3, -1)) == 0
    assert float(decode(4, space.project_leaf(4, 123.5))) == 123.5


# ---------------------------------------------------------------------------------------------------------------
# fingerprints

_fingerprint = jax.jit(fingerprint)
_fingerprint_masked = jax.jit(fingerprint)


def test_fingerprint_detects_one_changed_element_of_a_large_array():
    x = jnp.asarray(np.random.default_rng(0).normal(size=100_000), jnp.float32)
    base = np.asarray(_fingerprint((x,)))
    assert base.shape == (2,) and base.dtype == np.uint32
    for index in (0, 12_345, 99_999):
        changed = x.at[index].set(x[index] + 1e-3)
        assert not np.array_equal(np.asarray(_fingerprint((changed,))), base)
    nudged = x.at[500].set(jnp.nextafter(x[500], jnp.float32(np.inf)))  # one ulp
    assert not np.array_equal(np.asarray(_fingerprint((nudged,))), base)
    swapped = x.at[0].set(x[1]).at[1].set(x[0])  # same multiset, other positions
    assert not np.array_equal(np.asarray(_fingerprint((swapped,))), base)


def _reference_fingerprint(values, active=None):
    """The fingerprint's definition, leaf by leaf and lane by lane in numpy (uint32 arithmetic wraps)."""
    def mix(h):
        h = h ^ (h >> np.uint32(16))
        h = h * np.uint32(0x85EBCA6B)
        h = h ^ (h >> np.uint32(13))
        h = h * np.uint32(0xC2B2AE35)
        return h ^ (h >> np.uint32(16))

    def bits(value):
        value = np.asarray(value).reshape(-1)
        if value.dtype == bool:
            return value.astype(np.uint32)
        if value.dtype.kind == "f":
            return np.where(value == 0, np.float32(0), value.astype(np.float32)).view(np.uint32)
        return value.astype(np.int32).view(np.uint32)

    lanes = []
    with np.errstate(over="ignore"):
        for seed in (0x9E3779B1, 0x85EBCA77):
            total = np.uint32(0)
            for leaf, value in enumerate(values):
                b = bits(value)
                position = np.arange(b.shape[0], dtype=np.uint32)
                salt = mix(position * np.uint32(0x27D4EB2F) + np.uint32(seed) + np.uint32((leaf * 0x165667B1) % 2**32))
                leaf_hash = mix(np.uint32(np.sum(mix(b ^ salt), dtype=np.uint64) % 2**32) + np.uint32(leaf))
                if active is None or active[leaf]:
                    total = total + leaf_hash
            lanes.append(total)
    return np.asarray(lanes, np.uint32)


def test_fingerprint_matches_its_leaf_by_leaf_definition_for_small_and_large_leaves():
    # small leaves are hashed in one concatenated block, large ones alone: the value must not depend on that
    rng = np.random.default_rng(7)
    shapes = [(), (3,), (64,), (65,), (2, 40), (), (1000,), (5,)]
    values = tuple(jnp.asarray(v) for v in (
        [rng.normal(size=s).astype(np.float32) for s in shapes[:3]]
        + [rng.integers(-9, 9, size=shapes[3]).astype(np.int32), rng.random(size=shapes[4]) < 0.5]
        + [np.float32(-0.0), rng.normal(size=shapes[6]).astype(np.float32), np.arange(5, dtype=np.int32)]))
    np.testing.assert_array_equal(np.asarray(_fingerprint(values)), _reference_fingerprint(values))
    active = np.asarray([True, False, True, True, False, True, True, False])
    np.testing.assert_array_equal(np.asarray(_fingerprint_masked(values, jnp.asarray(active))),
                                  _reference_fingerprint(values, active))
    assert not np.array_equal(np.asarray(_fingerprint(values)), np.asarray(_fingerprint_masked(values, active)))


def test_fingerprint_equal_for_equal_values():
    a = np.random.default_rng(1).normal(size=100_000).astype(np.float32)
    first = np.asarray(_fingerprint((jnp.asarray(a),)))
    second = np.asarray(_fingerprint((jnp.asarray(a.copy()),)))
    np.testing.assert_array_equal(first, second)
    assert as_int(first) == as_int(second)


def test_fingerprint_negative_zero_equals_zero_inside_jit():
    # documented: -0.0 and 0.0 are the same value (a grid value rounded from below decodes to -0.0)
    zero = np.asarray(_fingerprint((jnp.zeros(100_000, jnp.float32),)))
    negative_zero = np.asarray(_fingerprint((-jnp.zeros(100_000, jnp.float32),)))
    np.testing.assert_array_equal(zero, negative_zero)


def test_fingerprint_depends_on_leaf_order():
    a, b = jnp.asarray([1.0, 2.0]), jnp.asarray([3.0, 4.0])
    assert not np.array_equal(np.asarray(fingerprint((a, b))), np.asarray(fingerprint((b, a))))


def test_fingerprint_ignores_inactive_leaves():
    choice_value = jnp.int32(0)
    active = jnp.asarray([True, False])
    one = np.asarray(_fingerprint_masked((choice_value, jnp.float32(0.1)), active))
    two = np.asarray(_fingerprint_masked((choice_value, jnp.float32(0.7)), active))
    np.testing.assert_array_equal(one, two)
    all_active = jnp.asarray([True, True])
    three = np.asarray(_fingerprint_masked((choice_value, jnp.float32(0.1)), all_active))
    four = np.asarray(_fingerprint_masked((choice_value, jnp.float32(0.7)), all_active))
    assert not np.array_equal(three, four)


def test_fingerprint_of_space_values_with_active_flags():
    space = Space({"opt": hj.choice("sgd", {"name": "adam", "b1": hj.float(0.8, 0.99)}), "lr": hj.float(0, 1)})
    encoded = list(space.initial_encoding())

    @jax.jit
    def fp(encoded):
        return fingerprint(space.decode(encoded), space.active(encoded))

    base = np.asarray(fp(tuple(encoded)))
    encoded[1] = np.float32(0.9)  # b1 changes while "sgd" is chosen
    np.testing.assert_array_equal(np.asarray(fp(tuple(encoded))), base)
    encoded[0] = np.int32(1)  # now b1 is active
    with_adam = np.asarray(fp(tuple(encoded)))
    assert not np.array_equal(with_adam, base)
    encoded[1] = np.float32(0.1)
    assert not np.array_equal(np.asarray(fp(tuple(encoded))), with_adam)


def test_fingerprint_int_and_bool_values():
    a = np.asarray(fingerprint((jnp.asarray([1, 2, 3], jnp.int32), jnp.asarray(True))))
    b = np.asarray(fingerprint((jnp.asarray([1, 2, 4], jnp.int32), jnp.asarray(True))))
    c = np.asarray(fingerprint((jnp.asarray([1, 2, 3], jnp.int32), jnp.asarray(False))))
    assert not np.array_equal(a, b) and not np.array_equal(a, c)


def test_a_space_of_many_parameters_fingerprints_and_runs():
    """Leaf indices >= 12 once overflowed the uint32 salt of the fingerprint."""
    template = {f"c{i}": hj.choice("a", "b", "c", "d") for i in range(20)}
    search = hj.Search(template)
    search.run(lambda p: sum(v == "b" for v in p.values()), "max", steps=30, seed=0, quiet=True)
    assert len(search.history.records) > 0 and search.best_f >= 1


def test_signature_is_equal_for_equal_spaces_and_differs_with_any_setting():
    def template(lb=0.0, levels=5, log=False):
        return {"x": hj.float(lb, 1.0, shape=(3,)), "c": hj.choice("a", {"y": hj.int(0, levels)}),
                "p": hj.float(1e-3, 1.0, log=log), "u": hj.float(), "i": hj.int(2, 64, power_of=2)}

    signature = Space(template()).signature()
    assert signature is not None and hash(signature) == hash(Space(template()).signature())
    assert signature == Space(template()).signature()
    for changed in (dict(lb=0.5), dict(levels=6), dict(log=True)):
        assert Space(template(**changed)).signature() != signature, changed
    renamed = Space({("z" if k == "x" else k): v for k, v in template().items()})
    assert renamed.signature() != signature


def test_signature_is_none_for_an_encoding_setting_it_cannot_compare():
    space = Space({"x": hj.float(0, 1)})
    space.leaves[0].encoding.unknown = object()
    assert space.signature() is None
