"""The quick modes of bench_quality, bench_mixed and bench_throughput run end to end against the real peers
and print well-formed reports: a finite value from every optimizer in every row, a mean-rank table, and
positive throughput ratios."""

import math

from support import cells, run_quick

QUALITY_OPTIMIZERS = ["hopper_jax", "hopper_jax_seq", "pyhopper", "cmaes", "sep_cmaes", "snes", "openes",
                      "optuna_tpe", "ngopt", "random"]
MIXED_OPTIMIZERS = ["hopper_jax", "pyhopper", "optuna_tpe", "random"]


def table_after(text: str, heading: str) -> list[dict[str, str]]:
    """The first markdown table after the line starting with `heading`, as a list of {column: cell}."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(heading))
    rows = []
    for line in lines[start + 1:]:
        if rows and not line.startswith("|"):
            break
        if line.startswith("|"):
            rows.append(cells(line))
    header, body = rows[0], rows[2:]  # rows[1] is the |---| separator
    return [dict(zip(header, row)) for row in body]


def finite(cell: str) -> float:
    value = float(cell)  # a crash or a missing optimizer ("–", "inf (...)") fails here or below
    assert math.isfinite(value), cell
    return value


def check_ranks(text: str, heading: str, names: list[str]) -> None:
    """Every optimizer has a mean rank between 1 and the number of optimizers."""
    ranks = {row["optimizer"]: row for row in table_after(text, heading)}
    assert sorted(ranks) == sorted(names)
    for name, row in ranks.items():
        mean = float(row["mean rank, all rows"].split()[0])
        assert 1.0 <= mean <= len(names), (name, mean)


def test_quick_quality_every_optimizer_finite_and_ranked():
    out = run_quick("bench_quality.py")
    rows = table_after(out, "### Budget")
    assert rows, out
    for row in rows:
        for name in QUALITY_OPTIMIZERS:
            assert finite(row[name]) >= 0.0, (row, name)  # f − f* ≥ 0 by construction
        assert finite(row["random"]) <= finite(row["f(box centre)"]) * 10
    check_ranks(out, "#### Mean rank", QUALITY_OPTIMIZERS)
    assert "#### Rows where hopper_jax loses" in out


def test_quick_mixed_every_optimizer_finite_and_ranked():
    out = run_quick("bench_mixed.py")
    rows = table_after(out, "### Mixed spaces")
    assert {row["problem"].split()[0] for row in rows} == {"mlp", "gbdt", "switches"}
    for row in rows:
        for name in MIXED_OPTIMIZERS:
            assert finite(row[name]) >= 0.0, (row, name)
    check_ranks(out, "#### Mean rank", MIXED_OPTIMIZERS)


def test_quick_throughput_ratios_positive():
    out = run_quick("bench_throughput.py")
    rates = table_after(out, "### Candidates per second")
    ratios = table_after(out, "### Ratios")
    assert len(rates) == len(ratios) >= 2
    for row in rates + ratios:
        for column, cell in row.items():
            if column not in ("P", "d"):
                assert finite(cell) > 0, (column, cell)
    assert "**Bar met**" in out or "**Bar MISSED**" in out
    steps = table_after(out, "### Phase-1 sampler, step by step")
    assert len(steps) == len(rates)
    for row in steps:  # "ms (speed-up×)" per sampler variant, the first one the 1.00× reference
        entries = [cell for column, cell in row.items() if column not in ("P", "d")]
        assert len(entries) == 3 and entries[0].endswith("(1.00×)")
        assert all(finite(entry.split()[0]) > 0 for entry in entries)
