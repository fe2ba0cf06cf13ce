"""Persistence: an append-only trial journal and Orbax snapshots of the search state, in one directory;
and hopper_jax's compiled functions, kept on disk across processes."""

from .executables import cache_dir, set_cache_dir
from .journal import Journal, from_json, pack, to_json, unpack
from .store import CheckpointStore, CorruptCheckpointWarning

__all__ = ["Journal", "CheckpointStore", "CorruptCheckpointWarning", "to_json", "from_json", "pack", "unpack", "cache_dir",
           "set_cache_dir"]
