"""Figures of a search's history (matplotlib, imported when a plot is made: pip install "hopper_jax[plots]").

`plot_history`: every successful evaluation coloured by phase, the best so far, where local sampling
starts and the temperature. `plot_marginals`: objective value against each scalar top-level parameter.
Both return their matplotlib object and, given `path`, save the figure there.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from .search.history import ArraySummary, History

MISSING_MATPLOTLIB = 'hopper_jax.plots needs matplotlib: pip install "hopper_jax[plots]"'
PHASE_STYLE = {  # phase → (label, colour)
    "init": ("initial guess", "#2ca02c"),
    "manual": ("manual guess", "#9467bd"),
    "random": ("random seeding (phase 1)", "#1f77b4"),
    "local": ("local sampling (phase 2)", "#ff7f0e"),
}
MAX_CATEGORIES = 20  # a non-numeric parameter with more distinct values is not plotted by default
LOG_DECADES = 1.0  # a log x-axis needs positive values spanning at least this many decades ...
LOG_SKEW = 0.75  # ... of which this fraction lies below the middle of their range (as log-uniform draws do)


def _pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ImportError(MISSING_MATPLOTLIB) from error
    return plt


def _check_history(history: Any) -> History:
    if not isinstance(history, History):
        raise TypeError(f"Pass a hopper_jax History (search.history), got {type(history).__name__}")
    if not len(history):
        raise ValueError("The history has no successful evaluation to plot yet: run the search first.")
    return history


def _save(figure: Any, path: Any, created: bool) -> None:
    if path is not None:
        figure.savefig(path, dpi=150, bbox_inches="tight")
        if created:  # a script that saves does not want the figure kept open by pyplot
            _pyplot().close(figure)


def plot_history(history: History, ax: Any = None, path: Any = None, *, yscale: str = "linear") -> Any:
    """Objective value per successful evaluation (x: its index) with the best so far; returns the Axes.

    Points are coloured by phase; a dashed vertical line at x = i - 0.5 marks the first local-sampling
    evaluation i; the temperature is drawn on a secondary y-axis (`ax.figure.axes[-1]`, range [0, 1]).
    yscale: the objective axis' scale ('linear', 'log', 'symlog').
    """
    history = _check_history(history)
    plt = _pyplot()
    created = ax is None
    if created:
        _, ax = plt.subplots(figsize=(8, 4.5))
    steps, fs, phases = np.asarray(history.steps), np.asarray(history.fs, dtype=float), history.phases
    for phase, (label, colour) in PHASE_STYLE.items():
        rows = [i for i, name in enumerate(phases) if name == phase]
        if rows:
            big = phase in ("init", "manual")
            ax.scatter(steps[rows], fs[rows], s=40 if big else 14, color=colour, alpha=0.9 if big else 0.6,
                       marker="D" if big else "o", edgecolors="none", label=label, zorder=2)
    ax.step(steps, history.best_fs, where="post", color="black", linewidth=1.8, label="best so far", zorder=3)
    if "local" in phases:
        ax.axvline(phases.index("local") - 0.5, color="0.4", linestyle="--", linewidth=1,
                   label="local sampling starts", zorder=1)
    ax.set_yscale(yscale)
    ax.set_xlabel("successful evaluation")
    ax.set_ylabel(f"objective ({'maximised' if history.direction == 'max' else 'minimised'})")
    ax.grid(alpha=0.25)
    temperature = ax.twinx()
    known = [(i, t) for i, t in enumerate(history.temperatures) if t is not None]
    if known:
        xs, ts = zip(*known, strict=True)
        temperature.plot(xs, ts, color="#d62728", alpha=0.45, linewidth=1.2, label="temperature", zorder=0)
    temperature.set_ylim(0, 1.05)
    temperature.set_ylabel("temperature", color="#d62728")
    temperature.tick_params(axis="y", colors="#d62728")
    handles, labels = ax.get_legend_handles_labels()
    more_handles, more_labels = temperature.get_legend_handles_labels()
    ax.legend(handles + more_handles, labels + more_labels, loc="upper center", bbox_to_anchor=(0.5, -0.14),
              ncol=3, fontsize="small", frameon=False)
    counts = history.statistics()["total"]
    extra = ", ".join(f"{counts[s]} {s}" for s in ("pruned", "failed") if counts[s])
    ax.set_title(f"{len(history)} evaluations{f' ({extra})' if extra else ''}, best f = {history.best_f:.4g}")
    _save(ax.figure, path, created)
    return ax


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


def _plottable(values: Sequence[Any]) -> str | None:
    """'numeric', 'categorical' or None (arrays, summaries, too many categories) for one key's values."""
    if all(_is_number(v) for v in values):
        return "numeric"
    if any(isinstance(v, ArraySummary) or tuple(getattr(v, "shape", ())) != () for v in values):
        return None
    labels = {_label(v) for v in values}
    return "categorical" if len(labels) <= MAX_CATEGORIES else None


def _log_scaled(values: np.ndarray, phases: list[str]) -> bool:
    """Whether positive values look log-uniformly drawn: the random-seeding draws (phase 1, from the prior)
    pile up in the lower part of a range spanning a decade or more."""
    drawn = values[[i for i, phase in enumerate(phases) if phase == "random"]]
    drawn = drawn if drawn.size >= 10 else values
    low, high = drawn.min(), drawn.max()
    if low <= 0 or np.log10(high / low) < LOG_DECADES:
        return False
    return float(np.mean(drawn < (low + high) / 2)) >= LOG_SKEW


def _label(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value.item() if isinstance(value, np.generic) else value)
    return text if len(text) <= 24 else text[:21] + "..."


def plot_marginals(history: History, keys: Sequence[str] | None = None, path: Any = None) -> Any:
    """Objective value against each top-level scalar parameter (one panel each); returns the Figure.

    keys: the parameters to plot (default: every top-level key whose values are numbers, or at most 20
      distinct other values such as choice options). Numeric values that look log-uniformly drawn (positive,
      spanning a decade or more, the phase-1 draws piling up low in the range, e.g. a log-scale learning
      rate) get a log x-axis; other values are categories. The best candidate is marked with a star.
    """
    history = _check_history(history)
    plt = _pyplot()
    first = history.candidates[0]
    if not isinstance(first, dict):
        raise TypeError("plot_marginals needs dict candidates (a Search over named parameters).")
    kinds = {key: _plottable(history[key]) for key in first}
    if keys is None:
        keys = [key for key, kind in kinds.items() if kind is not None]
    else:
        keys = list(keys)
        wrong = [key for key in keys if kinds.get(key) is None]
        if wrong:
            raise ValueError(f"plot_marginals cannot plot {wrong}: pick among the scalar top-level parameters "
                             f"{[k for k, kind in kinds.items() if kind]}.")
    if not keys:
        raise ValueError("No top-level parameter holds scalar values to plot (arrays are not plotted).")
    columns = min(3, len(keys))
    rows = -(-len(keys) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.4 * rows), squeeze=False)
    fs = np.asarray(history.fs, dtype=float)
    colours = [PHASE_STYLE[phase][1] for phase in history.phases]
    best = int(np.argmax(fs) if history.direction == "max" else np.argmin(fs))
    for ax, key in zip(axes.flat, keys, strict=False):
        values = history[key]
        if kinds[key] == "numeric":
            xs = np.asarray(values, dtype=float)
            if _log_scaled(xs, history.phases):
                ax.set_xscale("log")
        else:
            categories = sorted({_label(v) for v in values})
            xs = np.asarray([categories.index(_label(v)) for v in values], dtype=float)
            ax.set_xticks(range(len(categories)), categories, rotation=30 if len(categories) > 3 else 0,
                          ha="right" if len(categories) > 3 else "center", fontsize="small")
            ax.set_xlim(-0.5, len(categories) - 0.5)
        ax.scatter(xs, fs, s=12, c=colours, alpha=0.6, edgecolors="none", zorder=2)
        ax.scatter([xs[best]], [fs[best]], s=160, marker="*", color="#d62728", edgecolors="black",
                   linewidths=0.6, label="best", zorder=3)
        ax.set_xlabel(key)
        ax.grid(alpha=0.25)
    for ax in axes[:, 0]:
        ax.set_ylabel("objective")
    seen = [phase for phase in PHASE_STYLE if phase in history.phases]
    handles = [plt.Line2D([], [], marker="o", linestyle="", color=PHASE_STYLE[phase][1], label=PHASE_STYLE[phase][0])
               for phase in seen] + [plt.Line2D([], [], marker="*", linestyle="", markersize=12, color="#d62728",
                                                markeredgecolor="black", label="best")]
    figure.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize="small", frameon=False,
                  bbox_to_anchor=(0.5, -0.02))
    for ax in list(axes.flat)[len(keys):]:
        ax.set_visible(False)
    figure.tight_layout(rect=(0, 0.05, 1, 1))
    _save(figure, path, created=True)
    return figure


__all__ = ["plot_history", "plot_marginals"]
