"""Persistence: an append-only trial journal and Orbax snapshots of the search state, in one directory
(data only: JSON and arrays, see codec.py); and hopper_jax's compiled functions, kept on disk across
processes."""

from .codec import Codec, PickleNotAllowed, from_json, pack, to_json, unpack
from .executables import cache_dir, set_cache_dir
from .journal import Journal
from .store import CheckpointLocked, CheckpointStore, CorruptCheckpointWarning

__all__ = ["Journal", "CheckpointStore", "CheckpointLocked", "CorruptCheckpointWarning", "Codec", "PickleNotAllowed",
           "to_json", "from_json", "pack", "unpack", "cache_dir", "set_cache_dir"]
