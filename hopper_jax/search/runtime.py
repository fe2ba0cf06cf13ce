"""Parsing of search time budgets and human-readable formatting of durations/counts.

Pure Python on purpose: this runs on the host before any device work starts.
"""

from __future__ import annotations

import math
import re

_UNIT_SECONDS: dict[str, float] = {}
for _names, _secs in (
    (("w", "week", "weeks"), 7 * 86400.0),
    (("d", "day", "days"), 86400.0),
    (("h", "hr", "hrs", "hour", "hours"), 3600.0),
    (("m", "min", "mins", "minute", "minutes"), 60.0),
    (("s", "sec", "secs", "second", "seconds"), 1.0),
):
    for _name in _names:
        _UNIT_SECONDS[_name] = _secs

_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
# One token: a non-negative number, optionally followed by a unit word.
_TOKEN = re.compile(rf"\s*({_NUMBER})\s*([a-z]*)\s*")
_COLON_FIELD = re.compile(rf"\s*{_NUMBER}\s*")

_HELP = (
    'Use seconds (90 or "90"), units like "1h 30min", "1.5h", "2 days", "30s", '
    'or "h:m:s" like "1:30:00".'
)


def _fail(runtime: object, why: str = "") -> ValueError:
    detail = f" ({why})" if why else ""
    return ValueError(f"Cannot parse runtime {runtime!r}{detail}. {_HELP}")


def _parse_colon(text: str, original: str) -> float:
    """Parse ``[[h:]m:]s``-style base-60 fields (any number of them) into seconds."""
    total = 0.0
    for field in text.split(":"):
        if not _COLON_FIELD.fullmatch(field):
            raise _fail(original)
        total = total * 60.0 + float(field)
    return total


def _parse_units(text: str, original: str) -> float:
    """Parse a sequence of ``<number>[unit]`` tokens into seconds."""
    pos, total, tokens = 0, 0.0, []
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise _fail(original)
        number, unit = match.groups()
        if unit and unit not in _UNIT_SECONDS:
            raise _fail(original, f"unknown unit {unit!r}")
        tokens.append((float(number), unit))
        pos = match.end()
    if not tokens:
        raise _fail(original)
    if len(tokens) > 1 and any(not unit for _, unit in tokens):
        raise _fail(original, "every number needs a unit when several are given")
    for value, unit in tokens:
        total += value * (_UNIT_SECONDS[unit] if unit else 1.0)
    return total


def parse_runtime(runtime: int | float | str) -> float:
    """Convert a time budget to seconds.

    Accepts a non-negative number of seconds, a numeric string ("90", "1.5"),
    base-60 colon form ("1:30" = 90 s, "1:01:30" = 3690 s) or unit tokens with
    optional spaces ("1h 30min", "1h30min", "1.5h", "2 days", "3d 7h 30m 10s").
    Raises ValueError naming the input and the accepted forms otherwise.
    """
    if isinstance(runtime, bool):
        raise _fail(runtime, "a bool is not a duration")
    if isinstance(runtime, (int, float)):
        seconds = float(runtime)
        if math.isnan(seconds) or seconds < 0:
            raise _fail(runtime, "must be a non-negative number of seconds")
        return seconds
    if not isinstance(runtime, str):
        raise TypeError(
            f"runtime must be int, float or str, got {type(runtime).__name__}. {_HELP}"
        )
    text = runtime.strip().lower()
    if not text:
        raise _fail(runtime, "empty string")
    if ":" in text:
        return _parse_colon(text, runtime)
    return _parse_units(text, runtime)


def format_duration(seconds: float) -> str:
    """Format a duration in seconds for tables: "12 ms", "3.4 s", "4:05 (m:s)",
    "1:02:03 (h:m:s)" or "2.5 days". Values are truncated, never rounded up."""
    if math.isnan(seconds) or seconds < 0:
        raise ValueError(f"Duration must be a non-negative number of seconds, got {seconds!r}.")
    if seconds < 1:
        return f"{int(seconds * 1000)} ms"
    if seconds < 60:
        return f"{math.floor(seconds * 10) / 10:.1f} s"
    if seconds < 3600:
        whole = int(seconds)
        return f"{whole // 60}:{whole % 60:02d} (m:s)"
    if seconds < 86400:
        whole = int(seconds)
        return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d} (h:m:s)"
    if math.isinf(seconds):
        return "inf"
    return f"{math.floor(seconds / 86400 * 10) / 10:.1f} days"


def format_count(n: int) -> str:
    """Format a count compactly: 999 -> "999", 12345 -> "12.3k", 2_500_000 -> "2.5M"."""
    if abs(n) < 1000:
        return str(n)
    for divisor, suffix in ((1e3, "k"), (1e6, "M"), (1e9, "G")):
        scaled = round(n / divisor, 1)
        if abs(scaled) < 1000:
            return f"{scaled:.1f}{suffix}"
    return f"{n / 1e12:.1f}T"
