"""Tests for hopper_jax.search.runtime."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hopper_jax.search.runtime import format_count, format_duration, parse_runtime

DAY = 86400.0
WEEK = 7 * DAY


@pytest.mark.parametrize(
    ("runtime", "expected"),
    [
        (0, 0.0),
        (90, 90.0),
        (1.5, 1.5),
        (math.inf, math.inf),
        ("10", 10.0),
        ("1.5", 1.5),
        ("1723", 1723.0),
        (" 42 ", 42.0),
        ("1:30", 90.0),
        ("1:01:30", 3690.0),
        ("1:1:30", 3690.0),
        ("2:00:00:00", 2 * 3600 * 60.0),
        ("1day", DAY),
        ("1week", WEEK),
        ("2 week", 2 * WEEK),
        ("1w", WEEK),
        ("3 weeks", 3 * WEEK),
        ("1d", DAY),
        ("5d ", 5 * DAY),
        ("5 days", 5 * DAY),
        ("5 days 24h", 6 * DAY),
        ("1d 2h", 93600.0),
        ("2h 60min", 10800.0),
        ("1h 30min", 5400.0),
        ("1m 30s", 90.0),
        ("1m 30sec", 90.0),
        ("1min 30sec", 90.0),
        ("1h 1m 30s", 3690.0),
        ("1 h 1 min 30s", 3690.0),
        ("1 h 1 m 30 s", 3690.0),
        ("3d 7h 30m 10s", 286210.0),
        ("1h30min", 5400.0),
        ("1.5h", 5400.0),
        ("30 seconds", 30.0),
        ("1 second", 1.0),
        ("90s", 90.0),
        ("0.5 days", DAY / 2),
        ("2 hrs 5 mins", 7500.0),
        ("1 hour 2 minutes 3 secs", 3723.0),
        ("1HR", 3600.0),
        ("1H 30MIN", 5400.0),
        (".5h", 1800.0),
    ],
)
def test_parse_runtime_accepts(runtime: int | float | str, expected: float) -> None:
    result = parse_runtime(runtime)
    assert isinstance(result, float)
    assert result == pytest.approx(expected)


@pytest.mark.parametrize(
    "runtime",
    [
        "",
        "   ",
        "abc",
        "1 month",
        "1h 30x",
        "1:xx",
        "-5m",
        "-5",
        "1::30",
        ":30",
        "1h 30",
        "1 2",
        "h",
        "1.2.3",
        "nan",
        "1h-30m",
    ],
)
def test_parse_runtime_rejects_strings(runtime: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_runtime(runtime)
    message = str(info.value)
    assert repr(runtime) in message
    assert "1h 30min" in message and "h:m:s" in message


@pytest.mark.parametrize("runtime", [-1, -0.5, math.nan, True, False])
def test_parse_runtime_rejects_numbers(runtime: float) -> None:
    with pytest.raises(ValueError, match="Cannot parse runtime"):
        parse_runtime(runtime)


def test_parse_runtime_rejects_other_types() -> None:
    with pytest.raises(TypeError, match="list"):
        parse_runtime([1, 2])  # type: ignore[arg-type]


def test_error_message_example() -> None:
    with pytest.raises(ValueError) as info:
        parse_runtime("1 month")
    assert str(info.value).startswith("Cannot parse runtime '1 month'")
    assert "unknown unit 'month'" in str(info.value)


@given(
    h=st.integers(min_value=0, max_value=10_000),
    m=st.integers(min_value=0, max_value=10_000),
    s=st.integers(min_value=0, max_value=10_000),
)
def test_units_property(h: int, m: int, s: int) -> None:
    expected = 3600 * h + 60 * m + s
    assert parse_runtime(f"{h}h {m}min {s}s") == expected
    assert parse_runtime(f"{h}h{m}m{s}s") == expected


@given(
    h=st.integers(min_value=0, max_value=10_000),
    m=st.integers(min_value=0, max_value=59),
    s=st.integers(min_value=0, max_value=59),
)
def test_colon_property(h: int, m: int, s: int) -> None:
    expected = 3600 * h + 60 * m + s
    assert parse_runtime(f"{h}:{m:02d}:{s:02d}") == expected
    assert parse_runtime(f"{h}h {m}min {s}s") == expected


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0.0, "0 ms"),
        (0.012, "12 ms"),
        (0.9999, "999 ms"),
        (1.0, "1.0 s"),
        (3.4, "3.4 s"),
        (59.99, "59.9 s"),
        (60.0, "1:00 (m:s)"),
        (245.0, "4:05 (m:s)"),
        (3599.9, "59:59 (m:s)"),
        (3600.0, "1:00:00 (h:m:s)"),
        (3723.0, "1:02:03 (h:m:s)"),
        (86399.0, "23:59:59 (h:m:s)"),
        (86400.0, "1.0 days"),
        (2.5 * 86400, "2.5 days"),
        (math.inf, "inf"),
    ],
)
def test_format_duration(seconds: float, expected: str) -> None:
    assert format_duration(seconds) == expected


@pytest.mark.parametrize("seconds", [-1.0, math.nan])
def test_format_duration_rejects(seconds: float) -> None:
    with pytest.raises(ValueError, match="non-negative"):
        format_duration(seconds)


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (0, "0"),
        (999, "999"),
        (1000, "1.0k"),
        (12345, "12.3k"),
        (999_949, "999.9k"),
        (999_999, "1.0M"),
        (2_500_000, "2.5M"),
        (3_000_000_000, "3.0G"),
    ],
)
def test_format_count(n: int, expected: str) -> None:
    assert format_count(n) == expected
