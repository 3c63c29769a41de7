"""Prometheus-style durations (``30s``, ``5m``, ``1h30m``, ``3d``) as integer milliseconds.

Rules files use them for ``for``, ``keep_firing_for``, silences and grouping intervals; the
engine only ever works with milliseconds so no float time creeps into the state.

Examples
--------
>>> parse_duration_ms("1h30m"), parse_duration_ms(90), parse_duration_ms("0")
(5400000, 90000, 0)
>>> format_duration(5_400_000)
'1h30m'
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["format_duration", "parse_duration_ms"]

_UNIT_MS: Final[dict[str, int]] = {
    "ms": 1,
    "s": 1000,
    "m": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
    "w": 7 * 86_400_000,
}
_DURATION: Final[re.Pattern[str]] = re.compile(r"^(?:(\d+)(ms|s|m|h|d|w))+$")
_PART: Final[re.Pattern[str]] = re.compile(r"(\d+)(ms|s|m|h|d|w)")


def parse_duration_ms(value: object) -> int:
    """Parse a duration: a Prometheus string (``"5m"``) or a number of seconds.

    Raises
    ------
    ValueError
        On anything else, negative numbers included, with the accepted forms named.

    Examples
    --------
    >>> parse_duration_ms("2m"), parse_duration_ms("1d6h"), parse_duration_ms(1.5)
    (120000, 108000000, 1500)
    >>> parse_duration_ms("5 minutes")
    Traceback (most recent call last):
      ...
    ValueError: duration '5 minutes' must look like 30s, 5m, 1h30m or 3d, or be seconds
    """
    if isinstance(value, bool):
        raise ValueError(f"duration {value!r} must be a string like 5m or seconds")
    if isinstance(value, int | float):
        if value < 0 or value != value or value == float("inf"):
            raise ValueError(f"duration {value!r} must be a finite number >= 0 of seconds")
        return round(value * 1000)
    if isinstance(value, str):
        text = value.strip()
        if text == "0":
            return 0
        if _DURATION.fullmatch(text):
            return sum(int(n) * _UNIT_MS[unit] for n, unit in _PART.findall(text))
    raise ValueError(f"duration {value!r} must look like 30s, 5m, 1h30m or 3d, or be seconds")


def format_duration(ms: int) -> str:
    """Format milliseconds as the shortest Prometheus duration string.

    Examples
    --------
    >>> format_duration(0), format_duration(300_000), format_duration(93_600_000)
    ('0s', '5m', '1d2h')
    >>> format_duration(1500)
    '1s500ms'
    """
    if ms <= 0:
        return "0s"
    parts: list[str] = []
    for unit in ("d", "h", "m", "s", "ms"):
        size = _UNIT_MS[unit]
        if ms >= size:
            parts.append(f"{ms // size}{unit}")
            ms %= size
    return "".join(parts)
