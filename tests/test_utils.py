"""pyhopper.utils helpers: data-only dict files, PyHopper's checkpoint path resolution, re-exported parsers."""

import gzip
import pathlib
import pickle

import numpy as np
import pytest

import hopper_jax as pyhopper
from hopper_jax.persistence import PickleNotAllowed
from hopper_jax.utils import convert_to_checkpoint_path, load_dict, merge_dicts, parse_runtime, store_dict


class Planted:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def test_store_and_load_a_dict_of_arrays_tuples_and_int_keys(tmp_path):
    value = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), 3: (1, "a"), "nested": {"f": 0.5, "n": None}}
    store_dict(tmp_path / "d.gz", value)
    back = load_dict(tmp_path / "d.gz")
    assert back.keys() == value.keys() and back[3] == (1, "a") and back["nested"] == value["nested"]
    assert back["w"].dtype == np.float32 and np.array_equal(back["w"], value["w"])
    assert not list(tmp_path.glob("*.tmp"))


def test_a_pickle_file_is_read_only_with_the_opt_in_and_objects_are_stored_only_with_it(tmp_path):
    marker = tmp_path / "code_ran"
    with gzip.open(tmp_path / "p.gz", "wb") as file:
        pickle.dump({"x": Planted(str(marker))}, file)
    with pytest.raises(PickleNotAllowed, match="allow_pickle=True"):
        load_dict(tmp_path / "p.gz")
    assert not marker.exists()
    load_dict(tmp_path / "p.gz", allow_pickle=True)
    assert marker.exists()  # the user opted in: it is a pickle, and it ran
    with pytest.raises(PickleNotAllowed):
        store_dict(tmp_path / "o.gz", {"f": object()})
    store_dict(tmp_path / "o.gz", {"f": complex(1, 2)}, allow_pickle=True)
    assert load_dict(tmp_path / "o.gz", allow_pickle=True)["f"] == complex(1, 2)


def test_a_directory_gets_numbered_checkpoints_and_other_paths_are_kept(tmp_path):
    assert convert_to_checkpoint_path(tmp_path) == str(tmp_path / "pyhopper_run_00000.ckpt")
    (tmp_path / "pyhopper_run_00000.ckpt").mkdir()
    assert convert_to_checkpoint_path(tmp_path) == str(tmp_path / "pyhopper_run_00001.ckpt")
    assert convert_to_checkpoint_path(tmp_path / "new") == str(tmp_path / "new")


def test_pyhopper_names_are_reachable_from_the_top_level_and_utils():
    assert pyhopper.utils.parse_runtime("1h 30min") == parse_runtime("90m") == 5400
    assert merge_dicts({"a": 1}, {"b": 2}) == {"a": 1, "b": 2}
    assert pyhopper.store_dict is store_dict and pyhopper.load_dict is load_dict
