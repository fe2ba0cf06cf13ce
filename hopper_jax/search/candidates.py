"""Host-side candidate handling: merging guesses, encoding user dicts, Python-side parameters, cache keys."""

from __future__ import annotations

import dataclasses
import hashlib
import pickle
from typing import Any

import numpy as np

from ..core.algorithm import KEEP, MUTATE
from ..space import declarations as d
from ..space.compile import Space, contains_parameter, warn_outside


@dataclasses.dataclass
class Encoded:
    """One candidate as the core sees it: encoded array leaves, Python-side objects, constant overrides."""

    encoded: tuple[np.ndarray, ...]
    objects: dict[int, Any]
    overrides: dict[tuple, Any] = dataclasses.field(default_factory=dict)


def merge_dicts(*dicts: dict) -> dict:
    """Merge templates; a key given twice with different values is an error."""
    merged: dict = {}
    for mapping in dicts:
        if not isinstance(mapping, dict):
            raise ValueError(f"Search(...) takes dicts and keyword arguments, got {type(mapping).__name__}")
        for key, value in mapping.items():
            if key in merged and merged[key] is not value:
                raise ValueError(f"The key {key!r} is given twice with different values; give it once.")
            merged[key] = value
    return merged


def merge_guess(guess: Any, best: Any, template: Any, path: tuple = ()) -> Any:
    """PyHopper's merge: keys missing from a (partial) guess come from the best; lists fill by position."""
    if isinstance(template, dict) and not isinstance(template, d.Parameter):
        if not isinstance(guess, dict):
            raise ValueError(f"Guess {guess!r} at {'/'.join(map(str, path)) or 'top level'} must be a dict with "
                             f"keys {list(template)}")
        unknown = [k for k in guess if k not in template]
        if unknown:
            raise ValueError(f"Guess for {unknown[0]!r} was given but {unknown[0]!r} is not in the search space; "
                             f"register it, e.g. Search({unknown[0]}=None, ...), to pass it as a constant.")
        return {k: merge_guess(guess[k], best[k], t, path + (k,)) if k in guess else best[k]
                for k, t in template.items()}
    if isinstance(template, list) and isinstance(guess, list):
        return [merge_guess(g, b, t, path + (i,)) for i, (g, b, t) in
                enumerate(zip(guess + best[len(guess):], best, template))]
    return guess


def encode_candidate(space: Space, candidate: Any, start: Encoded) -> Encoded:
    """Encode a full user dict (e.g. a merged guess), validating every value against its declaration."""
    encoded, objects, overrides = list(start.encoded), dict(start.objects), {}
    position = {leaf: j for j, leaf in enumerate(space.array_leaves)}

    def walk(node: Any, value: Any, path: tuple) -> None:
        if isinstance(node, dict):
            for key, child in node.items():
                walk(child, value[key], path + (key,))
        elif isinstance(node, list):
            for i, child in enumerate(node):
                walk(child, value[i], path + (i,))
        elif isinstance(node, d.Parameter):
            index = space.leaf_index(node)
            if index not in position:
                objects[index] = value
                return
            if isinstance(node, d.ChoiceParameter):
                value = _option_of(node, value, path, walk)
            if space.outside(index, value):  # PyHopper evaluates it as given: so do we, placed inside for the core
                warn_outside(space.leaves[index], value, "guess")
                encoded[position[index]] = space.project_leaf(index, value)
                if not space.leaves[index].conditions:
                    overrides[path] = value
                return
            encoded[position[index]] = space.encode_leaf(index, value)
        elif value is not node:
            overrides[path] = value  # a constant replaced by the guess (PyHopper's "dummy parameter")

    walk(space.template, candidate, ())
    return Encoded(tuple(encoded), objects, overrides)


def _option_of(param: d.ChoiceParameter, value: Any, path: tuple, walk) -> Any:
    """The option a guess picks; a sub-tree option is matched by its structure and encoded too."""
    for option in param.options:
        if not contains_parameter(option) and d._same_option(option, value):
            return option
    for i, option in enumerate(param.options):
        if contains_parameter(option):
            try:
                walk(option, value, path + (i,))
                return option
            except (ValueError, KeyError, IndexError, TypeError):
                continue
    raise ValueError(f"Guess {value!r} for '{'/'.join(map(str, path))}' is none of its options {list(param.options)!r}")


def apply_overrides(candidate: Any, overrides: dict[tuple, Any]) -> Any:
    for path, value in overrides.items():
        node = candidate
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return candidate


def host_parameters(space: Space, actions: np.ndarray, temperature: float, best: Encoded,
                    best_values: dict[int, Any]) -> tuple[dict[int, Any], dict[int, Any]]:
    """Apply the core's KEEP/MUTATE/RESAMPLE actions to Python-side parameters of one candidate.

    Returns (objects for object leaves, user values for hooked built-in leaves to be re-encoded).
    """
    objects, hooked = {}, {}
    for index, leaf in enumerate(space.leaves):
        if not leaf.host_driven:
            continue
        param, action = leaf.param, int(actions[index])
        current = best.objects[index] if leaf.encoding is None else best_values[index]
        if action == KEEP:
            value = current
        elif action == MUTATE:
            value = _mutate(param, current, temperature)
        else:
            value = _sample(param, current)
        (objects if leaf.encoding is None else hooked)[index] = value
    return objects, hooked


def _mutate(param: d.Parameter, value: Any, temperature: float) -> Any:
    if isinstance(param, d.CustomParameter) or not hasattr(param, "has_hooks"):
        return param.mutate(value, temperature)
    if param.mutation_fn is None:
        return _sample(param, value) if param.seeding_fn is not None else value
    value = value if not isinstance(value, np.ndarray) else value.copy()
    return d._call_mutation(param.mutation_fn, value, temperature)


def _sample(param: d.Parameter, value: Any) -> Any:
    if isinstance(param, d.CustomParameter) or not hasattr(param, "has_hooks"):
        return param.sample()
    return param.seeding_fn() if param.seeding_fn is not None else value


def fingerprint_keys(fingerprints: np.ndarray) -> list[int]:
    """(P, 2) uint32 device fingerprints → P Python ints, in one numpy operation."""
    fingerprints = np.asarray(fingerprints, np.uint64)
    return ((fingerprints[:, 0] << np.uint64(32)) | fingerprints[:, 1]).tolist()


def cache_key(fingerprint: np.ndarray | int, objects: dict[int, Any], overrides: dict) -> int:
    """Duplicate-cache key: the device fingerprint, extended by a hash of any Python-side values."""
    key = fingerprint if isinstance(fingerprint, int) else (int(fingerprint[0]) << 32) | int(fingerprint[1])
    if objects or overrides:
        try:
            blob = pickle.dumps((sorted(objects.items()), sorted(overrides.items(), key=repr)))
        except Exception:  # noqa: BLE001 - unpicklable objects fall back to their repr
            blob = repr((sorted(objects.items()), overrides)).encode()
        key ^= int.from_bytes(hashlib.blake2b(blob, digest_size=8).digest(), "little")
    return key
