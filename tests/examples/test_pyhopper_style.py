"""examples/pyhopper_style.py: a PyHopper-style script runs unchanged on hopper_jax with 2 worker processes."""

import importlib
import os


def test_search_trains_on_two_worker_processes_at_once():
    example = importlib.import_module("examples.pyhopper_style")
    best, accuracy, trials = example.main(runtime=None, steps=8, max_iter=10, quiet=True)
    assert len(trials) == 8
    pids = {t["pid"] for t in trials}
    assert len(pids) == 2 and os.getpid() not in pids
    # Both workers were busy at the same moment: some trial starts before another worker's trial ends.
    assert any(a["pid"] != b["pid"] and b["start"] < a["end"] and a["start"] < b["end"]
               for i, a in enumerate(trials) for b in trials[i + 1:])
    assert accuracy == max(t["accuracy"] for t in trials)
    assert accuracy >= 0.9  # chance is 0.1
    assert set(best) == {"layers", "width", "activation", "alpha", "lr", "batch_size"}
