"""Tests for hopper_jax.search.report."""

from __future__ import annotations

import pytest

from hopper_jax.search.report import SummaryRow, format_summary


def _rows(failed: int = 0, pruned: int = 0) -> list[SummaryRow]:
    return [
        SummaryRow("Initial solution", 0.5, 1, 0, 0, 0.25),
        SummaryRow("Random seeding", 2.0, 40, failed, 0, 30.0),
        SummaryRow("Local sampling", -1.0, 12345, 0, pruned, 200.0),
    ]


def _header(table: str) -> list[str]:
    return [c.strip() for c in table.splitlines()[0].split("|")]


def _row(table: str, mode: str) -> list[str]:
    for line in table.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if cells[0] == mode:
            return cells
    raise AssertionError(f"no row {mode!r} in\n{table}")


def test_columns_without_failed_or_pruned() -> None:
    table = format_summary(_rows(), duplicates=0, direction="max")
    assert _header(table) == ["Mode", "Best f", "Evals", "Time"]
    assert "Duplicates" not in table


@pytest.mark.parametrize(
    ("failed", "pruned", "header"),
    [
        (3, 0, ["Mode", "Best f", "Evals", "Failed", "Time"]),
        (0, 4, ["Mode", "Best f", "Evals", "Pruned", "Time"]),
        (3, 4, ["Mode", "Best f", "Evals", "Failed", "Pruned", "Time"]),
    ],
)
def test_optional_columns(failed: int, pruned: int, header: list[str]) -> None:
    table = format_summary(_rows(failed, pruned), duplicates=0, direction="max")
    assert _header(table) == header
    total = _row(table, "Total")
    if failed:
        assert total[header.index("Failed")] == str(failed)
    if pruned:
        assert total[header.index("Pruned")] == str(pruned)


def test_one_line_per_row_in_order() -> None:
    table = format_summary(_rows(), duplicates=0, direction="max")
    modes = [line.split("|")[0].strip() for line in table.splitlines() if "|" in line]
    assert modes == ["Mode", "Initial solution", "Random seeding", "Local sampling", "Total"]


@pytest.mark.parametrize(("direction", "best"), [("max", "2"), ("min", "-1")])
def test_total_best_follows_direction(direction: str, best: str) -> None:
    table = format_summary(_rows(), duplicates=0, direction=direction)
    assert _row(table, "Total")[1] == best


def test_totals_sum_counts_and_time() -> None:
    table = format_summary(_rows(), duplicates=0, direction="max")
    total = _row(table, "Total")
    assert total[2] == "12.4k"  # 1 + 40 + 12345 = 12386
    assert total[3] == "3:50 (m:s)"  # 230.25 s
    assert _row(table, "Initial solution")[3] == "250 ms"


def test_duplicates_row_only_shows_evals() -> None:
    table = format_summary(_rows(), duplicates=7, direction="max")
    dup = _row(table, "Duplicates")
    assert dup[2] == "7 skipped"
    assert dup[1] == "" and dup[3] == ""
    # Skipped duplicates are not evaluations.
    assert _row(table, "Total")[2] == "12.4k"


def test_best_formatting_and_none() -> None:
    rows = [
        SummaryRow("Manually added", None, 2, 2, 0, 1.0),
        SummaryRow("Random seeding", 3.14159265, 5, 0, 0, 1.0),
    ]
    table = format_summary(rows, duplicates=0, direction="min")
    assert _row(table, "Manually added")[1] == "-"
    assert _row(table, "Random seeding")[1] == "3.142"
    assert _row(table, "Total")[1] == "3.142"


def test_all_best_none_gives_dash_total() -> None:
    rows = [SummaryRow("Random seeding", None, 3, 3, 0, 1.0)]
    table = format_summary(rows, duplicates=0, direction="max")
    assert _row(table, "Total")[1] == "-"


@pytest.mark.parametrize("duplicates", [0, 5])
@pytest.mark.parametrize(("failed", "pruned"), [(0, 0), (1, 1)])
def test_alignment(duplicates: int, failed: int, pruned: int) -> None:
    table = format_summary(_rows(failed, pruned), duplicates=duplicates, direction="max")
    lines = table.splitlines()
    assert len({len(line) for line in lines}) == 1, table
    bar_positions = {tuple(i for i, c in enumerate(line) if c == "|") for line in lines if "|" in line}
    assert len(bar_positions) == 1, table
    assert set(lines[1]) == {"-"}
    assert "\x1b" not in table


def test_bad_direction() -> None:
    with pytest.raises(ValueError, match="'maximize'"):
        format_summary(_rows(), duplicates=0, direction="maximize")
