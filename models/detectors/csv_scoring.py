"""Score a ``timestamp,value`` CSV stream line by line (``computeperf detect``).

Behaviour, line by line:

* an optional header on the first non-blank line (one whose timestamp does not parse,
  e.g. ``timestamp,value``) and blank lines yield nothing;
* every data line yields exactly one float, as soon as it is read (the scorer never
  looks ahead): the ensemble score in [0, 1], or **NaN while the ensemble is warming
  up** - NaN means "unknown", and 0.0 would wrongly read as "healthy";
* timestamps are epoch seconds (``< 1e11``, fractions allowed) or epoch milliseconds,
  or ISO-8601 (naive times are UTC); they must strictly increase;
* any other malformed line (wrong field count, unparsable timestamp after the header,
  non-finite or unparsable value, time not after the previous line) raises
  :class:`ValueError` naming its 1-based line number, after the scores of the lines
  before it were yielded.

>>> lines = ["timestamp,value"] + [f"{60 * i},{10 + i * 7 % 5 / 10}" for i in range(40)]
>>> scores = list(score_csv_lines(lines + ["2400,50.0"]))
>>> len(scores), math.isnan(scores[0]), scores[-2] < 0.5, scores[-1] > 0.9
(41, True, True, True)
>>> list(score_csv_lines(["0,1.0", "oops,2.0"]))
Traceback (most recent call last):
...
ValueError: line 2: cannot parse timestamp 'oops'
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from models.detectors.ensemble import EnsembleDetector

__all__ = ["parse_timestamp_ms", "score_csv_lines"]

#: Epoch numbers below this are seconds (1e11 s is the year 5138; 1e11 ms is 1973).
_SECONDS_BELOW = 1e11


def parse_timestamp_ms(text: str) -> int:
    """Epoch milliseconds of an epoch-seconds, epoch-ms or ISO-8601 timestamp.

    >>> parse_timestamp_ms("1700000000"), parse_timestamp_ms("1700000000000")
    (1700000000000, 1700000000000)
    >>> parse_timestamp_ms("2023-11-14T22:13:20Z"), parse_timestamp_ms("2023-11-14 22:13:20")
    (1700000000000, 1700000000000)
    """
    text = text.strip()
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if math.isfinite(number):
        return round(number * 1000) if abs(number) < _SECONDS_BELOW else round(number)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"cannot parse timestamp {text!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return round(parsed.timestamp() * 1000)


def score_csv_lines(
    lines: Iterable[str], *, detector: EnsembleDetector | None = None
) -> Iterator[float]:
    """Yield one score per data line of a ``timestamp,value`` CSV (see module doc).

    Parameters
    ----------
    lines : iterable of str
        The CSV lines (trailing newlines allowed); consumed lazily.
    detector : EnsembleDetector, optional
        The detector to use; default: :class:`EnsembleDetector` with seed 0, a daily
        season and the step inferred from the data.
    """
    det = detector if detector is not None else EnsembleDetector(seed=0)
    last_ts_ms: int | None = None
    seen_data_or_header = False
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            continue
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != 2:
            raise ValueError(f"line {number}: expected 2 fields, got {len(fields)}")
        try:
            ts_ms = parse_timestamp_ms(fields[0])
        except ValueError as exc:
            if not seen_data_or_header:
                seen_data_or_header = True
                continue
            raise ValueError(f"line {number}: {exc}") from None
        seen_data_or_header = True
        try:
            value = float(fields[1])
        except ValueError:
            raise ValueError(f"line {number}: cannot parse value {fields[1]!r}") from None
        if not math.isfinite(value):
            raise ValueError(f"line {number}: value {fields[1]!r} is not finite")
        if last_ts_ms is not None and ts_ms <= last_ts_ms:
            raise ValueError(f"line {number}: timestamp is not after the previous line's")
        last_ts_ms = ts_ms
        x = {"value": value}
        score = det.score_one(x, ts_ms)
        det.learn_one(x, ts_ms)
        yield score.value if score is not None and score.warm else math.nan
