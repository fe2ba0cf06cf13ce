"""End-to-end: the examples run for real, in a fast configuration."""

import importlib


def load(name):
    return importlib.import_module(f"examples.{name}")


def test_quickstart_finds_a_good_configuration():
    quickstart = load("quickstart")
    best, best_f = quickstart.main(steps=40, quiet=True)
    assert set(best) == {"lr", "epochs", "l2", "batch_size", "optimizer"}
    assert best_f >= 0.85
    assert best_f == quickstart.validation_accuracy(best)


def test_array_params_reduces_the_loss():
    array_params = load("array_params")
    initial, best = array_params.main(generations=40, population=32, quiet=True)
    assert best < 0.7 * initial
