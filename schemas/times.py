"""Times on the wire are UTC epoch milliseconds; this parses what people type."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["parse_time_ms"]


def parse_time_ms(text: str) -> int:
    """Parse an ISO-8601 time (UTC when no offset is given) to epoch milliseconds.

    Examples
    --------
    >>> parse_time_ms("2024-01-01T00:00:00Z")
    1704067200000
    >>> parse_time_ms("2024-01-01T01:00:00+01:00")
    1704067200000
    """
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return round(dt.timestamp() * 1000)
