"""Report plumbing shared by the benchmark scripts: assemble, print and save markdown, rank optimizers.

    text = report.assemble("### Title", table, NOTES, total_s=elapsed)   # footer appended
    report.emit(text, args.out)                                        # print, and save if asked
"""

from __future__ import annotations

import argparse
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from benchmarks.machine import fmt, footer, markdown_table

RESULTS_DIR: str = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
#: f − f* at or below this counts as 0 when ranking: the float32 resolution of the JAX objectives (Ackley's
#: terms of size 20 round to ~2e-6).
SOLVED: float = 1e-5
#: Significant digits compared when ranking: values that print the same tie.
RANK_DIGITS: int = 4


def add_output_arguments(parser: argparse.ArgumentParser, fragment: str, quick_help: str) -> None:
    """``--quick`` and ``--out`` (full mode defaults to ``benchmarks/results/<fragment>.md``; ``-`` = none)."""
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--out", help=f"markdown report path (full mode default: results/{fragment}.md; "
                                      "'-' prints only)")
    parser.set_defaults(_fragment=fragment)


def output_path(args: argparse.Namespace) -> str | None:
    """Where to save the report: ``--out``, else the fragment in full mode, else nowhere."""
    if args.out == "-":
        return None
    if args.out:
        return args.out
    return None if args.quick else os.path.join(RESULTS_DIR, f"{args._fragment}.md")


def assemble(*sections: str, total_s: float | None = None) -> str:
    """Join markdown sections with blank lines and append the machine footer (and total minutes)."""
    tail = footer() + (f" — total {total_s / 60:.1f} min" if total_s is not None else "")
    return "\n\n".join([*sections, tail]) + "\n"


def emit(text: str, path: str | None) -> None:
    """Print the report; also write it to ``path`` when given (folders created)."""
    print(text)
    if path:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)


class CompileClock:
    """Wall seconds during which at least one JAX backend compile ran (jax.monitoring events) since the last
    `reset()`, in `total()`: compiles that overlap (hopper_jax compiles in background threads) count once."""

    _intervals: list[tuple[float, float]] = []
    _registered = False

    @classmethod
    def reset(cls) -> None:
        if not cls._registered:
            from jax import monitoring

            monitoring.register_event_duration_secs_listener(cls._listener)
            cls._registered = True
        cls._intervals = []

    @classmethod
    def total(cls) -> float:
        covered, end = 0.0, -math.inf
        for start, stop in sorted(cls._intervals):
            if stop > end:
                covered += stop - max(start, end)
                end = stop
        return covered

    @classmethod
    def _listener(cls, event: str, duration: float, **_: object) -> None:
        if event.endswith("backend_compile_duration"):
            now = time.perf_counter()
            cls._intervals.append((now - duration, now))


def _rank_key(value: float) -> float:
    """The value a rank compares: solved values are 0, the rest rounded to RANK_DIGITS significant digits."""
    if math.isnan(value):
        return math.inf
    if value <= SOLVED:
        return 0.0
    return float(f"{value:.{RANK_DIGITS - 1}e}")


def row_ranks(row: Mapping[str, float]) -> dict[str, float]:
    """Ranks (1 = best, lowest value) of the optimizers in one row; ties share their average rank."""
    keys = {name: _rank_key(v) for name, v in row.items()}
    ordered = sorted(keys.values())
    ranks = {}
    for name, key in keys.items():
        first = ordered.index(key)
        ties = ordered.count(key)
        ranks[name] = first + (ties + 1) / 2
    return ranks


def mean_ranks(rows: Mapping[tuple, Mapping[str, float]], groups: Mapping[str, Sequence[tuple]]
               ) -> dict[str, dict[str, tuple[float, int] | None]]:
    """Mean rank of every optimizer per group of rows: ``{group: {optimizer: (mean rank, n rows) | None}}``.

    ``rows`` maps a row key to ``{optimizer: value}`` for the optimizers that ran that row (a missing
    optimizer is simply not ranked there); ``groups`` names subsets of row keys (e.g. "all", "d=10").
    """
    names = sorted({n for row in rows.values() for n in row})
    ranked = {key: row_ranks(row) for key, row in rows.items()}
    out: dict[str, dict[str, tuple[float, int] | None]] = {}
    for group, keys in groups.items():
        out[group] = {}
        for name in names:
            got = [ranked[k][name] for k in keys if k in ranked and name in ranked[k]]
            out[group][name] = (sum(got) / len(got), len(got)) if got else None
    return out


def loss_lines(rows: Mapping[Any, Mapping[str, float]], ours: Sequence[str], label: Callable[[Any], str]
               ) -> list[str]:
    """One markdown bullet per row where another optimizer ranks strictly better than every one of ``ours``."""
    lines = []
    for key, row in rows.items():
        ranks = row_ranks(row)
        mine = [n for n in ours if n in ranks]
        if not mine:
            continue
        better = sorted((n for n in ranks if n not in ours and ranks[n] < min(ranks[m] for m in mine)),
                        key=ranks.get)
        if better:
            lines.append(f"- {label(key)}: " + ", ".join(f"{n} {fmt(row[n])}" for n in mine)
                         + " — better: " + ", ".join(f"{n} {fmt(row[n])}" for n in better))
    return lines


def rank_table(ranks: Mapping[str, Mapping[str, tuple[float, int] | None]], order: Sequence[str]) -> str:
    """Markdown table: one row per optimizer (in ``order``), one column per group: mean rank (rows)."""
    groups = list(ranks)
    body = []
    for name in order:
        cells = [ranks[g].get(name) for g in groups]
        body.append([name] + [f"{fmt(c[0], 3)} ({c[1]})" if c else "–" for c in cells])
    return markdown_table(["optimizer"] + [f"mean rank, {g}" for g in groups], body)


RANK_NOTE = (f"Ranks: in every (problem) row the optimizers that ran it are ranked by their median value "
             f"(1 = best); values that agree to {RANK_DIGITS} significant digits, and values ≤ {SOLVED:g} "
             "(solved to float32 resolution), tie and share the average of their ranks. An optimizer that did not "
             "run a row is left out of that row (not ranked last), so its mean rank is over the rows it ran, "
             "shown in parentheses; compare optimizers within one column, where each column lists rows with "
             "the same set of competitors unless stated.")
