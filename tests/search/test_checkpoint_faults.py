"""Checkpoint faults through Search.run / load: data-only files, one writer, damage reported with its cost."""

import base64
import json
import os
import pathlib
import sys

import cloudpickle
import numpy as np
import pytest

import hopper_jax as hj
from hopper_jax.persistence import CheckpointLocked, CheckpointStore, CorruptCheckpointWarning, PickleNotAllowed
from hopper_jax.persistence.store import HEADER, JOURNAL

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import resume_child  # noqa: E402
from test_checkpointing import Interrupt, fast_loss, interrupted_after, run, same_search  # noqa: E402


class Planted:
    """Unpickling this creates `path`: the marker of code run from a checkpoint file."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.path),))


class Opaque:
    def __init__(self, value):
        self.value = value


def opaque_loss(p):
    return float(p["x"]) + p["o"].value


def opaque_space():
    return hj.Search(x=hj.float(0, 1), o=hj.custom(seeding_fn=lambda: Opaque(np.random.rand()),
                                                   mutation_fn=lambda o: Opaque(o.value / 2)))


def lines(path):
    return (path / JOURNAL).read_text().splitlines()


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished 60-step Python-mode checkpoint and the search that wrote it."""
    path = tmp_path_factory.mktemp("finished") / "ck"
    search = resume_child.space()
    run(search, fast_loss, path)
    return path, search


def copy_of(source, target):
    import shutil

    shutil.copytree(source, target)
    (target / "lock").unlink(missing_ok=True)
    return target


def test_values_that_need_pickling_are_refused_before_any_evaluation_unless_the_user_opts_in(tmp_path):
    calls = []
    with pytest.raises(PickleNotAllowed, match="allow_pickle=True"):
        run(opaque_space(), lambda p: calls.append(p) or opaque_loss(p), tmp_path / "ck", steps=10)
    assert not calls
    search = opaque_space()
    run(search, opaque_loss, tmp_path / "ck", steps=10, allow_pickle=True)
    with pytest.raises(PickleNotAllowed, match="run code"):
        opaque_space().load(tmp_path / "ck")
    loaded = opaque_space().load(tmp_path / "ck", allow_pickle=True)
    assert loaded.best_f == search.best_f and loaded.best["o"].value == search.best["o"].value


def test_a_planted_pickle_in_the_journal_runs_neither_on_load_nor_on_resume(tmp_path, finished):
    path = copy_of(finished[0], tmp_path / "ck")
    marker = tmp_path / "pwned"
    blob = base64.b64encode(cloudpickle.dumps(Planted(marker))).decode()
    with open(path / JOURNAL, "a") as file:
        file.write(json.dumps({"step": None, "key": None, "status": "ok", "f": 0.0, "type": 0, "temperature": None,
                               "at": 0.0, "elapsed": None, "seconds": 0.0, "error": None,
                               "candidate": {"w": {"__pickle__": blob}}}) + "\n")
    with pytest.raises(PickleNotAllowed):
        resume_child.space().load(path)
    with pytest.raises(PickleNotAllowed):
        run(resume_child.space(), fast_loss, path)
    assert not marker.exists()


def test_choices_of_objects_are_written_as_references_not_pickles(tmp_path):
    def loss(p):
        return float(p["act"](p["x"]))

    def space():
        return hj.Search(x=hj.float(-2, 2), act=hj.choice(np.tanh, np.sin, abs), cfg={"fn": np.cos, "k": 3})

    search = space()
    run(search, loss, tmp_path / "ck", steps=30)
    text = (tmp_path / "ck" / JOURNAL).read_text()
    assert "__ref__" in text and "__pickle__" not in text
    loaded = space().load(tmp_path / "ck")
    same_search(loaded, search)
    assert loaded.best["act"] is search.best["act"] and loaded.best["cfg"]["fn"] is np.cos


def test_a_second_run_on_a_checkpoint_in_use_fails_at_once_and_the_lock_is_freed_after_a_failure(tmp_path):
    holder = CheckpointStore(tmp_path / "ck")
    holder.lock()
    calls = []
    with pytest.raises(CheckpointLocked, match=f"process {os.getpid()}"):
        run(resume_child.space(), lambda p: calls.append(p) or fast_loss(p), tmp_path / "ck")
    assert not calls
    holder.close()
    with pytest.raises(Interrupt):
        run(resume_child.space(), interrupted_after(5, fast_loss), tmp_path / "ck")
    run(resume_child.space(), fast_loss, tmp_path / "ck")  # the interrupted run released its lock


def test_a_run_that_fails_before_its_first_evaluation_frees_the_lock(tmp_path):
    search = hj.Search(x=hj.float(-1, 1, shape=(3,)))
    with pytest.raises(ValueError, match="scalar"):  # a vector, not a scalar: refused before evaluating
        search.run(lambda p: p["x"] * 2, "min", mode="jax", population_size=4, generations=2,
                   checkpoint_path=tmp_path / "ck", quiet=True, seed=0)
    search.run(lambda p: (p["x"] ** 2).sum(), "min", mode="jax", population_size=4, generations=2,
               checkpoint_path=tmp_path / "ck", overwrite_checkpoint=True, quiet=True, seed=0)
    assert search.best is not None


def test_a_deleted_header_is_rebuilt_and_the_search_resumes_exactly(tmp_path, finished):
    with pytest.raises(Interrupt):
        run(resume_child.space(), interrupted_after(25, fast_loss), tmp_path / "ck")
    (tmp_path / "ck" / HEADER).unlink()
    resumed = resume_child.space()
    with pytest.warns(CorruptCheckpointWarning, match="rebuilt"):
        run(resumed, fast_loss, tmp_path / "ck")
    same_search(resumed, finished[1])


def test_a_truncated_or_deleted_journal_is_reported_with_the_number_of_records_lost(tmp_path, finished):
    path = copy_of(finished[0], tmp_path / "ck")
    kept = lines(path)[:20]
    (path / JOURNAL).write_text("\n".join(kept) + "\n")
    total = len(finished[1].history.records)
    with pytest.warns(CorruptCheckpointWarning, match=f"has 20 lines but held {total} .* {total - 20} evaluation"):
        loaded = resume_child.space().load(path)
    assert len(loaded.history.records) == 20 and loaded.best_f == finished[1].best_f
    (path / JOURNAL).unlink()
    with pytest.warns(CorruptCheckpointWarning, match=f"{total} evaluation records were lost"):
        resume_child.space().load(path)


def test_damaged_middle_records_are_skipped_and_counted_never_a_crash(tmp_path, finished):
    path = copy_of(finished[0], tmp_path / "ck")
    records = lines(path)
    records[10] = "\x00 not json"
    broken = json.loads(records[11])
    del broken["f"]
    records[11] = json.dumps(broken)
    odd = json.loads(records[12])
    odd["candidate"] = {"w": {"__b64__": "!!", "dtype": "<f4", "shape": [6]}}
    records[12] = json.dumps(odd)
    (path / JOURNAL).write_text("\n".join(records) + "\n")
    with pytest.warns(CorruptCheckpointWarning, match="skipped 3 damaged journal record"):
        loaded = resume_child.space().load(path)
    assert len(loaded.history.records) == len(finished[1].history.records) - 3


def test_a_damaged_header_without_a_snapshot_is_refused_with_advice_and_nothing_deleted(tmp_path, finished):
    path = copy_of(finished[0], tmp_path / "ck")
    import shutil

    shutil.rmtree(path / "state")
    (path / HEADER).write_text("{ damaged")
    before = lines(path)
    with pytest.raises(ValueError, match="search.json is damaged.*overwrite_checkpoint=True"):
        run(resume_child.space(), fast_loss, path)
    assert lines(path) == before
