"""The checkpoint directory: header, Orbax snapshots, damage, lazy import."""

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from hopper_jax.persistence import CheckpointStore, CorruptCheckpointWarning
from hopper_jax.persistence.store import KEEP, STATE


def tree(i):
    return {"a": np.full(4, i, np.float32), "b": [np.int32(i) * np.ones(2, np.int32)], "blob": np.zeros(3, np.uint8)}


def test_header_and_snapshots_round_trip_keeping_the_last_few(tmp_path):
    store = CheckpointStore(tmp_path / "ck")
    assert not store.exists
    store.create({"seed": 7})
    for step in range(5):
        store.save(step, tree(step), {"step": step, "best_f": None})
    store.close()
    store = CheckpointStore(tmp_path / "ck")
    assert store.exists and store.header() == {"seed": 7}
    step, restored, meta = store.restore()
    assert step == 4 and meta == {"step": 4, "best_f": None} and np.all(restored["a"] == 4)
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
