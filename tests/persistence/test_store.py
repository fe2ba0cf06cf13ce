"""The checkpoint directory: header, Orbax snapshots, damage, lazy import."""

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from hopper_jax.persistence import CheckpointLocked, CheckpointStore, CorruptCheckpointWarning
from hopper_jax.persistence.store import HEADER as HEADER_FILE
from hopper_jax.persistence.store import KEEP, STATE


HEADER = {"format": 3, "seed": 7, "space": {}, "direction": "max"}


def tree(i):
    return {"a": np.full(4, i, np.float32), "b": [np.int32(i) * np.ones(2, np.int32)], "blob": np.zeros(3, np.uint8)}


def test_header_and_snapshots_round_trip_keeping_the_last_few(tmp_path):
    store = CheckpointStore(tmp_path / "ck")
    assert store.read_header() is None
    store.create(HEADER)
    for step in range(5):
        store.save(step, tree(step), {"step": step, "best_f": None})
    store.close()
    store = CheckpointStore(tmp_path / "ck")
    assert store.read_header() == HEADER
    step, restored, meta = store.restore()
    assert step == 4 and meta == {"step": 4, "best_f": None, "header": HEADER, "journal_records": 0}
    assert np.all(restored["a"] == 4)
    assert sorted(int(p) for p in os.listdir(tmp_path / "ck" / STATE) if p.isdigit()) == list(range(5 - KEEP, 5))


def test_a_file_path_is_refused_with_advice(tmp_path):
    (tmp_path / "x.ckpt").write_text("not ours")
    with pytest.raises(ValueError, match="directories"):
        CheckpointStore(tmp_path / "x.ckpt")


def test_a_corrupted_newest_snapshot_falls_back_to_the_previous_one(tmp_path):
    store = CheckpointStore(tmp_path / "ck")
    store.create({})
    store.save(1, tree(1), {"step": 1})
    store.save(2, tree(2), {"step": 2})
    store.close()
    for path in pathlib.Path(tmp_path / "ck" / STATE / "2").rglob("*"):
        if path.is_file():
            path.write_bytes(b"\x00garbage")
    with pytest.warns(CorruptCheckpointWarning, match="step 2"):
        step, restored, _ = CheckpointStore(tmp_path / "ck").restore()
    assert step == 1 and np.all(restored["a"] == 1)


def test_a_half_written_snapshot_is_ignored(tmp_path):
    store = CheckpointStore(tmp_path / "ck")
    store.create({})
    store.save(1, tree(1), {"step": 1})
    store.close()
    leftover = tmp_path / "ck" / STATE / "2.orbax-checkpoint-tmp-123"  # a save killed before its rename
    leftover.mkdir()
    (leftover / "partial").write_bytes(b"\x00" * 100)
    step, _, _ = CheckpointStore(tmp_path / "ck").restore()
    assert step == 1


def test_importing_hopper_jax_does_not_import_orbax():
    code = "import sys, hopper_jax; print('orbax' in ' '.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_a_second_writer_fails_at_once_naming_the_first_and_the_lock_dies_with_its_holder(tmp_path):
    first = CheckpointStore(tmp_path / "ck")
    first.lock()
    with pytest.raises(CheckpointLocked, match=f"process {os.getpid()}"):
        CheckpointStore(tmp_path / "ck").lock()
    first.close()
    second = CheckpointStore(tmp_path / "ck")
    second.lock()  # released by close
    second.close()
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from hopper_jax.persistence import "
                               "CheckpointStore; CheckpointStore(sys.argv[1]).lock(); print('locked', flush=True); "
                               "time.sleep(60)", str(tmp_path / "ck")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(CheckpointLocked, match=f"process {holder.pid}"):
            CheckpointStore(tmp_path / "ck").lock()
    finally:
        holder.kill()
        holder.wait()
    third = CheckpointStore(tmp_path / "ck")
    third.lock()  # a killed holder's lock is gone
    third.close()


def _saved_store(path, steps=2):
    store = CheckpointStore(path)
    store.create(HEADER)
    store.journal.append([{"step": i} for i in range(3)])
    for step in range(1, steps + 1):
        store.save(step, tree(step), {"step": step})
    store.close()


@pytest.mark.parametrize("damage", ["deleted", "garbage", "not a header"])
def test_a_lost_header_is_rebuilt_from_the_newest_snapshot(tmp_path, damage):
    _saved_store(tmp_path / "ck")
    header = tmp_path / "ck" / HEADER_FILE
    if damage == "deleted":
        header.unlink()
    else:
        header.write_text("{\x00 garbage" if damage == "garbage" else "[1, 2]")
    with pytest.warns(CorruptCheckpointWarning, match="rebuilt it from the snapshot of step 2"):
        assert CheckpointStore(tmp_path / "ck").read_header() == HEADER
    assert CheckpointStore(tmp_path / "ck").read_header() == HEADER  # written back: no second warning


def test_a_lost_header_without_a_snapshot_is_refused_and_nothing_is_deleted(tmp_path):
    _saved_store(tmp_path / "ck", steps=0)
    (tmp_path / "ck" / HEADER_FILE).unlink()
    with pytest.raises(ValueError, match="holds 3 journal records.*overwrite_checkpoint=True"):
        CheckpointStore(tmp_path / "ck").read_header()
    assert len(CheckpointStore(tmp_path / "ck").journal.read()) == 3
