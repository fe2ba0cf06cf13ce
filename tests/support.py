"""Helpers shared by several test modules (tests/ is on sys.path through tests/conftest.py)."""

import struct
from pathlib import Path


def evaluate_all(pool, candidates):
    """Evaluate every candidate through `pool`, keeping every worker busy; {index: Outcome}."""
    results, todo = {}, list(enumerate(candidates))
    while todo or pool.in_flight():
        while todo and pool.in_flight() < pool.capacity:
            pool.submit(*todo.pop(0))
        results.update(pool.wait(timeout=30))
    return results


def read_scalars(logdir):
    """{tag: [(step, value), ...]} from the TFRecord event files under `logdir` (parsed by hand)."""
    from tensorboardX.proto import event_pb2

    scalars = {}
    for file in sorted(Path(logdir).glob("events.out.tfevents.*")):
        data, position = file.read_bytes(), 0
        while position < len(data):
            (length,) = struct.unpack("<Q", data[position:position + 8])
            event = event_pb2.Event.FromString(data[position + 12:position + 12 + length])
            position += 12 + length + 4  # length, its CRC, the record, its CRC
            for value in event.summary.value:
                scalars.setdefault(value.tag, []).append((event.step, value.simple_value))
    return scalars
