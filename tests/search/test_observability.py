"""End to end through `Search.run`: pruners, noisy objectives, PRNG keys for JAX objectives, callbacks,
the built-in loggers, and the history, its statistics and plot after a real run.

Compiling a Search's jitted functions dominates the time of these tests (a few seconds per fresh Search on
a loaded 2-core CPU), so searches are reused where a test needs several runs, and one observed run (a
module fixture) feeds the callback, logger and history tests.
"""

import itertools
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from support import read_scalars

import hopper_jax as hj
from hopper_jax.pruners import QuantilePruner, TopKPruner


# ---- helpers ----------------------------------------------------------------------------------------------
def space():
    return hj.Search(x=hj.float(0.0, 1.0), y=hj.float(0.0, 1.0))


def stream(p):
    """The estimates a staged objective reports for candidate p: early ones follow y, the final one is x,
    so a candidate pruned early (low y) may have had the best final value (high x)."""
    x, y = p["x"], p["y"]
    return [0.25 * x + 0.75 * y, 0.5 * x + 0.5 * y, 0.75 * x + 0.25 * y, x]


def staged(p):
    """A generator objective: yields its estimates (module level, so worker processes can load it)."""
    yield from stream(p)


def reporting(p):
    """The same objective, written as a plain function reporting with hj.should_prune."""
    for estimate in stream(p):
        if hj.should_prune(estimate):
            raise hj.PruneEvaluation()
    return estimate


def replay(make_pruner, candidates, direction="max", lag=None):
    """The statuses a pruner gives to the full report streams of `candidates` fed by hand, in order.

    lag=None: each decision sees every earlier evaluation (in-process). lag=k: a pool of k workers, where
    evaluation j is decided by a snapshot of the pruner holding evaluations 0..j-k (told in step order).
    """
    learnt, statuses = [], []
    for j, candidate in enumerate(candidates):
        pruner = make_pruner()
        pruner.direction = direction
        for partial, pruned in learnt if lag is None else learnt[:max(0, j - lag + 1)]:
            pruner.append(partial, pruned)
        reported, pruned = [], False
        for estimate in stream(candidate):
            reported.append(estimate)
            if pruner.should_prune(list(reported)):
                pruned = True
                break
        learnt.append((reported, pruned))
        statuses.append("pruned" if pruned else "ok")
    return statuses


class Recorder(hj.Callback):
    """Every hook call as (hook, step, extra), in order."""

    def __init__(self):
        self.events = []

    def on_search_start(self, search):
        self.events.append(("search_start", None, search))

    def on_evaluate_start(self, candidate, info):
        self.events.append(("start", info.step, dict(candidate)))

    def on_evaluate_end(self, candidate, f, info):
        self.events.append(("end", info.step, f))

    def on_new_best(self, new_best, f, info):
        self.events.append(("new_best", info.step, f))

    def on_duplicate_sampled(self, candidate, info):
        self.events.append(("duplicate", info.step, None))

    def on_evaluate_pruned(self, candidate, info):
        self.events.append(("pruned", info.step, info.is_pruned))

    def on_evaluate_nan(self, candidate, info):
        self.events.append(("nan", info.step, (info.is_nan, info.error)))

    def on_generation_end(self, values, fs, infos):
        self.events.append(("generation_end", [info.step for info in infos], np.asarray(fs)))

    def on_search_end(self):  # no argument, as in PyHopper
        self.events.append(("search_end", None, None))

    def hooks(self, name):
        return [event for event in self.events if event[0] == name]


def rows(search, start=0):
    return [(r["step"], r["status"], r["f"], r["candidate"]) for r in search.history.records[start:]]


# ---- 1. pruning in Python mode ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def py_search():
    """One Python-mode search shared by the pruning and wrap_n_times tests (each compiles nothing new): every
    test does its own runs on it and looks only at the records of its runs."""
    return space()


def run_on(search, objective, **kwargs):
    """Run `objective` on `search` (maximising, quiet); return the records of this run."""
    start = len(search.history.records)
    search.run(objective, "max", quiet=True, **kwargs)
    return search.history.records[start:]


def test_quantile_pruner_generator_and_should_prune_decide_as_the_pruner_does_by_hand(py_search):
    def make():
        return QuantilePruner(0.5, warmup=3)

    recorder, search = Recorder(), py_search
    records = run_on(search, staged, steps=40, seed=0, pruner=make(), callbacks=[recorder])
    assert sum(r["status"] == "pruned" for r in records) > 0 and sum(r["status"] == "ok" for r in records) > 0
    assert [r["status"] for r in records] == replay(make, [r["candidate"] for r in records])  # fed by hand
    pruned = recorder.hooks("pruned")
    assert [step for _, step, _ in pruned] == [r["step"] for r in records if r["status"] == "pruned"]
    assert all(is_pruned for _, _, is_pruned in pruned)
    assert not {s for _, s, _ in pruned} & {s for _, s, _ in recorder.hooks("end")}
    # pruned candidates never become the best ...
    ok = [r for r in search.history.records if r["status"] == "ok"]
    assert search.best_f == max(r["f"] for r in ok) and search.best in [r["candidate"] for r in ok]
    assert all(r["f"] is None and r["candidate"] != search.best for r in search.history.pruned)
    # ... although a pruned one would have beaten a completed one: its early estimates, not its final value,
    # stopped it
    assert max(stream(r["candidate"])[-1] for r in records if r["status"] == "pruned") > \
        min(r["f"] for r in records if r["status"] == "ok")
    assert hj.should_prune(1.0) is False and hj.should_prune(-1e9) is False  # no pruner left behind

    # hj.should_prune + PruneEvaluation in a plain function: the same decisions as the generator's
    records = run_on(search, reporting, steps=40, seed=1, pruner=make())
    assert sum(r["status"] == "pruned" for r in records) > 0
    assert [r["status"] for r in records] == replay(make, [r["candidate"] for r in records])
    assert all(r["f"] == stream(r["candidate"])[-1] for r in records if r["status"] == "ok")
    assert hj.should_prune(1.0) is False


def test_topk_pruner_and_prune_evaluation_without_a_pruner(py_search):
    def make():
        return TopKPruner(3)

    search, pruner = py_search, make()
    records = run_on(search, staged, steps=40, seed=2, pruner=pruner)
    assert sum(r["status"] == "pruned" for r in records) > 0
    assert [r["status"] for r in records] == replay(make, [r["candidate"] for r in records])
    assert pruner.n == 4 and len(pruner.top) == 3
    assert sorted(run[-1] for run in pruner.top) == sorted(r["f"] for r in records if r["status"] == "ok")[-3:]
    assert hj.should_prune(1.0) is False

    seen, recorder = [], Recorder()

    def refuse_low_y(p):  # no pruner: should_prune records nothing and says no; PruneEvaluation still prunes
        seen.append(hj.should_prune(p["y"]))
        if p["y"] < 0.5:
            raise hj.PruneEvaluation()
        return p["x"]

    records = run_on(search, refuse_low_y, steps=20, seed=3, callbacks=recorder)
    assert seen and not any(seen)
    assert [r["status"] for r in records] == ["pruned" if r["candidate"]["y"] < 0.5 else "ok" for r in records]
    assert len(recorder.hooks("pruned")) == sum(r["status"] == "pruned" for r in records) > 0
    assert all(r["candidate"] != search.best for r in records if r["status"] == "pruned")


# ---- 2. pruning with a pool of worker processes ----------------------------------------------------------
def test_pool_pruning_is_deterministic_and_uses_the_pruner_as_of_submission():
    def make():
        return QuantilePruner(0.5, warmup=3)

    runs = []
    for _ in range(2):
        search = space()
        search.run(staged, "max", steps=40, seed=0, pruner=make(), n_jobs=2, quiet=True)
        runs.append(search)
    first, second = runs
    records = first.history.records
    assert first.history.count("pruned") > 0 and first.best_f is not None
    assert len(records) >= 20 and [r["step"] for r in records] == sorted(r["step"] for r in records)
    assert rows(first) == rows(second)  # same seed, same history, whatever the workers' timing
    # each worker decided from a snapshot taken at submission: evaluation j knew evaluations 0..j-2
    assert [r["status"] for r in records] == replay(make, [r["candidate"] for r in records], lag=2)


# ---- 3. JAX objectives report no estimates ---------------------------------------------------------------
@pytest.mark.parametrize("mode", ["jax", "jax-batched"])
def test_pruner_with_a_jax_objective_is_refused(mode):
    search = hj.Search(x=hj.float(0.0, 1.0))
    with pytest.raises(ValueError, match=r"mode='python'"):
        search.run(lambda c: c["x"], "max", steps=8, mode=mode, pruner=QuantilePruner(0.5), quiet=True)
    assert len(search.history.records) == 0


# ---- 4. wrap_n_times through Search.run ------------------------------------------------------------------
NOISE = (0.3, -0.1, -0.2)  # the i-th call's "noise": running means x+0.3, x+0.1, x+0


def test_wrap_n_times_records_the_mean_and_a_pruner_sees_the_running_means(py_search):
    calls = []

    def noisy(p, i):
        calls.append(i)
        return p["x"] + NOISE[i]

    records = run_on(py_search, hj.wrap_n_times(noisy, 3, pass_index_arg=True), steps=20, seed=10)
    assert records and calls == [0, 1, 2] * len(records)
    for record in records:
        x = record["candidate"]["x"]
        assert record["status"] == "ok" and record["f"] == float(np.mean([x + e for e in NOISE]))

    calls.clear()
    pruner = QuantilePruner(0.5, warmup=3)
    records = run_on(py_search, hj.wrap_n_times(noisy, 3, pass_index_arg=True), steps=30, seed=11, pruner=pruner)
    assert sum(r["status"] == "pruned" for r in records) > 0
    assert len(calls) < 3 * len(records)  # pruned candidates stopped after the first or second call
    assert pruner.n == 3 and len(pruner.pools[0]) == len(records)
    xs = [r["candidate"]["x"] for r in records]
    np.testing.assert_allclose(pruner.pools[0], [x + 0.3 for x in xs], atol=1e-12)  # first yields: one call
    full = [r["candidate"]["x"] for r in records if r["status"] == "ok"]
    np.testing.assert_allclose(pruner.pools[2], full, atol=1e-12)  # final yields: the mean of all three


# ---- 5. PRNG keys for JAX objectives ---------------------------------------------------------------------
TRACES = []


def noisy_sphere(candidate, key):
    TRACES.append(1)  # a Python side effect: runs once per trace
    return jnp.sum(candidate["x"] ** 2) + 0.5 * jax.random.normal(key)


@pytest.fixture(scope="module")
def jax_searches():
    """Three JAX-mode searches after one run of average_over_keys(noisy_sphere, 4): seeds 0, 0 and 1, with
    the number of traces of each run; the key test does second runs on them."""
    searches, traces, recorder = {}, {}, Recorder()
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        TRACES.clear()
        search = hj.Search(x=hj.float(-1.0, 1.0, shape=(4,)))
        search.run(hj.average_over_keys(noisy_sphere, 4), "min", generations=3, population_size=8, mode="jax",
                   seed=seed, quiet=True, callbacks=recorder if name == "a" else None)
        searches[name], traces[name] = search, len(TRACES)
    return searches, traces, recorder


def test_average_over_keys_compiles_once_and_is_reproducible(jax_searches):
    searches, traces, recorder = jax_searches
    assert traces == {"a": 1, "b": 1, "c": 1}  # the objective and its 4 repetitions: one trace per run
    a, b, c = ([(r["step"], r["f"], r["candidate"]["x"].tolist()) for r in searches[k].history.records[:24]]
               for k in "abc")
    # JAX mode: each new best right after the on_evaluate_end of the same candidate, each better than the last
    events = recorder.events
    bests = [(i, event) for i, event in enumerate(events) if event[0] == "new_best"]
    assert bests and all(events[i - 1][:2] == ("end", event[1]) for i, event in bests)
    fs = [event[2] for _, event in bests]
    assert all(earlier > later for earlier, later in itertools.pairwise(fs))
    assert bests[-1][1][2] == min(f for _, f, _ in a)
    assert [step for step, _, _ in a] == list(range(24)) and a == b  # same seed: the same history
    assert [f for _, f, _ in a] != [f for _, f, _ in c]  # another seed: other candidates, other noise
    noiseless = np.asarray([np.sum(np.asarray(x, np.float32) ** 2) for _, _, x in a])
    assert np.all(np.abs(np.asarray([f for _, f, _ in a]) - noiseless) > 1e-6)  # the noise is there


def uniform_of_key(candidate, key):
    return jax.random.uniform(key) + 0.0 * jnp.sum(candidate["x"])


def test_a_key_taking_objective_gets_a_key_per_row_from_seed_and_step_and_generation_callbacks(jax_searches):
    searches = jax_searches[0]
    recorder, callbacks = Recorder(), []
    callbacks.append(recorder)
    runs = {}
    for name, seed in (("a", 0), ("c", 0), ("b", 1)):  # a and c: the same seed, different bests and candidates
        search = searches[name]
        start = len(search.history.records)
        search.run(uniform_of_key, "min", generations=3, population_size=8, mode="jax", seed=seed, quiet=True,
                   callbacks=callbacks if name == "a" else None)
        runs[name] = search.history.records[start:]
    assert callbacks == [recorder]
    by_step = {r["step"]: r["f"] for r in runs["a"]}
    first = min(by_step)
    assert sorted(by_step) == list(range(first, first + 24))
    for generation in range(3):
        values = [by_step[first + 8 * generation + i] for i in range(8)]
        assert len(set(values)) == 8  # every row its own key
    assert [r["candidate"]["x"].tolist() for r in runs["a"]] != [r["candidate"]["x"].tolist() for r in runs["c"]]
    assert {r["step"]: r["f"] for r in runs["c"]} == by_step  # keys from the seed and the step only
    assert not {r["f"] for r in runs["b"]} & set(by_step.values())  # another seed, other keys

    # JAX mode: per-candidate hooks (start, end, new_best) fire once per candidate after its generation was
    # evaluated, in population order; on_generation_end fires once per generation with the batched values.
    events = recorder.events
    assert events[0][0] == "search_start" and events[-1][0] == "search_end"
    ends = [i for i, event in enumerate(events) if event[0] == "generation_end"]
    assert len(ends) == 3
    previous = 0
    for generation, end in enumerate(ends):
        steps, fs = events[end][1], events[end][2]
        assert steps == list(range(first + 8 * generation, first + 8 * generation + 8)) and fs.shape == (8,)
        np.testing.assert_array_equal(fs, [by_step[s] for s in steps])
        inside = events[previous:end]
        assert [e[1] for e in inside if e[0] == "start"] == steps == [e[1] for e in inside if e[0] == "end"]
        previous = end + 1
    for i, event in enumerate(events):
        if event[0] == "new_best":
            assert events[i - 1][:2] == ("end", event[1])


# ---- 6-8. one observed Python run: callbacks, loggers, history --------------------------------------------
def observed_objective(p):
    if p["n"] == 3:
        return float("nan")  # recorded as failed (ignore_nans=True)
    return -((p["x"] - 0.3) ** 2) - 0.05 * p["n"]


STEPS = 60


@pytest.fixture(scope="module")
def observed(tmp_path_factory):
    """A 60-step run (grid space: duplicates; n == 3: NaN) with a recorder and the three built-in loggers."""
    tmp = tmp_path_factory.mktemp("observed")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 wants a database unless told otherwise
        recorder = Recorder()
        loggers = [hj.loggers.JSONLinesLogger(tmp / "search.jsonl"), hj.loggers.TensorBoardLogger(tmp / "tb"),
                   hj.loggers.MLflowLogger("observed", tracking_uri=tmp / "mlruns")]
        callbacks = [recorder, *loggers]
        search = hj.Search(x=hj.float(-1.0, 1.0, "0.1f"), n=hj.int(0, 3))
        search.run(observed_objective, "max", steps=STEPS, seed=0, quiet=True, ignore_nans=True,
                   callbacks=callbacks)
        assert callbacks == [recorder, *loggers]  # the user's list is not mutated
        yield search, recorder, tmp


def test_callback_order_through_a_python_run(observed):
    search, recorder, _ = observed
    events = recorder.events
    assert events[0][0] == "search_start" and events[0][2] is search
    assert events[-1] == ("search_end", None, None) and len(recorder.hooks("search_end")) == 1
    records = search.history.records
    duplicates = recorder.hooks("duplicate")
    assert duplicates and len(records) + len(duplicates) == STEPS
    assert sorted([r["step"] for r in records] + [s for _, s, _ in duplicates]) == list(range(STEPS))
    nans = recorder.hooks("nan")
    assert nans and all(is_nan and error == "returned NaN" for _, _, (is_nan, error) in nans)
    assert [s for _, s, _ in nans] == [r["step"] for r in records if r["status"] == "failed"]
    # per evaluated candidate: start, then its end (or nan), then new_best if it improved; in step order
    body = [e for e in events[1:-1] if e[0] != "duplicate"]
    i, bests = 0, []
    for record in records:
        assert body[i][:2] == ("start", record["step"]) and body[i][2] == record["candidate"]
        outcome = body[i + 1]
        assert outcome[:2] == ("end" if record["status"] == "ok" else "nan", record["step"])
        i += 2
        if i < len(body) and body[i][0] == "new_best":
            assert body[i][1] == record["step"] and body[i][2] == record["f"]
            bests.append(record["f"])
            i += 1
    assert i == len(body)
    assert bests == sorted(set(search.history.best_fs)) and bests[-1] == search.best_f
    assert all(s not in {r["step"] for r in records} for _, s, _ in duplicates)  # no start for a duplicate


def test_on_search_end_fires_when_the_objective_raises():
    def broken(p):
        raise RuntimeError("boom")

    recorder = Recorder()
    with pytest.raises(RuntimeError, match="boom"):
        hj.Search(x=hj.float(0.0, 1.0)).run(broken, "max", steps=5, seed=0, quiet=True, callbacks=[recorder])
    assert [e[0] for e in recorder.events] == ["search_start", "start", "search_end"]


def test_loggers_through_a_python_run(observed):
    search, _, tmp = observed
    records, history = search.history.records, search.history
    lines = [json.loads(line) for line in (tmp / "search.jsonl").read_text().splitlines()]
    evaluations = [line for line in lines if line["event"] == "evaluation"]
    assert [(e["step"], e["status"], e["f"]) for e in evaluations] == \
        [(r["step"], r["status"], r["f"]) for r in records]
    assert [e["candidate"] for e in evaluations] == [r["candidate"] for r in records]
    assert lines[0]["event"] == "search_start" and lines[-1]["event"] == "search_end"
    assert sum(line["event"] == "duplicate" for line in lines) == STEPS - len(records)
    assert [line["f"] for line in lines if line["event"] == "new_best"][-1] == search.best_f

    scalars = read_scalars(tmp / "tb")
    ok = [(r["step"], r["f"]) for r in records if r["status"] == "ok"]
    assert [s for s, _ in scalars["sampled_f"]] == [s for s, _ in ok] and len(ok) == len(history)
    np.testing.assert_allclose([v for _, v in scalars["sampled_f"]], [f for _, f in ok], rtol=1e-6)
    assert scalars["best_f"][-1][1] == pytest.approx(search.best_f, rel=1e-6)

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=(tmp / "mlruns").as_uri())
    [run] = client.search_runs([client.get_experiment_by_name("observed").experiment_id])
    assert run.info.status == "FINISHED"
    sampled = sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, "sampled_f"))
    assert sampled == sorted(ok)
    best = sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, "best_f"))
    assert best[-1][1] == search.best_f


def test_history_after_a_real_run(observed, tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    search, _, _ = observed
    history = search.history
    records = history.records
    statistics = history.statistics()
    phases = [name for name in statistics if name != "total"]
    assert {"init", "random", "local"} <= set(phases)
    def count(s):
        return s["ok"] + s["failed"] + s["pruned"]

    assert sum(count(statistics[name]) for name in phases) == count(statistics["total"]) == len(records)
    assert statistics["total"]["ok"] == len(history) and statistics["total"]["failed"] > 0
    assert statistics["total"]["best_f"] == search.best_f
    frame = history.to_pandas()
    assert len(frame) == len(records) and list(frame["step"]) == [r["step"] for r in records]
    assert list(frame["status"]) == [r["status"] for r in records]

    path = tmp_path / "h.png"
    ax = hj.plots.plot_history(history, path=path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sum(len(c.get_offsets()) for c in ax.collections) == len(history)
