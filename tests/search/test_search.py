"""Search.run in Python mode: PyHopper's behaviour, seeds, duplicates, guesses, errors, callbacks."""

import numpy as np
import pytest

import hopper_jax as hj
from hopper_jax.search.callbacks import CandidateType
from hopper_jax.search.booking import ObjectiveError


def space():
    return hj.Search(x=hj.float(-1, 1), n=hj.int(0, 10), act=hj.choice("relu", "tanh"), c="const")


def objective(p):
    return -(p["x"] - 0.3) ** 2 - (p["n"] - 7) ** 2 * 0.01 + (p["act"] == "tanh") * 0.1


def test_best_before_run_is_initial_values():
    search = space()
    assert search.best == {"x": 0.0, "n": 5, "act": "relu", "c": "const"}
    assert search.best_f is None
    assert search.free_param_count == 3


def test_run_improves_and_returns_best_dict():
    search = space()
    best = search.run(objective, "max", steps=150, seed=0, quiet=True)
    assert best is search.best
    assert search.best_f == pytest.approx(objective(best))
    assert search.best_f > objective({"x": 0.0, "n": 5, "act": "relu"})
    assert best["c"] == "const" and best["act"] == "tanh"
    assert search.history.best_f == search.best_f
    assert search.history.best_fs == sorted(search.history.best_fs)


def test_initial_guess_is_evaluated_first_and_steps_include_duplicates():
    search = space()
    search.run(objective, "max", steps=60, seed=1, quiet=True)
    records = search.history.records
    assert records[0]["type"] == CandidateType.INIT
    assert records[0]["candidate"] == {"x": 0.0, "n": 5, "act": "relu", "c": "const"}
    assert len(records) <= 60
    phases = search.history.phases
    assert phases[0] == "init" and "random" in phases and "local" in phases
    assert phases.index("local") > max(i for i, p in enumerate(phases) if p == "random")


def test_same_seed_same_candidates_and_different_seed_differs():
    runs = []
    for seed in (3, 3, 4):
        search = space()
        search.run(objective, "max", steps=40, seed=seed, quiet=True)
        runs.append([r["candidate"] for r in search.history.records])
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_duplicates_are_not_evaluated_twice():
    calls = []

    def f(p):
        calls.append((p["a"], p["b"]))
        return p["a"] + p["b"]

    search = hj.Search(a=hj.int(0, 2), b=hj.choice(0, 1))
    search.run(f, "max", steps=40, seed=0, quiet=True)
    assert len(calls) == len(set(calls)) <= 6
    assert search.best_f == 3


def test_manual_guesses_merge_with_best_and_run_first():
    search = space()
    search += {"x": 0.5}
    search.enqueue({"n": 9, "act": "tanh"})
    assert search.manual_queue_count == 2
    search.run(objective, "max", steps=5, seed=0, quiet=True)
    first, second = (r["candidate"] for r in search.history.records[:2])
    assert first == {"x": 0.5, "n": 5, "act": "relu", "c": "const"}
    assert second == {"x": 0.0, "n": 9, "act": "tanh", "c": "const"}
    assert search.history.records[0]["type"] == CandidateType.MANUALLY_ADDED


def test_bad_guesses_are_refused_at_enqueue():
    search = space()
    with pytest.raises(ValueError, match="'y'"):
        search += {"y": 1}
    with pytest.raises(ValueError, match="must be a number"):
        search += {"x": "five"}
    with pytest.raises(ValueError, match="options"):
        search += {"act": "gelu"}


def test_fixed_list_pattern_with_constant_placeholder():
    seen = []
    search = hj.Search(lr=None)
    for lr in (0.1, 0.01, 0.001):
        search += {"lr": lr}
    search.run(lambda p: seen.append(p["lr"]) or -abs(p["lr"] - 0.01), "max",
               steps=search.manual_queue_count, quiet=True)
    assert seen == [0.1, 0.01, 0.001]
    assert search.best == {"lr": 0.01}


@pytest.mark.parametrize("bad, problem", [(float("nan"), "NaN"), (None, "None"),
                                          (np.zeros(3), "shape"), ("high", "str")])
def test_unusable_values_raise_naming_candidate_and_value(bad, problem):
    search = space()
    with pytest.raises(ObjectiveError, match=problem) as info:
        search.run(lambda p: bad, "max", steps=3, seed=0, quiet=True)
    assert "candidate" in str(info.value) and "ignore_nans" in str(info.value)


def test_exception_keeps_type_and_search_survives():
    search = space()
    count = {"n": 0}

    def flaky(p):
        count["n"] += 1
        if count["n"] == 20:
            raise KeyError("boom")
        return objective(p)

    with pytest.raises(KeyError) as info:
        search.run(flaky, "max", steps=50, seed=0, quiet=True)
    assert any("candidate" in note for note in getattr(info.value, "__notes__", []))
    evaluated, best_f = len(search.history), search.best_f
    assert evaluated == 19 and best_f is not None
    search.run(objective, "max", steps=20, seed=0, quiet=True)
    assert len(search.history) > evaluated and search.best_f >= best_f


def test_ignore_nans_records_failures_and_goes_on():
    def sometimes_nan(p):
        if p["n"] % 2:
            return float("nan")
        if p["n"] == 4:
            raise RuntimeError("bad n")
        return objective(p)

    search = space()
    search.run(sometimes_nan, "max", steps=60, seed=0, quiet=True, ignore_nans=True)
    statuses = [r["status"] for r in search.history.records]
    assert "failed" in statuses and "ok" in statuses
    assert all(c["n"] % 2 == 0 and c["n"] != 4 for c in search.history.candidates)
    assert any("RuntimeError" in (r["error"] or "") for r in search.history.records)


def test_generator_objective_uses_last_yield():
    def gen(p):
        yield 0.0
        yield p["x"]

    search = hj.Search(x=hj.float(0, 1))
    search.run(gen, "max", steps=10, seed=0, quiet=True)
    assert search.best_f == pytest.approx(search.best["x"])


def test_quiet_prints_nothing(capsys):
    space().run(objective, "max", steps=10, seed=0, quiet=True)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_not_quiet_prints_schedule_and_summary(capsys):
    space().run(objective, "max", steps=10, seed=0)
    out = capsys.readouterr().out
    assert "Search is scheduled for 10 steps" in out and "Total" in out and "Initial solution" in out


def test_callbacks_fire_and_user_list_is_not_mutated():
    class Recorder(hj.Callback):
        def __init__(self):
            self.ends, self.bests, self.started, self.finished = 0, [], False, False

        def on_search_start(self, search):
            self.started = True

        def on_evaluate_end(self, candidate, f, info):
            self.ends += 1

        def on_new_best(self, new_best, f, info):
            self.bests.append(f)

        def on_search_end(self):
            self.finished = True

    recorder = Recorder()
    callbacks = [recorder]
    search = space()
    search.run(objective, "max", steps=30, seed=0, quiet=True, callbacks=callbacks)
    assert callbacks == [recorder]
    assert recorder.started and recorder.finished
    assert recorder.ends == len(search.history)
    assert recorder.bests == sorted(recorder.bests) and recorder.bests[-1] == search.best_f


@pytest.mark.parametrize("direction", ["max", "maximize", "maximise", "MAX"])
def test_direction_spellings(direction):
    search = hj.Search(x=hj.float(0, 1))
    search.run(lambda p: p["x"], direction, steps=5, seed=0, quiet=True)
    assert search.best_f == max(search.history.fs)


def test_minimize_and_bad_arguments():
    search = hj.Search(x=hj.float(0, 1))
    search.run(lambda p: p["x"], "min", steps=20, seed=0, quiet=True)
    assert search.best_f == min(search.history.fs)
    with pytest.raises(ValueError, match="direction"):
        search.run(lambda p: p["x"], "up", steps=5)
    with pytest.raises(ValueError, match="exactly one budget"):
        search.run(lambda p: p["x"], "min", steps=5, runtime=3)
    with pytest.raises(ValueError, match="exactly one budget"):
        search.run(lambda p: p["x"], "min")
    with pytest.raises(ValueError, match="steps"):
        search.run(lambda p: p["x"], "min", steps="5")
    with pytest.raises(ValueError, match="runtime"):
        search.run(lambda p: p["x"], "min", runtime="1 month")


def test_runtime_budget_stops_on_time():
    import time

    search = hj.Search(x=hj.float(0, 1))
    search.run(lambda p: p["x"], "max", steps=3, seed=0, quiet=True)  # compile outside the timing
    start = time.monotonic()
    search.run(lambda p: time.sleep(0.05) or p["x"], "max", runtime="1s", seed=1, quiet=True)
    assert 0.8 < time.monotonic() - start < 1.6


def test_setitem_freezes_a_parameter():
    search = space()
    search.run(objective, "max", steps=20, seed=0, quiet=True)
    search["n"] = 3
    assert search.free_param_count == 2
    search.run(objective, "max", steps=20, seed=1, quiet=True)
    assert all(c["n"] == 3 for c in search.history.candidates[-5:])


def test_custom_parameter_and_hooks():
    search = hj.Search(
        perm=hj.custom(seeding_fn=lambda: list(np.random.permutation(5)),
                       mutation_fn=lambda v: v[::-1]),
        k=hj.int(0, 100, mutation_fn=lambda v, t: v + 1000),  # projected back into the bounds
    )
    search.run(lambda p: float(p["perm"][0] + p["k"]), "max", steps=30, seed=0, quiet=True)
    assert all(sorted(c["perm"]) == [0, 1, 2, 3, 4] for c in search.history.candidates)
    assert all(0 <= c["k"] <= 100 for c in search.history.candidates)
    assert search.best["k"] == 100


@pytest.mark.parametrize("blocks", [(4, 32)])
def test_speculative_blocks_do_not_change_the_candidates(monkeypatch, blocks):
    """The sequential loop proposes several candidates per device call; the sequence must not depend on it."""
    from hopper_jax.search import python_source as run_module

    scales = 10.0 ** np.arange(5)  # ill-conditioned: the model fits, takes steps and teaches the shape

    def objective(p):
        return -float(np.sum(scales * (p["x"] - 0.3) ** 2)) - abs(p["n"] - 7)

    histories, models = [], []
    for size in blocks:
        monkeypatch.setattr(run_module, "block_size", lambda elements, size=size: size)
        search = hj.Search(x=hj.float(-1, 1, shape=(5,)), n=hj.int(0, 10))
        search.run(objective, "max", steps=400, seed=5, quiet=True)
        histories.append([(tuple(c["x"]), c["n"]) for c in search.history.candidates])
        models.append(bool(search.state.core.model_ok))
    assert histories[0] == histories[1]
    assert len(histories[0]) >= 300
    assert models[0]  # the last fit was positive definite: the model was taking steps


def test_speculative_blocks_do_not_change_the_candidates_across_a_restart(monkeypatch):
    """A flat objective fails every phase-2 move: the step falls to the floor and starts again (inside blocks)."""
    from hopper_jax.search import python_source as run_module

    histories = []
    for size in (1, 7):
        monkeypatch.setattr(run_module, "block_size", lambda elements, size=size: size)
        search = hj.Search(x=hj.float(-1, 1, shape=(3,)))
        search.run(lambda p: 1.0, "max", steps=400, seed=2, quiet=True)
        histories.append(np.stack([c["x"] for c in search.history.candidates]))
    np.testing.assert_array_equal(histories[0], histories[1])
    moves = np.abs(histories[0][101:] - histories[0][0]).max(axis=1)  # phase 2: moves away from the same best
    assert moves[:60].mean() > 100 * moves[220:239].mean()  # shrunk towards the floor ...
    assert moves[250:280].mean() > 100 * moves[220:239].mean()  # ... then full steps again


def test_block_size_shrinks_for_large_arrays():
    from hopper_jax.search.python_source import block_size

    assert block_size(10) == 64 and block_size(1000) == 64 and block_size(20_000) == 32
    assert block_size(100_000) == 8 and block_size(10**6) == 4 and block_size(10**7) == 4


def test_sample_solution_and_mutate_from_best():
    search = hj.Search(x=hj.float(0, 1, shape=(10,)), act=hj.choice("relu", "tanh"), c=1)
    samples = [search.sample_solution() for _ in range(3)]
    assert all(set(s) == {"x", "act", "c"} and s["c"] == 1 for s in samples)
    assert not np.array_equal(samples[0]["x"], samples[1]["x"])
    best_x = search.best["x"]
    cold = search.mutate_from_best(0.05)
    changed = np.sum(cold["x"] != best_x) + (cold["act"] != search.best["act"])
    assert changed == 1  # at a low temperature one parameter, and of an array one element, moves
    with pytest.raises(ValueError, match="temperature"):
        search.mutate_from_best(2.0)


def test_stop_from_a_callback_ends_the_run_cleanly():
    class StopAtTarget(hj.Callback):
        def on_search_start(self, search):
            self.search, self.ended = search, False

        def on_new_best(self, candidate, f, info):
            if f > 0.9:
                self.search.stop()

        def on_search_end(self):
            self.ended = True

    stopper = StopAtTarget()
    search = hj.Search(x=hj.float(0, 1))
    search.run(lambda p: p["x"], "max", steps=5000, seed=0, quiet=True, callbacks=[stopper])
    assert search.best_f > 0.9 and len(search.history.records) < 5000 and stopper.ended
    assert search.history.fs[-1] == search.best_f  # stopped right after the candidate that reached the target


@pytest.mark.parametrize("seed", ["abc", 1.5, [0]])
def test_a_seed_that_is_not_an_integer_gets_a_clear_error(seed):
    search = hj.Search(x=hj.float(0, 1))
    with pytest.raises(ValueError, match=r"is not an integer: pass e.g. seed=0"):
        search.run(lambda c: c["x"], "max", steps=2, seed=seed, quiet=True)


def test_a_seed_given_as_digits_is_read_as_that_integer():
    runs = []
    for seed in ("7", 7):
        search = hj.Search(x=hj.float(0, 1))
        search.run(lambda c: c["x"], "max", steps=5, seed=seed, quiet=True)
        runs.append(search.history.fs)
    assert runs[0] == runs[1]


@pytest.mark.parametrize("objective, mode", [(lambda: 1.0, "python"), (lambda a, b: 1.0, "python"),
                                             (lambda: 1.0, "jax"), (lambda c, key: 1.0, "python")])
def test_an_objective_that_cannot_take_a_candidate_is_refused_before_the_search(objective, mode):
    search = hj.Search(x=hj.float(0, 1))
    with pytest.raises(ValueError, match="cannot be called with a candidate"):
        search.run(objective, "max", steps=2, mode=mode, quiet=True)
    assert len(search.history) == 0


def test_objectives_with_kwargs_and_keys_are_accepted():
    search = hj.Search(x=hj.float(0, 1))
    search.run(lambda c, scale: c["x"] * scale, "max", steps=3, kwargs={"scale": 2.0}, quiet=True)
    search.run(lambda c, key: c["x"], "max", generations=1, population_size=4, mode="jax", quiet=True)
    assert len(search.history) == 7


def test_an_int_guess_that_is_not_an_integer_is_refused_like_an_init():
    search = hj.Search(n=hj.int(0, 10))
    with pytest.raises(ValueError, match="not an integer"):
        search += {"n": 2.7}
    with pytest.raises(ValueError, match="must be integers"):
        hj.int(0, 10, init=2.7)
    search += {"n": 3.0}  # an integral float is that integer
    search.run(lambda c: c["n"], "max", steps=1, quiet=True)
    assert search.history.records[0]["candidate"]["n"] == 3


def test_python_mode_warns_about_huge_candidates(monkeypatch):
    from hopper_jax.search import search as search_module

    monkeypatch.setattr(search_module, "LARGE_PYTHON_CANDIDATE", 100)
    search = hj.Search(w=hj.float(0, 1, shape=(101,)))
    with pytest.warns(UserWarning, match="mode='jax'"):
        search.run(lambda c: float(c["w"][0]), "max", steps=2, quiet=True)


def test_a_runtime_budget_used_up_before_any_evaluation_says_so():
    import time as time_module

    search = hj.Search(x=hj.float(0, 1))
    with pytest.warns(UserWarning, match="made no evaluation"):
        search.run(lambda c: time_module.sleep(0.5) or c["x"], "max", runtime=0.001, n_jobs=2, quiet=True)
    assert search.best_f is None


def test_phase_one_keeps_its_share_of_a_runtime_budget_after_start_up(monkeypatch):
    from hopper_jax.search import budget as budget_module

    class Clock:  # the budget's clock, moved by the objective alone: 1 s of start-up, then 1 ms per evaluation
        now = 100.0

        def monotonic(self):
            return self.now

    clock = Clock()
    monkeypatch.setattr(budget_module, "time", clock)

    def objective(c):
        clock.now += 0.001 if clock.now > 100.0 else 1.0
        return -sum((v - 0.3) ** 2 for v in c.values())

    search = hj.Search({k: hj.float(0, 1) for k in "abc"})
    search.run(objective, "max", runtime=3.0, quiet=True, seed=0)
    phases = [record["phase"] for record in search.history.records]
    assert 1500 <= len(phases) <= 2100  # 2 s after start-up, 1 ms each
    share = phases.count("random") / len(phases)
    # a quarter of the 2 s after start-up (1 s) is phase 1, in blocks; had start-up counted, phase 2 would
    # have started at 0.75 s, before the first evaluation, and phase 1 would end at once
    assert 0.2 <= share <= 0.35, share


def test_an_optax_schedule_sets_the_temperature_of_phase_two():
    import optax

    cosine = optax.cosine_decay_schedule(1.0, decay_steps=1, alpha=0.05)
    search = hj.Search(x=hj.float(-1, 1, shape=(8,)))  # room enough for few duplicates (hot retries)
    search.run(lambda p: -float(np.sum((p["x"] - 0.3) ** 2)), "max", steps=200, seed=3, quiet=True,
               temperature_schedule=cosine)
    records = [r for r in search.history.records if r["phase"] == "local" and r["temperature"] is not None]
    assert len(records) > 50
    steps = np.array([r["step"] for r in records], float)
    temperatures = np.array([r["temperature"] for r in records])
    # a hot retry after a duplicate may raise T; the cold ones follow the schedule at their progress
    expected = np.array([float(cosine(s / 200)) for s in steps])
    cold = temperatures <= expected + 1e-6
    assert cold.mean() > 0.9
    np.testing.assert_allclose(temperatures[cold], expected[cold], atol=2e-3)
    assert temperatures[cold].min() < 0.1  # the cosine reaches its end value, far below the linear 0.2


def test_a_schedule_and_start_end_temperatures_are_not_given_together():
    with pytest.raises(ValueError, match="replaces start_temperature"):
        space().run(objective, "max", steps=5, quiet=True, start_temperature=0.5,
                    temperature_schedule=lambda p: 1.0 - p)
    with pytest.raises(TypeError, match="function of progress"):
        space().run(objective, "max", steps=5, quiet=True, temperature_schedule=0.5)


def test_the_worst_infinity_is_an_ordinary_value_and_can_be_the_best(tmp_path):
    def diverges_above_half(p):  # a simulation that blows up for x > 0.5
        return float("inf") if p["x"] > 0.5 else (p["x"] + 0.3) ** 2

    search = space()
    search.run(diverges_above_half, "min", steps=80, seed=0, quiet=True, checkpoint_path=str(tmp_path))
    fs = search.history.fs
    assert float("inf") in fs and all(r["status"] == "ok" for r in search.history.records)
    assert search.best_f == pytest.approx(min(fs)) and search.best_f < 0.1
    resumed = space()  # the journal keeps the infinities (strict JSON has none)
    resumed.run(diverges_above_half, "min", steps=80, seed=0, quiet=True, checkpoint_path=str(tmp_path))
    assert resumed.history.fs == fs
    hopeless = space()
    hopeless.run(lambda p: float("-inf"), "max", steps=10, seed=0, quiet=True)
    assert hopeless.best_f == float("-inf") and hopeless.best == hopeless.history.candidates[0]


def test_an_infinitely_good_value_warns_and_stays_the_best():
    search = space()
    with pytest.warns(RuntimeWarning, match="no later value can beat it"):
        search.run(lambda p: float("-inf") if p["n"] == 3 else p["x"], "min", steps=60, seed=0, quiet=True)
    assert search.best_f == float("-inf") and search.best["n"] == 3
