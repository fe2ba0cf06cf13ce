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


def test_forget_cached_and_clear_cache_let_candidates_be_evaluated_again():
    search = pyhopper.Search(x=pyhopper.choice(1, 2, 3))
    calls = []
    search.run(lambda c: calls.append(c["x"]) or c["x"], "max", steps=12, quiet=True, seed=0)
    assert sorted(calls) == [1, 2, 3]  # every other step was a duplicate
    search.forget_cached({"x": 2})
    search += {"x": 2}
    search += {"x": 1}
    search.run(lambda c: calls.append(c["x"]) or c["x"], "max", steps=2, quiet=True, seed=0)
    assert calls[3:] == [2]  # 2 was forgotten, 1 is still a duplicate
    search.clear_cache()
    search += {"x": 1}
    search.run(lambda c: calls.append(c["x"]) or c["x"], "max", steps=1, quiet=True, seed=0)
    assert calls[4:] == [1]


def test_save_and_load_carry_the_pruner_and_a_folder_gets_numbered_checkpoints(tmp_path):
    import pytest

    def objective(c):
        for i in range(3):
            yield c["x"] * i

    (tmp_path / "notes.txt").write_text("a folder that is not a checkpoint")
    search = pyhopper.Search(x=pyhopper.float(0, 1))
    pruner = pyhopper.pruners.QuantilePruner(50, warmup=1)
    search.run(objective, "max", steps=10, quiet=True, seed=0, pruner=pruner)
    first, second = search.save(tmp_path, pruner=pruner), search.save(tmp_path)
    assert (first, second) == (str(tmp_path / "pyhopper_run_00000.ckpt"), str(tmp_path / "pyhopper_run_00001.ckpt"))
    fresh = pyhopper.pruners.QuantilePruner(0.5, warmup=1)
    loaded = pyhopper.Search(x=pyhopper.float(0, 1)).load(first, pruner=fresh)
    assert fresh.state_dict() == pruner.state_dict() and loaded.best_f == search.best_f
    with pytest.raises(ValueError, match="is a file; hopper_jax checkpoints are directories"):
        pyhopper.Search(x=pyhopper.float(0, 1)).load(tmp_path / "notes.txt")


def test_a_resumed_run_says_it_was_restored_unless_quiet(tmp_path, capsys):
    path = tmp_path / "ck"
    pyhopper.Search(x=pyhopper.float(0, 1)).run(lambda c: c["x"], "max", steps=5, seed=0, checkpoint_path=path,
                                                quiet=True)
    pyhopper.Search(x=pyhopper.float(0, 1)).run(lambda c: c["x"], "max", steps=6, seed=0, checkpoint_path=path,
                                                quiet=True)
    assert "Restored" not in capsys.readouterr().out
    pyhopper.Search(x=pyhopper.float(0, 1)).run(lambda c: c["x"], "max", steps=7, seed=0, checkpoint_path=path)
    assert f"Restored search from checkpoint '{path}' (6 evaluations" in capsys.readouterr().out
