"""PyHopper programs, written from PyHopper's public docs, run unchanged through `import hopper_jax as pyhopper`.

Each program is the text a PyHopper user would write. Where it needs no worker process it also runs under
PyHopper 1.2.3 itself (when installed, as in the `bench` extra), which shows it is a real PyHopper program;
the assertions at its end must hold under both libraries.
"""

from __future__ import annotations

import importlib.util
import textwrap

import pytest

PROGRAMS: dict[str, tuple[str, bool]] = {}  # name -> (program text, also a valid PyHopper 1.2.3 run)


def program(name: str, pyhopper_too: bool = True):
    def register(text: str) -> str:
        PROGRAMS[name] = (textwrap.dedent(text), pyhopper_too)
        return text

    return register


program("every parameter type and option")("""
    def objective(params):
        score = -(params["lr"] - 3e-3) ** 2 - (params["dropout"] - 0.25) ** 2
        score -= 0.01 * abs(params["layers"] - 3) + 0.001 * abs(params["width"] - 128)
        score += {"adam": 0.02, "sgd": 0.0, "rmsprop": 0.01}[params["opt"]]
        score += 0.01 * params["use_bn"] + 0.001 * params["batch"] / 64
        return score - 0.001 * float(np.sum((params["w"] - 0.5) ** 2)) - 0.001 * params["level"]

    search = pyhopper.Search(
        {"lr": pyhopper.float(1e-5, 1e-1, "0.1g"), "dropout": pyhopper.float(0, 0.5, "0.2f", init=0.1)},
        layers=pyhopper.int(1, 6),
        width=pyhopper.int(32, 512, power_of=2),
        batch=pyhopper.int(16, 128, multiple_of=16),
        opt=pyhopper.choice("adam", "sgd", "rmsprop", init_index=1),
        level=pyhopper.choice(1, 2, 3, is_ordinal=True),
        use_bn=pyhopper.bool(),
        w=pyhopper.float(0, 1, shape=(4,)),
        momentum=pyhopper.float(0.5, 0.99, log=True, precision=2),
        name="run-7",  # a constant passes through
    )
    best = search.run(objective, "max", steps=120, quiet=True)
    assert best["name"] == "run-7" and best["opt"] in ("adam", "sgd", "rmsprop")
    assert best["width"] in (32, 64, 128, 256, 512) and best["batch"] % 16 == 0
    assert 1 <= best["layers"] <= 6 and 1e-5 <= best["lr"] <= 1e-1 and np.shape(best["w"]) == (4,)
    assert search.best_f == max(search.history.fs) and len(search.history) <= 120
""")

program("a runtime budget as the third argument, and PyHopper's runtime strings")("""
    search = pyhopper.Search(x=pyhopper.float(-1, 1), y=pyhopper.float(-1, 1))
    search.run(lambda p: -(p["x"] ** 2 + p["y"] ** 2), "maximize", "2s", seeding_ratio=0.5, quiet=True)
    assert len(search.history) > 0 and search.best_f <= 0  # (a first compile may take most of the 2 s)
    assert pyhopper.parse_runtime("1h 30min") == 5400 and pyhopper.parse_runtime("1:30") == 90
""")

program("nested templates with lists, and guesses merged with the best")("""
    def objective(params):
        return -sum((layer["units"] - 64) ** 2 for layer in params["layers"]) - params["opt"]["lr"]

    search = pyhopper.Search(
        layers=[{"units": pyhopper.int(8, 128)}, {"units": pyhopper.int(8, 128)}],
        opt={"lr": pyhopper.float(0, 1), "kind": "adam"},
    )
    search += {"layers": [{"units": 64}, {"units": 64}]}
    search.enqueue({"opt": {"lr": 0.0}})
    assert search.manual_queue_count == 2
    best = search.run(objective, "max", steps=30, quiet=True)
    history = search.history  # the guesses come first, each merged with the best when it was queued
    assert history[0]["layers"][0]["units"] == 64 and history[0]["opt"]["lr"] == history[1]["opt"]["lr"] + 0.5
    assert history[1]["opt"]["lr"] == 0.0 and best["opt"]["kind"] == "adam"
    assert search.best_f >= max(history.fs[:2])
""")

program("minimising with NaNs ignored, and kwargs for the objective")("""
    def objective(params, offset):
        if params["x"] > 0.9:
            return float("nan")
        return (params["x"] - offset) ** 2

    search = pyhopper.Search(x=pyhopper.float(0, 1))
    best = search.run(objective, "minimize", steps=80, ignore_nans=True, kwargs={"offset": 0.5}, quiet=True)
    assert best["x"] <= 0.9 and search.best_f < 0.01
""")

program("a generator objective with a QuantilePruner given as a percentage")("""
    def objective(params):
        for epoch in range(5):
            yield params["x"] * (epoch + 1) / 5

    pruner = pyhopper.pruners.QuantilePruner(80)
    search = pyhopper.Search(x=pyhopper.float(0, 1))
    search.run(objective, "max", steps=60, pruner=pruner, quiet=True)
    assert 0 < len(search.history) < 60  # some runs were pruned
    assert search.best_f > 0.8
""")

program("pruning by hand: should_prune and PruneEvaluation, and TopKPruner")("""
    def objective(params):
        for epoch in range(4):
            estimate = params["x"] * (epoch + 1)
            if pyhopper.should_prune(estimate):
                raise pyhopper.PruneEvaluation()
        return estimate

    search = pyhopper.Search(x=pyhopper.float(0, 1))
    search.run(objective, "max", steps=50, pruner=pyhopper.pruners.TopKPruner(3), quiet=True)
    assert len(search.history) < 50 and search.best_f > 3.0
""")

program("callbacks with every hook PyHopper calls")("""
    class Recorder(pyhopper.callbacks.Callback):
        def __init__(self):
            self.events = []

        def on_search_start(self, search):
            self.events.append("start")

        def on_evaluate_start(self, candidate, info):
            self.events.append("evaluate")

        def on_evaluate_end(self, candidate, f, info):
            assert info.type in (pyhopper.CandidateType.INIT, pyhopper.CandidateType.RANDOM_SEEDING,
                                 pyhopper.CandidateType.LOCAL_SAMPLING)
            self.events.append("end")

        def on_new_best(self, new_best, f, info):
            self.events.append("best")

        def on_search_end(self):
            self.events.append("stop")

    recorder = Recorder()
    search = pyhopper.Search(x=pyhopper.float(0, 1))
    search.run(lambda p: p["x"], "max", steps=20, callbacks=[recorder], quiet=True)
    assert recorder.events[0] == "start" and recorder.events[-1] == "stop"
    assert recorder.events.count("end") == len(search.history) and "best" in recorder.events
""")

program("checkpoints: run(checkpoint_path=...), save and load")("""
    import os
    import tempfile

    folder = tempfile.mkdtemp()
    search = pyhopper.Search(x=pyhopper.float(0, 1))
    search.run(lambda p: p["x"], "max", steps=15, checkpoint_path=os.path.join(folder, "run.ckpt"), quiet=True)
    saved = search.save(folder)  # an existing folder gets a numbered checkpoint inside it
    again = pyhopper.Search(x=pyhopper.float(0, 1))
    again.load(saved)
    assert again.best_f == search.best_f and again.best == search.best
    again.run(lambda p: p["x"], "max", steps=5, quiet=True)
    assert again.best_f >= search.best_f
""")

program("a noisy objective averaged with wrap_n_times")("""
    import random

    def noisy(params):
        return -(params["x"] - 0.4) ** 2 + random.gauss(0, 1e-3)

    search = pyhopper.Search(x=pyhopper.float(0, 1))
    search.run(pyhopper.wrap_n_times(noisy, 4), "max", steps=40, quiet=True)
    assert abs(search.best["x"] - 0.4) < 0.2
""")

program("custom parameters: pyhopper.custom and a Parameter subclass")("""
    import random

    class Permutation(pyhopper.Parameter):
        def __init__(self, n):
            super().__init__(list(range(n)))
            self.n = n

        def sample(self):
            return random.sample(range(self.n), self.n)

        def mutate(self, value, temperature):
            value = list(value)
            i, j = random.sample(range(self.n), 2)
            value[i], value[j] = value[j], value[i]
            return value

    def objective(params):
        return -sum(abs(a - b) for a, b in zip(params["order"], range(5))) - abs(params["k"] - 7)

    search = pyhopper.Search(order=Permutation(5),
                             k=pyhopper.custom(seeding_fn=lambda: random.randint(0, 20),
                                               mutation_fn=lambda v: v + random.choice((-1, 1))))
    best = search.run(objective, "max", steps=150, quiet=True)
    assert sorted(best["order"]) == list(range(5)) and search.best_f >= -4
""")

program("the history: marginals, fs, best_fs and times")("""
    search = pyhopper.Search(x=pyhopper.float(0, 1), n=pyhopper.int(0, 9))
    search.run(lambda p: p["x"] + p["n"], "max", steps=25, quiet=True)
    history = search.history
    assert len(history["x"]) == len(history) == len(history.fs) == len(history.best_fs)
    assert history.best_fs == sorted(history.best_fs) and history.best_f == search.best_f
    assert list(history.steps) == list(range(len(history))) and history.seconds[-1] >= history.seconds[0]
""")

program("utilities: merge_dicts, store_dict and load_dict")("""
    import os
    import tempfile

    merged = pyhopper.merge_dicts({"a": 1}, {"b": pyhopper.float(0, 1)})
    search = pyhopper.Search(merged)
    search.run(lambda p: p["b"], "max", steps=10, quiet=True)
    path = os.path.join(tempfile.mkdtemp(), "best.pkl")
    pyhopper.store_dict(path, search.best)
    assert pyhopper.load_dict(path) == search.best
""")

program("a process pool: n_jobs=2", pyhopper_too=False)("""
    import time

    def objective(params):
        time.sleep(0.01)
        return -(params["x"] - 0.5) ** 2

    search = pyhopper.Search(x=pyhopper.float(0, 1))
    search.run(objective, "max", steps=20, n_jobs=2, quiet=True)
    # steps count skipped duplicates too (as in PyHopper): once phase 2 reaches x = 0.5 exactly, a move that
    # rounds back to it is a duplicate, so the history may hold a few candidates fewer than 20
    assert 10 <= len(search.history) <= 20 and search.best_f > -0.05
""")

program("freezing a parameter between runs with search[key] = value")("""
    search = pyhopper.Search(x=pyhopper.float(0, 1), y=pyhopper.float(0, 1))
    search.run(lambda p: p["x"] + p["y"], "max", steps=10, quiet=True)
    first = len(search.history)
    search["y"] = 0.5
    search.run(lambda p: p["x"] + p["y"], "max", steps=10, quiet=True)
    assert len(search.history) > first
    assert all(search.history[i]["y"] == 0.5 for i in range(first, len(search.history)))
""")


def run_program(text: str, library) -> dict:
    """Run a program (its own asserts check its results); return its namespace."""
    namespace = {"__name__": "pyhopper_program", "pyhopper": library, "np": __import__("numpy")}
    exec(compile(text, "<pyhopper program>", "exec"), namespace)  # noqa: S102 - our own program texts
    return namespace


def test_there_are_programs_for_each_documented_feature():
    assert len(PROGRAMS) >= 14


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_the_program_runs_with_hopper_jax(name):
    import hopper_jax

    search = run_program(PROGRAMS[name][0], hopper_jax)["search"]
    assert isinstance(search, hopper_jax.Search) and len(search.history) > 0 and search.best_f is not None


HAS_PYHOPPER = importlib.util.find_spec("pyhopper") is not None


@pytest.mark.skipif(not HAS_PYHOPPER, reason="PyHopper 1.2.3 comes with the bench extra")
@pytest.mark.parametrize("name", sorted(name for name, (_, too) in PROGRAMS.items() if too))
def test_the_program_is_a_pyhopper_program(name, capsys):
    import pyhopper

    search = run_program(PROGRAMS[name][0], pyhopper)["search"]
    assert isinstance(search, pyhopper.Search) and len(search.history) > 0 and search.best_f is not None
