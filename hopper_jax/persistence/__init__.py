"""Persistence: an append-only trial journal and Orbax snapshots of the search state, in one directory."""

from .journal import Journal, from_json, to_json
from .store import CheckpointStore, CorruptCheckpointWarning

__all__ = ["Journal", "CheckpointStore", "CorruptCheckpointWarning", "to_json", "from_json"]
