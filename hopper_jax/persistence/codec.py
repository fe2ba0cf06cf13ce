"""Values as JSON data for checkpoints: data only, unless the user opts in to pickling.

`Codec.encode` turns a value into plain JSON data (dicts with string keys, lists, numbers, strings) with
tags for what JSON cannot hold: numpy arrays (``{"__array__": [...], "dtype", "shape"}``), tuples,
non-finite floats, dicts with other keys (``{"__items__": [[key, value], ...]}``) and objects the search
space declares (a choice's options, constants), written as references (``{"__ref__": name}``) that are
resolved against the space when read: a checkpoint never needs to hold those objects themselves.

Anything else (e.g. the value of a `custom()` parameter that is not JSON data) needs pickling, which is
refused unless the codec was made with `allow_pickle=True`; a pickled value in a file is likewise read only
with that opt-in, since unpickling runs code from the file.
"""

from __future__ import annotations

import base64
import math
from typing import Any

import numpy as np

PICKLE_HINT = ("Pass allow_pickle=True (to run(), save() or load()) to store such values with cloudpickle; "
               "loading them runs code from the checkpoint files, so do that only with checkpoints you wrote.")


class PickleNotAllowed(ValueError):
    """A value needs pickling to be stored or read, and the user did not opt in."""


class Codec:
    """Encode/decode checkpoint values; `references` maps id(object) → name for objects the code declares
    (resolved by `objects`: name → object), `allow_pickle` opts in to pickling anything else."""

    def __init__(self, references: dict[int, str] | None = None, objects: dict[str, Any] | None = None,
                 allow_pickle: bool = False):
        self.references, self.objects = references or {}, objects or {}
        self.allow_pickle = bool(allow_pickle)

    def encode(self, value: Any) -> Any:
        """`value` as JSON data (see the module docstring); raises PickleNotAllowed for a value that needs
        pickling without the opt-in."""
        if value is None or isinstance(value, bool | str):
            return value
        if isinstance(value, int):
            return int(value)
        if isinstance(value, float):
            return float(value) if math.isfinite(value) else {"__float__": repr(float(value))}
        if isinstance(value, np.ndarray) and value.dtype != object:
            return {"__array__": self.encode(value.tolist()), "dtype": value.dtype.str, "shape": list(value.shape)}
        if isinstance(value, np.generic):
            return self.encode(value.item())
        name = self.references.get(id(value))
        if name is not None:
            return {"__ref__": name}
        if isinstance(value, dict):
            if all(isinstance(k, str) for k in value):
                return {k: self.encode(v) for k, v in value.items()}
            return {"__items__": [[self.encode(k), self.encode(v)] for k, v in value.items()]}
        if isinstance(value, list):
            return [self.encode(v) for v in value]
        if isinstance(value, tuple):
            return {"__tuple__": [self.encode(v) for v in value]}
        if not self.allow_pickle:
            raise PickleNotAllowed(f"hopper_jax checkpoints hold data only (JSON and arrays); the value "
                                   f"{_short(value)} of type {type(value).__name__} would need pickling. Make it "
                                   f"JSON data (numbers, strings, lists, dicts, arrays), or: {PICKLE_HINT}")
        import cloudpickle

        return {"__pickle__": base64.b64encode(cloudpickle.dumps(value)).decode()}

    def decode(self, value: Any) -> Any:
        """Inverse of `encode`."""
        if isinstance(value, list):
            return [self.decode(v) for v in value]
        if not isinstance(value, dict):
            return value
        if "__b64__" in value:
            return unpack(value)
        if "__array__" in value:
            return np.asarray(self.decode(value["__array__"]), dtype=np.dtype(value["dtype"])).reshape(value["shape"])
        if "__float__" in value:
            return float(value["__float__"])
        if "__tuple__" in value:
            return tuple(self.decode(v) for v in value["__tuple__"])
        if "__items__" in value:
            return {_hashable(self.decode(k)): self.decode(v) for k, v in value["__items__"]}
        if "__ref__" in value:
            if value["__ref__"] not in self.objects:
                raise ValueError(f"hopper_jax: the checkpoint refers to {value['__ref__']!r}, which this search "
                                 f"space does not declare; declare the same space to resume.")
            return self.objects[value["__ref__"]]
        if "__pickle__" in value:
            if not self.allow_pickle:
                raise PickleNotAllowed(f"This hopper_jax checkpoint holds pickled values (written with "
                                       f"allow_pickle=True), and reading them would run code from the file. "
                                       f"{PICKLE_HINT}")
            import cloudpickle

            return cloudpickle.loads(base64.b64decode(value["__pickle__"]))
        return {k: self.decode(v) for k, v in value.items()}


def _hashable(key: Any) -> Any:
    return tuple(_hashable(k) for k in key) if isinstance(key, list | tuple) else key


def _short(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a broken __repr__ must not hide the real message
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 80 else text[:77] + "..."


DATA = Codec()


def to_json(value: Any) -> Any:
    """`value` as JSON data, without references or pickling (see `Codec`)."""
    return DATA.encode(value)


def from_json(value: Any) -> Any:
    """Inverse of `to_json`."""
    return DATA.decode(value)


def pack(array: np.ndarray) -> dict:
    """A numpy array as compact JSON data: its raw bytes in base64, with dtype and shape."""
    array = np.ascontiguousarray(array)
    return {"__b64__": base64.b64encode(array.tobytes()).decode(), "dtype": array.dtype.str,
            "shape": list(array.shape)}


def unpack(value: dict) -> np.ndarray:
    """Inverse of `pack`; refuses object dtypes (they would unpickle)."""
    dtype = np.dtype(value["dtype"])
    if dtype.hasobject:
        raise ValueError(f"hopper_jax: a checkpoint array has dtype {dtype}, which is not data; refusing it.")
    data = base64.b64decode(value["__b64__"])
    return np.frombuffer(data, dtype).reshape(value["shape"]).copy()
