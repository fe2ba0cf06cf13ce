"""Host-side candidate handling: merging templates and guesses, cache keys."""

import numpy as np
import pytest

import hopper_jax as hj
from hopper_jax.search.candidates import cache_key, merge_dicts, merge_guess


def test_merge_dicts_refuses_conflicting_keys():
    x = hj.float(0, 1)
    assert merge_dicts({"a": 1}, {"b": x}) == {"a": 1, "b": x}
    assert merge_dicts({"a": 1}, {"a": 1}) == {"a": 1}
    with pytest.raises(ValueError, match="'a'"):
        merge_dicts({"a": hj.float(0, 1)}, {"a": hj.float(0, 1)})
    with pytest.raises(ValueError, match="dicts"):
        merge_dicts([1])


def test_merge_guess_fills_from_best_position_wise():
    template = {"a": hj.int(0, 5), "layers": [hj.int(1, 4), hj.int(1, 4), hj.int(1, 4)], "sub": {"b": hj.float(0, 1)}}
    best = {"a": 1, "layers": [1, 2, 3], "sub": {"b": 0.5}}
    assert merge_guess({"layers": [4]}, best, template) == {"a": 1, "layers": [4, 2, 3], "sub": {"b": 0.5}}
    with pytest.raises(ValueError, match="must be a dict"):
        merge_guess({"sub": 3}, best, template)


def test_cache_key_mixes_python_objects():
    fingerprint = np.array([1, 2], np.uint32)
    assert cache_key(fingerprint, {}, {}) == (1 << 32) | 2
    assert cache_key(fingerprint, {0: [1, 2]}, {}) != cache_key(fingerprint, {0: [2, 1]}, {})
    assert cache_key(fingerprint, {0: [1, 2]}, {}) == cache_key(fingerprint, {0: [1, 2]}, {})
