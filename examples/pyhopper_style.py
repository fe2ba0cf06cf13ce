"""A PyHopper training script, unchanged but for its import: an sklearn MLP on digits, two worker processes.

Written the way PyHopper's documentation writes them: a dict-based search space, an objective that trains
a model from the params dict and returns its validation accuracy, a runtime budget string and `n_jobs=2`.
The only hopper_jax-specific line is `import hopper_jax as pyhopper`. Each trial is appended to a JSON-lines
log (one file per worker process) so that the parallelism can be inspected afterwards.

    python examples/pyhopper_style.py                  # 30 seconds of search on 2 worker processes
    python examples/pyhopper_style.py --runtime 10s --n-jobs 1
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from threadpoolctl import threadpool_limits

import hopper_jax as pyhopper


def of_digits() -> dict:
    """Training and validation split of scikit-learn's digits (passed to the objective as kwargs)."""
    x, y = load_digits(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(x / 16.0, y, test_size=0.33, random_state=0)
    return {"x_train": x_train, "y_train": y_train, "x_val": x_val, "y_val": y_val}


def objective(params: dict, data: dict, max_iter: int = 30, log_dir: str | None = None) -> float:
    """Train an MLPClassifier with `params`; return its validation accuracy (and log the trial)."""
    started = time.time()
    model = MLPClassifier(
        hidden_layer_sizes=(params["width"],) * params["layers"],
        activation=params["activation"],
        alpha=params["alpha"],
        learning_rate_init=params["lr"],
        batch_size=params["batch_size"],
        max_iter=max_iter,
        random_state=0,
    )
    with warnings.catch_warnings(), threadpool_limits(1):  # one BLAS thread per worker process
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(data["x_train"], data["y_train"])
    accuracy = float(model.score(data["x_val"], data["y_val"]))
    if log_dir is not None:
        trial = {"pid": os.getpid(), "start": started, "end": time.time(), "accuracy": accuracy, "params": params}
        with open(os.path.join(log_dir, f"trials-{os.getpid()}.jsonl"), "a", encoding="utf-8") as fh:
            fh.write(json.dumps(trial) + "\n")
    return accuracy


def read_trials(log_dir: str) -> list[dict]:
    """Every logged trial, sorted by start time."""
    trials = []
    for name in os.listdir(log_dir):
        with open(os.path.join(log_dir, name), encoding="utf-8") as fh:
            trials += [json.loads(line) for line in fh]
    return sorted(trials, key=lambda t: t["start"])


def main(runtime: str | None = "30s", steps: int | None = None, n_jobs: int = 2, max_iter: int = 30,
         seed: int | None = 0, quiet: bool = False) -> tuple[dict, float, list[dict]]:
    """Run the search; return (best params, best validation accuracy, logged trials)."""
    search = pyhopper.Search(
        {
            "layers": pyhopper.int(1, 3),
            "width": pyhopper.int(16, 256, power_of=2),
            "activation": pyhopper.choice("relu", "tanh", "logistic"),
            "alpha": pyhopper.float(1e-6, 1e-1, "0.1g"),
            "lr": pyhopper.float(1e-4, 1e-1, "0.1g"),
            "batch_size": pyhopper.int(16, 256, power_of=2),
        }
    )
    search += {"layers": 1, "width": 64, "activation": "relu", "lr": 1e-3}  # a manual first guess
    with tempfile.TemporaryDirectory() as log_dir:
        kwargs = {"data": of_digits(), "max_iter": max_iter, "log_dir": log_dir}
        best = search.run(objective, "max", runtime, steps=steps, n_jobs=n_jobs, kwargs=kwargs, seed=seed,
                          quiet=quiet)
        trials = read_trials(log_dir)
    return best, search.best_f, trials


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runtime", default="30s")
    parser.add_argument("--n-jobs", type=int, default=2)
    args = parser.parse_args()
    best, accuracy, trials = main(args.runtime, n_jobs=args.n_jobs)
    workers = sorted({t["pid"] for t in trials})
    print(f"{len(trials)} trials on {len(workers)} worker processes; accuracies from "
          f"{min(t['accuracy'] for t in trials):.3f} to {accuracy:.3f} (median "
          f"{np.median([t['accuracy'] for t in trials]):.3f})")
    print("best:", best)
