"""Score a ``timestamp,value[,value...]`` CSV stream line by line (``computeperf detect``).

Behaviour, line by line:

* an optional header on the first non-blank line (one whose timestamp does not parse,
  e.g. ``timestamp,value`` or ``timestamp,m1,m2``) names the value columns; it and
  blank lines yield nothing;
* every data line yields exactly one score, as soon as it is read (the scorer never
  looks ahead): the detector's score in [0, 1] over all value columns together (with
  the column that drives it, :func:`score_csv_rows`), or **NaN while the detector is
  warming up** - NaN means "unknown", and 0.0 would wrongly read as "healthy";
* timestamps are epoch seconds (``< 1e11``, fractions allowed) or epoch milliseconds,
  or ISO-8601 (naive times are UTC). **Rows are a sequence**: a repeated timestamp or
  a step back in time is scored like any other row, in input order (real exports have
  both); rows are never dropped, merged or re-sorted;
* any other malformed line (wrong field count, unparsable timestamp after the header,
  non-finite or unparsable value) raises :class:`ValueError` naming its 1-based line
  number, after the scores of the lines before it were yielded.

>>> lines = ["timestamp,value"] + [f"{60 * i},{10 + i * 7 % 5 / 10}" for i in range(400)]
>>> scores = list(score_csv_lines(lines + ["24000,50.0"]))
>>> len(scores), math.isnan(scores[0]), scores[-2] < 0.5, scores[-1] > 0.5
(401, True, True, True)
>>> list(score_csv_lines(["0,1.0", "oops,2.0"]))
Traceback (most recent call last):
...
ValueError: line 2: cannot parse timestamp 'oops'
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime

from models.detectors.score import Detector

__all__ = ["parse_timestamp_ms", "score_csv_lines", "score_csv_rows"]

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


def score_csv_rows(
    lines: Iterable[str],
    *,
    detector: Detector | None = None,
    columns: Sequence[str] | None = None,
) -> Iterator[tuple[float, str | None]]:
    """Yield ``(score, driving column)`` per data line of a CSV (see module doc).

    Parameters
    ----------
    lines : iterable of str
        The CSV lines (trailing newlines allowed); consumed lazily.
    detector : Detector, optional
        The detector to use; default: :class:`~models.detectors.series.SeriesDetector`.
    columns : sequence of str, optional
        Value columns to score, by header name (default: every column after the
        timestamp). Needs a header.
    """
    if detector is None:
        from models.detectors.series import SeriesDetector

        detector = SeriesDetector()
    names: list[str] | None = None
    picked: list[int] | None = None
    seen_data_or_header = False
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            continue
        fields = [f.strip() for f in line.split(",")]
        try:
            ts_ms = parse_timestamp_ms(fields[0])
        except ValueError as exc:
            if not seen_data_or_header:
                seen_data_or_header = True
                names = fields[1:]
                picked = _pick(names, columns, number)
                continue
            raise ValueError(f"line {number}: {exc}") from None
        seen_data_or_header = True
        if names is None:
            if columns is not None:
                raise ValueError(f"line {number}: --columns needs a header line")
            names = ["value"] if len(fields) == 2 else [f"v{i}" for i in range(1, len(fields))]
            picked = list(range(len(names)))
        assert picked is not None
        if len(fields) != len(names) + 1:
            raise ValueError(f"line {number}: expected {len(names) + 1} fields, got {len(fields)}")
        x: dict[str, float] = {}
        for i in picked:
            try:
                value = float(fields[i + 1])
            except ValueError:
                raise ValueError(f"line {number}: cannot parse value {fields[i + 1]!r}") from None
            if not math.isfinite(value):
                raise ValueError(f"line {number}: value {fields[i + 1]!r} is not finite")
            x[names[i]] = value
        # Rows are a sequence: a repeated timestamp or a step back is scored like any
        # other row (real exports have both); the detector never indexes state by time.
        score = detector.score_one(x, ts_ms)
        detector.learn_one(x, ts_ms)
        if score is None or not score.warm:
            yield math.nan, None
        else:
            yield score.value, score.top_feature


def _pick(names: list[str], columns: Sequence[str] | None, number: int) -> list[int]:
    if not names:
        raise ValueError(f"line {number}: the header has no value column")
    if columns is None:
        return list(range(len(names)))
    unknown = [c for c in columns if c not in names]
    if unknown:
        raise ValueError(f"line {number}: no column {', '.join(map(repr, unknown))} in the header")
    return [names.index(c) for c in columns]


def score_csv_lines(
    lines: Iterable[str],
    *,
    detector: Detector | None = None,
    columns: Sequence[str] | None = None,
) -> Iterator[float]:
    """Yield one score per data line of a CSV (see module doc and :func:`score_csv_rows`)."""
    for score, _ in score_csv_rows(lines, detector=detector, columns=columns):
        yield score
