"""How far MJX (float32) and MuJoCo's C simulator (float64) part on `examples/mjx_system_identification.py`'s
experiment: the relative difference of the fit loss at the truth, the initial guess, 10 points within about 5 %
of the truth and 4 points drawn across the search ranges (benchmarks/RESULTS.md §41).

    python benchmarks/mjx_agreement.py
"""

from __future__ import annotations

import importlib
import pathlib
import sys

import jax
import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
sysid = importlib.import_module("examples.mjx_system_identification")


def points(seed: int = 0) -> list[tuple[str, dict]]:
    """(name, parameters): the truth, the initial guess, 10 near the truth, 4 across the ranges (log-uniform)."""
    rng = np.random.default_rng(seed)
    near = [{k: v * float(np.exp(rng.normal(0.0, 0.05))) for k, v in sysid.TRUE.items()} for _ in range(10)]
    far = [{k: float(np.exp(rng.uniform(np.log(p.lower), np.log(p.upper)))) for k, p in sysid.PARAMETERS.items()}
           for _ in range(4)]
    return [("truth", sysid.TRUE), ("initial guess", sysid.initial_guess()),
            *((f"near {i}", p) for i, p in enumerate(near)), *((f"across {i}", p) for i, p in enumerate(far))]


def main() -> None:
    data = sysid.experiment(0)
    loss = jax.jit(sysid.objective(sysid.nominal_model(), data))
    print("| point | MJX loss | C loss | relative difference |\n|---|---|---|---|")
    for name, p in points():
        mjx_loss = float(loss({k: np.float32(v) for k, v in p.items()}))
        c_loss = float(sysid.misfit(sysid.record(p, data.forces), data))
        print(f"| {name} | {mjx_loss:.6g} | {c_loss:.6g} | {abs(mjx_loss - c_loss) / c_loss:.2e} |", flush=True)


if __name__ == "__main__":
    main()
