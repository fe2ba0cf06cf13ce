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
