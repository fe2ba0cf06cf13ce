"""End-of-search summary table (plain text, no colours)."""

from __future__ import annotations

import dataclasses

from hopper_jax.search.runtime import format_count, format_duration


@dataclasses.dataclass
class SummaryRow:
    """Statistics of one search mode; ``seconds`` is wall-clock time spent in it."""

    mode: str
    best_f: float | None
    evaluations: int
    failed: int
    pruned: int
    seconds: float


def _best(values: list[float], direction: str) -> float | None:
    return (max if direction == "max" else min)(values) if values else None


def _format_best(value: float | None) -> str:
    return "-" if value is None else f"{value:0.4g}"


def format_summary(rows: list[SummaryRow], duplicates: int, direction: str) -> str:
    """Render the summary table of a finished search.

    ``rows`` holds only the non-empty modes; ``duplicates`` counts candidates
    skipped because they were already evaluated; ``direction`` is "max" or "min"
    and decides which best value the "Total" row reports.
    """
    if direction not in ("max", "min"):
        raise ValueError(f'direction must be "max" or "min", got {direction!r}.')
    show_failed = any(r.failed for r in rows)
    show_pruned = any(r.pruned for r in rows)

    header = ["Mode", "Best f", "Evals"]
    if show_failed:
        header.append("Failed")
    if show_pruned:
        header.append("Pruned")
    header.append("Time")

    def cells(mode: str, best: str, evals: str, failed: str, pruned: str, time: str) -> list[str]:
        out = [mode, best, evals]
        if show_failed:
            out.append(failed)
        if show_pruned:
            out.append(pruned)
        out.append(time)
        return out

    body = [
        cells(
            r.mode,
            _format_best(r.best_f),
            format_count(r.evaluations),
            format_count(r.failed),
            format_count(r.pruned),
            format_duration(r.seconds),
        )
        for r in rows
    ]
    if duplicates > 0:
        body.append(cells("Duplicates", "", f"{format_count(duplicates)} skipped", "", "", ""))
    bests = [r.best_f for r in rows if r.best_f is not None]
    total = cells(
        "Total",
        _format_best(_best(bests, direction)),
        format_count(sum(r.evaluations for r in rows)),
        format_count(sum(r.failed for r in rows)),
        format_count(sum(r.pruned for r in rows)),
        format_duration(sum(r.seconds for r in rows)),
    )

    widths = [max(len(line[i]) for line in [header, *body, total]) for i in range(len(header))]

    def render(line: list[str]) -> str:
        # Mode column left-aligned, numeric columns right-aligned.
        parts = [line[0].ljust(widths[0])]
        parts += [cell.rjust(width) for cell, width in zip(line[1:], widths[1:])]
        return " | ".join(parts)

    head = render(header)
    separator = "-" * len(head)
    lines = [head, separator, *map(render, body), separator, render(total)]
    return "\n".join(lines)
