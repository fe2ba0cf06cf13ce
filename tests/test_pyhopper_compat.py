"""A PyHopper program runs unchanged with `import hopper_jax as pyhopper`."""

import numpy as np

import hopper_jax as pyhopper


def of(param, offset=0.0):
    score = -abs(param["lr"] - 3e-3) * 100 - abs(param["hidden_size"] - 256) / 256 - param["dropout_rate"]
    score += {"adam": 0.1, "rmsprop": 0.05, "sgd": 0.0}[param["opt"]] + float(np.sum(param["w"])) * 0.0
    return score + offset


def test_a_pyhopper_style_program_runs():
    search = pyhopper.Search(
        {
            "hidden_size": pyhopper.int(100, 500, multiple_of=4),
            "dropout_rate": pyhopper.float(0, 0.4, "0.2f"),
            "lr": pyhopper.float(1e-4, 1e-1, "0.1g"),
            "opt": pyhopper.choice("adam", "rmsprop", "sgd"),
            "use_bias": pyhopper.bool(),
            "w": pyhopper.float(-1, 1, shape=(3, 2)),
        },
        seed_constant=42,
    )
    search += {"lr": 1e-3, "opt": "adam"}
    best = search.run(of, "max", "8s", quiet=True, kwargs={"offset": 1.0}, seed=0)  # positional runtime
    assert search.best_f == of(best, 1.0)
    assert best["seed_constant"] == 42 and best["hidden_size"] % 4 == 0 and best["w"].shape == (3, 2)
    assert isinstance(best["use_bias"], bool) and best["opt"] in ("adam", "rmsprop", "sgd")
    assert round(best["dropout_rate"], 2) == best["dropout_rate"]
    assert len(search.history) > 3 and search.history["lr"][0] == 1e-3  # compiling takes ~2 s of the 8
    assert pyhopper.parse_runtime("1h 30min") == 5400


def test_an_init_outside_its_bounds_is_evaluated_as_given_and_the_search_goes_on_inside():
    import pytest

    with pytest.warns(UserWarning, match="init 2.5 for parameter 'x' lies outside its bounds"):
        search = pyhopper.Search(x=pyhopper.float(0, 1, init=2.5), n=pyhopper.int(0, 10, init=-3))
    seen = []
    search.run(lambda c: seen.append(dict(c)) or -abs(c["x"] - 0.9), "max", steps=30, quiet=True, seed=0)
    assert seen[0] == {"x": 2.5, "n": -3}  # as given, like PyHopper
    assert all(0 <= c["x"] <= 1 and 0 <= c["n"] <= 10 for c in seen[1:])  # then inside the bounds
    assert search.history.fs[0] == -1.6


def test_a_guess_outside_the_bounds_is_evaluated_as_given_with_a_warning():
    import pytest

    search = pyhopper.Search(x=pyhopper.float(0, 1), y=pyhopper.float(0, 1))
    with pytest.warns(UserWarning, match="guess 7.0 for parameter 'x' lies outside"):
        search += {"x": 7.0}
    seen = []
    search.run(lambda c: seen.append(dict(c)) or c["x"] + c["y"], "max", steps=5, quiet=True, seed=0)
    assert seen[0]["x"] == 7.0 and search.best["x"] == 7.0 and search.best_f == 7.0 + seen[0]["y"]
    assert all(0 <= c["x"] <= 1 for c in seen[1:])  # the core goes on from x placed at its upper bound
