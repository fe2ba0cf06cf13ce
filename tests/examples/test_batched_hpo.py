"""examples/batched_hpo.py: MLP configurations train in one vmapped call and the search finds a good one."""

import functools
import importlib

import jax
import jax.numpy as jnp
import numpy as np

STEPS = 100  # training steps per configuration: fast, and short enough that configurations differ widely


hpo = importlib.import_module("examples.batched_hpo")


def test_search_finds_an_accurate_configuration_and_reports_its_true_accuracy():
    best, accuracy, history = hpo.main(generations=2, population=8, train_steps=STEPS, quiet=True)
    assert len(history) == 16
    assert set(best) == set(hpo.space())
    assert accuracy >= 0.85  # chance is 0.1
    assert accuracy == max(history.fs)
    # The best's accuracy from the vmapped population call equals a fresh single-configuration training.
    single = jax.jit(functools.partial(hpo.validation_accuracy, train_steps=STEPS))
    assert abs(float(single({k: jnp.float32(v) for k, v in best.items()})) - accuracy) <= 1 / 597
    assert min(history.fs) < accuracy - 0.3  # phase 1 sampled some poor configurations too


def test_hyperparameters_matter_within_the_training_budget():
    configs = {k: jnp.asarray(v) for k, v in hpo.sample_configs(8, seed=0).items()}
    accuracies = np.asarray(hpo.population_accuracy(configs, train_steps=STEPS))
    assert accuracies.shape == (8,)
    assert accuracies.max() - accuracies.min() > 0.5
