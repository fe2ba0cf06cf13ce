"""How a population is laid out for evaluation: devices, padding, chunks (no pmap, only jit + NamedSharding)."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

AXIS = "pop"


def resolve_devices(devices: Sequence[Any] | None) -> list[Any]:
    """`None` → `jax.local_devices()`; otherwise a non-empty list of distinct `jax.Device`s."""
    if devices is None:
        return list(jax.local_devices())
    if isinstance(devices, jax.Device):
        devices = [devices]
    try:
        devices = list(devices)
    except TypeError:
        raise ValueError(f"devices must be None or a list of jax devices (e.g. jax.devices()[:2]), "
                         f"got {devices!r}") from None
    wrong = [d for d in devices if not isinstance(d, jax.Device)]
    if not devices or wrong:
        raise ValueError(f"devices must be None or a non-empty list of jax devices (e.g. jax.devices()[:2]); "
                         f"got {devices!r}")
    if len({d.id for d in devices}) != len(devices):
        raise ValueError(f"devices lists a device twice: {devices!r}; give each device once.")
    return devices


def check_chunk_size(chunk_size: Any) -> int | None:
    """`None` (no chunking) or a positive int, else a ValueError that says what to pass."""
    if chunk_size is None:
        return None
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise ValueError(f"chunk_size must be None (evaluate the whole population at once) or a positive "
                         f"int (rows per sequential chunk), got {chunk_size!r}")
    return int(chunk_size)


def round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


@dataclass(frozen=True)
class Layout:
    """Rows of a population of `size` on `n_devices` devices: `chunks` × `chunk` rows, padded to `padded`."""

    size: int
    n_devices: int
    chunk_size: int | None

    @property
    def chunk(self) -> int:
        """Rows per chunk: `chunk_size` (or the whole population) rounded up to a multiple of the devices."""
        wanted = self.size if self.chunk_size is None else min(self.chunk_size, self.size)
        return round_up(max(wanted, 1), self.n_devices)

    @property
    def chunks(self) -> int:
        return math.ceil(self.size / self.chunk) if self.chunk_size is not None else 1

    @property
    def padded(self) -> int:
        return self.chunks * self.chunk


def mesh_of(devices: Sequence[Any]) -> Mesh:
    """A 1-D mesh with axis 'pop' (default axis type: Auto, so objectives need no sharding annotations)."""
    return Mesh(np.asarray(devices, dtype=object), (AXIS,))


def row_sharding(mesh: Mesh, chunked: bool) -> NamedSharding:
    """Rows split over 'pop': `(P, ...)` by axis 0, or `(chunks, chunk, ...)` by axis 1."""
    return NamedSharding(mesh, PartitionSpec(None, AXIS) if chunked else PartitionSpec(AXIS))


@functools.partial(jax.jit, static_argnums=(1, 2))
def pad_rows(values: tuple[jax.Array, ...], padded: int, chunks: int | None) -> tuple[jax.Array, ...]:
    """(P, ...) leaves → (padded, ...) with copies of row 0 appended; reshaped to (chunks, padded/chunks, ...)."""

    def one(leaf):
        extra = padded - leaf.shape[0]
        if extra:
            leaf = jnp.concatenate([leaf, jnp.broadcast_to(leaf[:1], (extra, *leaf.shape[1:]))])
        return leaf if chunks is None else leaf.reshape(chunks, padded // chunks, *leaf.shape[1:])

    return tuple(one(leaf) for leaf in values)


def to_host(output: jax.Array, size: int) -> np.ndarray:
    """The first `size` values of a (padded,) or (chunks, chunk) output as a (size,) float64 host array.

    An output spread over several processes (multi-host) is all-gathered, so every process gets every value.
    """
    if output.is_fully_addressable:
        host = np.asarray(jax.device_get(output))
    else:
        from jax.experimental import multihost_utils

        host = np.asarray(multihost_utils.process_allgather(output, tiled=True))
    return host.reshape(-1)[:size].astype(np.float64)


def shard_rows(output: jax.Array | None) -> list[tuple[int, int]]:
    """(device id, number of output values) for each shard of `output` held by this process."""
    if output is None:
        return []
    return [(shard.device.id, int(np.prod(shard.data.shape))) for shard in output.addressable_shards]
