"""PyHopper's `pyhopper.utils` helpers, for programs that import them: `import hopper_jax as pyhopper`.

`store_dict` / `load_dict` keep a dict in a gzip file as JSON data (arrays, tuples, non-string keys; see
`persistence.codec`), not as PyHopper's pickle: reading a file never runs code from it. A pickle file (one
PyHopper wrote, say) is read only with `allow_pickle=True`, and only from a file you trust.
"""

from __future__ import annotations

import gzip
import json
import os
import pickle
from pathlib import Path
from typing import Any

from .persistence.codec import Codec, PickleNotAllowed
from .persistence.store import numbered_checkpoint as convert_to_checkpoint_path
from .search.candidates import merge_dicts
from .search.runtime import parse_runtime

__all__ = ["convert_to_checkpoint_path", "load_dict", "merge_dicts", "parse_runtime", "store_dict"]

_PICKLE_START = (b"\x80",)  # every pickle protocol >= 2 starts with the PROTO opcode


def store_dict(path: str | os.PathLike, obj: dict, allow_pickle: bool = False) -> None:
    """Write `obj` to `path` (gzip'd JSON data). Values that need pickling are refused unless `allow_pickle`."""
    text = json.dumps(Codec(allow_pickle=allow_pickle).encode(obj))
    temporary = Path(f"{path}.tmp")
    with gzip.open(temporary, "wt", encoding="utf-8") as file:
        file.write(text)
    os.replace(temporary, path)  # a crash mid-write leaves the old file whole


def load_dict(path: str | os.PathLike, allow_pickle: bool = False) -> Any:
    """Read what `store_dict` wrote. A pickle file (PyHopper's format) needs `allow_pickle=True`: unpickling
    runs code from the file, so pass it only for files you trust."""
    with gzip.open(path, "rb") as file:
        data = file.read()
    if data.startswith(_PICKLE_START):
        if not allow_pickle:
            raise PickleNotAllowed(f"{path} is a pickle (PyHopper's format); reading it runs code from the file. "
                                   f"If you wrote it or trust it, call load_dict({str(path)!r}, allow_pickle=True).")
        return pickle.loads(data)  # noqa: S301 - the caller opted in
    return Codec(allow_pickle=allow_pickle).decode(json.loads(data.decode("utf-8")))
