"""Make the README's figures from a real (small, CPU-only, a few seconds) hopper_jax search.

    python docs/make_figures.py            # writes docs/images/history.png and docs/images/marginals.png
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import hopper_jax as hj
from hopper_jax.plots import plot_history, plot_marginals

IMAGES = Path(__file__).resolve().parent / "images"
OPTIMIZER_PENALTY = {"adam": 0.0, "momentum": 0.08, "sgd": 0.25}


def validation_loss(params: dict) -> float:
    """A stand-in for training a network: smooth in each hyperparameter, with a little deterministic noise."""
    lr, width = params["lr"], params["width"]
    loss = 0.35 * (math.log10(lr) + 2.7) ** 2          # best near lr = 2e-3
    loss += 3.0 * (params["dropout"] - 0.15) ** 2       # best near dropout = 0.15
    loss += 0.03 * abs(params["layers"] - 4)            # best at 4 layers
    loss += 0.4 / math.sqrt(width / 16)                 # wider is better, with diminishing returns
    loss += OPTIMIZER_PENALTY[params["optimizer"]]
    loss += 0.02 * math.sin(97.0 * lr + 13.0 * params["dropout"] + width)  # evaluation noise
    return 0.3 + loss


def main(steps: int = 300, seed: int = 3) -> hj.Search:
    search = hj.Search(
        lr=hj.float(1e-5, 1e-1, log=True),
        layers=hj.int(1, 8),
        width=hj.int(16, 1024, power_of=2),
        dropout=hj.float(0.0, 0.6),
        optimizer=hj.choice("adam", "momentum", "sgd"),
    )
    search.run(validation_loss, "min", steps=steps, seed=seed, quiet=True)
    IMAGES.mkdir(parents=True, exist_ok=True)
    plot_history(search.history, path=IMAGES / "history.png")
    plot_marginals(search.history, path=IMAGES / "marginals.png")
    return search


if __name__ == "__main__":
    result = main()
    print(f"best f {result.best_f:.4g} after {len(result.history)} evaluations; figures in {IMAGES}")
