"""Columnar storage for the history: growable numpy columns, and sequences whose items are made when read."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


class Table:
    """Growable numpy columns, one per field of `fields` ({name: dtype}). Single rows are gathered as tuples in
    `pending` (one list append per row: a numpy item write costs 10x more) and moved in on the next read or every
    `settle_rows` rows."""

    def __init__(self, fields: dict[str, Any], settle_rows: int):
        self._fields, self._settle_rows = fields, settle_rows
        self._data = {name: np.empty(64, dtype) for name, dtype in fields.items()}
        self._stored, self.pending = 0, []

    @property
    def size(self) -> int:
        return self._stored + len(self.pending)

    def append(self, row: tuple) -> None:
        self.pending.append(row)
        if len(self.pending) >= self._settle_rows:  # bounded lists of Python floats
            self.settle()

    def extend(self, **columns: np.ndarray) -> None:
        """Append rows given as one array per field (all of one length)."""
        self.settle()
        self._put([np.asarray(columns[name], dtype) for name, dtype in self._fields.items()])

    def _put(self, columns: list[np.ndarray]) -> None:
        end = self._stored + columns[0].shape[0]
        for (name, data), values in zip(self._data.items(), columns):
            if end > data.shape[0]:
                grown = np.empty(max(end, 2 * data.shape[0]), data.dtype)
                grown[: self._stored] = data[: self._stored]
                self._data[name] = data = grown
            data[self._stored:end] = values
        self._stored = end

    def settle(self) -> None:
        """Move the pending rows into the arrays."""
        if self.pending:
            columns = [np.asarray(column, dtype) for column, dtype in zip(zip(*self.pending), self._fields.values())]
            self.pending = []
            self._put(columns)

    def __getitem__(self, name: str) -> np.ndarray:
        self.settle()
        return self._data[name][: self._stored]


class LazyList(Sequence):
    """A read-only sequence whose items are made on access (slices give lists)."""

    def __init__(self, length: int, item: Callable[[int], Any]):
        self._length, self._item = length, item

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return [self._item(i) for i in range(*index.indices(self._length))]
        if index < 0:
            index += self._length
        if not 0 <= index < self._length:
            raise IndexError("history index out of range")
        return self._item(index)

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    def __repr__(self) -> str:
        return repr(list(self))
