"""Checkpoints through Search.run: resume exactly after interruptions, damage, other spaces, save/load."""

import json
import os
import pathlib
import random
import subprocess
import sys
import time

import numpy as np
import pytest

import hopper_jax as hj
from hopper_jax.persistence import CorruptCheckpointWarning
from hopper_jax.persistence.store import JOURNAL, STATE

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import resume_child  # noqa: E402

CHILD = pathlib.Path(__file__).parent / "resume_child.py"


class Interrupt(BaseException):
    """Stands in for a kill: escapes the objective and the search like SIGKILL would (no cleanup counted)."""


def interrupted_after(n, objective):
    calls = [0]

    def wrapped(p):
        calls[0] += 1
        if calls[0] > n:
            raise Interrupt
        return objective(p)

    return wrapped


def fast_loss(p):
    return float(np.sum((p["w"] - 0.25) ** 2) + (p["n"] - 7) ** 2 / 100 + abs(np.log10(p["lr"]) + 2))


def run(search, objective, path, **kwargs):
    options = dict(steps=60, seed=3, quiet=True, checkpoint_path=path, checkpoint_interval=0.0)
    return search.run(objective, "min", **{**options, **kwargs})


def same_search(a, b):
    assert a.best_f == b.best_f and repr(a.best) == repr(b.best)
    assert a.history.fs == b.history.fs
    assert [r["status"] for r in a.history.records] == [r["status"] for r in b.history.records]
    assert [repr(c) for c in a.history.candidates] == [repr(c) for c in b.history.candidates]


@pytest.fixture(scope="module")
def reference():
    search = resume_child.space()
    search.run(fast_loss, "min", steps=60, seed=3, quiet=True)
    return search


@pytest.mark.parametrize("stop_after", [1, 17, 45])
def test_python_mode_resumes_exactly_after_an_interruption(tmp_path, reference, stop_after):
    with pytest.raises(Interrupt):
        run(resume_child.space(), interrupted_after(stop_after, fast_loss), tmp_path / "ck")
    resumed = resume_child.space()
    run(resumed, fast_loss, tmp_path / "ck")
    same_search(resumed, reference)


def test_a_torn_journal_line_and_a_corrupted_snapshot_still_resume_exactly(tmp_path, reference):
    with pytest.raises(Interrupt):
        run(resume_child.space(), interrupted_after(30, fast_loss), tmp_path / "ck")
    with open(tmp_path / "ck" / JOURNAL, "ab") as file:
        file.write(b'{"step": 31, "key": 12')
    newest = max(int(p.name) for p in (tmp_path / "ck" / STATE).iterdir() if p.name.isdigit())
    for path in (tmp_path / "ck" / STATE / str(newest)).rglob("*"):
        if path.is_file():
            path.write_bytes(b"\x00")
    resumed = resume_child.space()
    with pytest.warns(CorruptCheckpointWarning):
        run(resumed, fast_loss, tmp_path / "ck")
    same_search(resumed, reference)


def test_a_finished_run_is_not_run_again_and_a_larger_budget_goes_on(tmp_path, reference):
    first = resume_child.space()
    run(first, fast_loss, tmp_path / "ck")
    calls = []
    again = resume_child.space()
    run(again, lambda p: calls.append(p) or fast_loss(p), tmp_path / "ck")
    assert not calls
    same_search(again, reference)
    longer = resume_child.space()
    run(longer, fast_loss, tmp_path / "ck", steps=90)
    assert len(longer.history.records) > len(reference.history.records)
    assert longer.history.fs[: len(reference.history.fs)] == reference.history.fs


def test_overwrite_starts_afresh(tmp_path):
    run(resume_child.space(), fast_loss, tmp_path / "ck", steps=20)
    calls = []
    search = resume_child.space()
    run(search, lambda p: calls.append(p) or fast_loss(p), tmp_path / "ck", steps=20, overwrite_checkpoint=True)
    assert len(calls) == len(search.history.records) > 0


def test_a_checkpoint_of_another_space_is_refused_naming_the_difference(tmp_path):
    run(hj.Search(x=hj.float(0, 1), n=hj.int(0, 9)), lambda p: p["x"], tmp_path / "ck", steps=5)
    difference = r"'n' \(IntParameter\).*ub=9 in the checkpoint but 12 here.*overwrite_checkpoint"
    with pytest.raises(ValueError, match=difference):
        run(hj.Search(x=hj.float(0, 1), n=hj.int(0, 12)), lambda p: p["x"], tmp_path / "ck", steps=5)
    with pytest.raises(ValueError, match="mode="):
        run(hj.Search(x=hj.float(0, 1), n=hj.int(0, 9)), lambda p: p["x"], tmp_path / "ck", steps=5, mode="jax")


def test_save_and_load_carry_best_history_and_cache(tmp_path):
    search = resume_child.space()
    search.run(fast_loss, "min", steps=40, seed=1, quiet=True)
    path = search.save(tmp_path / "manual")
    loaded = resume_child.space().load(path)
    same_search(loaded, search)
    assert loaded.state.seen == search.state.seen and loaded.history.direction == "min"


def test_a_runtime_budget_resumes_with_the_time_left(tmp_path):
    def slow(p):
        time.sleep(0.02)
        return fast_loss(p)

    kwargs = dict(steps=None, runtime=4.0)
    with pytest.raises(Interrupt):
        run(resume_child.space(), interrupted_after(3, slow), tmp_path / "ck", **kwargs)
    journal = tmp_path / "ck" / JOURNAL
    used = json.loads(journal.read_text().splitlines()[-1])["elapsed"]  # budget seconds used before the kill
    count = len(journal.read_text().splitlines())
    run(resume_child.space(), slow, tmp_path / "ck", **kwargs)
    elapsed = [json.loads(line)["elapsed"] for line in journal.read_text().splitlines()[count:]]
    assert elapsed and min(elapsed) > used  # the resumed run's clock starts where the killed one stopped
    # the budget is checked before a candidate starts, so only the last one, in flight at the deadline, may end
    # after it (CI saw 4.0001 s)
    assert all(e <= 4.0 for e in elapsed[:-1]) and elapsed[-1] <= 4.25


def test_pruner_state_is_part_of_the_checkpoint(tmp_path):
    def estimates(p):
        for i in range(4):
            yield fast_loss(p) * (4 - i)

    pruner = hj.pruners.QuantilePruner(0.5, warmup=2)
    search = resume_child.space()
    run(search, estimates, tmp_path / "ck", pruner=pruner)
    assert search.history.count("pruned") > 0
    fresh = hj.pruners.QuantilePruner(0.5, warmup=2)
    run(resume_child.space(), estimates, tmp_path / "ck", pruner=fresh)  # finished: restores, evaluates nothing
    assert fresh.state_dict() == pruner.state_dict()


class StopAfterGenerations(hj.Callback):
    def __init__(self, n):
        self.left = n

    def on_generation_end(self, values, fs, infos):
        self.left -= 1
        if self.left == 0:
            raise Interrupt


def test_jax_mode_resumes_exactly(tmp_path):
    def jax_run(path, callbacks=None):
        search = resume_child.space()
        search.run(resume_child.jax_loss, "min", mode="jax", population_size=8, generations=12, seed=3,
                   quiet=True, checkpoint_path=path, checkpoint_interval=0.0, callbacks=callbacks)
        return search

    reference = jax_run(None)
    with pytest.raises(Interrupt):
        jax_run(tmp_path / "ck", StopAfterGenerations(5))
    same_search(jax_run(tmp_path / "ck"), reference)


KILLS = int(os.environ.get("HOPPER_JAX_TEST_KILLS", "3"))
#: The children's first kills: inside their own snapshot writes, the one before the run starts and a later one.
SELF_KILLS = ("@1", "@3")


@pytest.mark.parametrize("mode", ["jax", "pool"])
def test_sigkill_at_random_moments_then_resume_matches_an_uninterrupted_run(tmp_path, mode):
    """KILLS SIGKILLs, then the run finishes: equal to an uninterrupted one. The first two children kill
    themselves inside a snapshot write (the first, before the run starts, and the third); the others are
    killed by this test at random moments.

    Three in the suite (each restart imports JAX: about 5 s; HOPPER_JAX_TEST_KILLS=30 for more, with slower
    children so that their run outlasts the kills); benchmarks/bench_faults.py runs 30 at random moments."""
    expected = tmp_path / "expected.json"
    resume_child.main(mode, None, str(expected))
    result, rng, kills = tmp_path / "result.json", random.Random(mode), 0
    pace = min(1.0, (KILLS + 2) / 20)  # the paced run lasts longer than the kill windows (0.6 s at most each)
    while True:
        self_kill = SELF_KILLS[kills] if kills < len(SELF_KILLS) else "0"
        child = subprocess.Popen([sys.executable, str(CHILD), mode, str(tmp_path / "ck"), str(result), self_kill,
                                  str(pace)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        ready = child.stdout.readline().strip() == "ready"
        assert ready or self_kill == "@1", child.stderr.read()  # only a self-kill may stop it before it starts
        try:
            child.wait(timeout=rng.uniform(0.05, 0.6) if self_kill == "0" and kills < KILLS else 120)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        stderr = child.stderr.read()
        if self_kill != "0":
            assert child.returncode == -9, stderr  # it killed itself, inside a snapshot write
        assert child.returncode in (0, -9), stderr  # killed, or finished: never a crash on resume
        if child.returncode == 0:
            break
        kills += 1
    assert kills >= max(KILLS, len(SELF_KILLS))
    assert json.loads(result.read_text()) == json.loads(expected.read_text())
