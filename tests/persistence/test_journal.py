"""The append-only journal: JSON tags round-trip, torn and damaged lines, writes that do not grow."""

import os

import numpy as np
import pytest

from hopper_jax.persistence import Codec, Journal, PickleNotAllowed, from_json, to_json, unpack


class Opaque:
    def __init__(self, value):
        self.value = value

    def __eq__(self, other):
        return isinstance(other, Opaque) and other.value == self.value


def test_values_round_trip_with_their_types():
    value = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "n": np.int32(4), "t": (1, "a"),
             "f": [float("inf"), float("nan"), 0.5], "none": None, "b": True, "k": {3: "x", (1, 2): [4]}}
    back = from_json(to_json(value))
    assert back["w"].dtype == np.float32 and back["w"].shape == (2, 3) and np.array_equal(back["w"], value["w"])
    assert back["n"] == 4 and back["t"] == (1, "a") and back["b"] is True
    assert back["f"][0] == float("inf") and np.isnan(back["f"][1]) and back["none"] is None
    assert back["k"] == {3: "x", (1, 2): [4]}


def test_an_object_that_needs_pickling_is_refused_unless_the_codec_allows_it():
    with pytest.raises(PickleNotAllowed, match="allow_pickle=True"):
        to_json({"o": Opaque([1, 2])})
    pickled = Codec(allow_pickle=True).encode({"o": Opaque([1, 2])})
    assert Codec(allow_pickle=True).decode(pickled)["o"] == Opaque([1, 2])
    with pytest.raises(PickleNotAllowed, match="run code"):
        from_json(pickled)  # reading one needs the same opt-in


def test_declared_objects_are_written_as_references_and_resolved_when_read():
    option = Opaque("relu")
    codec = Codec({id(option): "act#1"}, {"act#1": option})
    encoded = codec.encode({"act": option})
    assert encoded == {"act": {"__ref__": "act#1"}} and codec.decode(encoded)["act"] is option
    with pytest.raises(ValueError, match="does not declare"):
        Codec().decode(encoded)


def test_a_packed_array_of_objects_is_refused():
    with pytest.raises(ValueError, match="not data"):
        unpack({"__b64__": "", "dtype": "|O", "shape": [0]})


def test_appends_are_read_back_in_order(tmp_path):
    journal = Journal(tmp_path / "j.jsonl")
    journal.append([{"step": 0}, {"step": 1}])
    journal.append([{"step": 2}])
    journal.close()
    assert [r["step"] for r in Journal(tmp_path / "j.jsonl").read()] == [0, 1, 2]


def test_a_torn_last_line_is_dropped_and_cut_before_the_next_append(tmp_path):
    path = tmp_path / "j.jsonl"
    Journal(path).append([{"step": 0}, {"step": 1}])
    with open(path, "ab") as file:
        file.write(b'{"step": 2, "f": 0.')  # a kill in the middle of a write
    journal = Journal(path)
    assert [r["step"] for r in journal.read()] == [0, 1]
    journal.append([{"step": 2}])
    assert [r["step"] for r in journal.read()] == [0, 1, 2]


def test_damaged_middle_lines_are_skipped_and_counted(tmp_path):
    path = tmp_path / "j.jsonl"
    path.write_text('{"step": 0}\n{"st\x00ep": \n[1, 2]\n{"step": 3}\n')
    journal = Journal(path)
    assert [r["step"] for r in journal.read()] == [0, 3]
    assert journal.damaged == [2, 3] and journal.count == 4
    journal.append([{"step": 4}])
    assert journal.count == 5


def test_each_append_writes_only_its_own_lines(tmp_path):
    path = tmp_path / "j.jsonl"
    journal = Journal(path)
    sizes = []
    for step in range(200):
        journal.append([{"step": step, "f": 1.0, "candidate": {"x": 0.25}}])
        sizes.append(os.path.getsize(path))
    growth = np.diff(sizes)
    assert growth.max() - growth.min() <= 3  # the digits of `step`: nothing rewritten as the log grows


def test_appends_are_fsynced_every_time_or_grouped(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(os, "fsync", lambda fd: calls.append(fd))
    every = Journal(tmp_path / "a.jsonl", sync_interval=0)
    for step in range(5):
        every.append([{"step": step}])
    assert len(calls) == 5
    calls.clear()
    grouped = Journal(tmp_path / "b.jsonl", sync_interval=3600)
    for step in range(5):
        grouped.append([{"step": step}])
    assert len(calls) == 0 and len(grouped.read()) == 5  # written (a kill keeps them), not yet fsync'd
    grouped.close()
    assert len(calls) == 1
