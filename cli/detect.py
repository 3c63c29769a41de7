"""``computeperf detect``: score an exported ``timestamp,value`` series, line by line.

Reads CSV lines on stdin (header optional; several value columns allowed) and writes one
score per data line on stdout as soon as that line is read (flushed; nothing waits for
the end of input), with :class:`~models.detectors.series.SeriesDetector`. The parsing
and scoring rules are :func:`models.detectors.csv_scoring.score_csv_rows`; this module
only maps its output to text and its errors to an exit status. It imports no River,
numpy or Faust: it starts once per exported file.

Warm-up: the ensemble cannot judge a series it has barely seen, and 0.0 would read as
"healthy". Every line still gets a number in [0, 1], as the issue asks: by default 0.5,
"as likely anomalous as not", which no threshold above 0.5 turns into an alarm and which
cannot be mistaken for a confident "normal". ``--warmup-value nan`` prints ``nan``
instead, for consumers that can tell "unknown" apart.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterator
from typing import IO

import click

from models.detectors.csv_scoring import score_csv_rows
from models.detectors.series import SeriesDetector

__all__ = ["detect", "format_scores"]

#: Exit status of malformed input (click's own usage-error status).
EXIT_BAD_INPUT = 2


def _warmup_value(ctx: click.Context, param: click.Parameter, value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a number") from None
    if math.isnan(number) or 0.0 <= number <= 1.0:
        return number
    raise click.BadParameter(f"{value} is not in [0, 1] (or nan)")


def format_scores(
    scores: Iterator[tuple[float, str | None]], warmup_value: float, *, explain: bool = False
) -> Iterator[str]:
    """Text line of each score (NaN from the scorer = warm-up = ``warmup_value``).

    Twelve decimals: scores are graded, and rounding to fewer would tie the top ones.
    With ``explain``, the driving column follows the score (empty during warm-up).

    >>> list(format_scores(iter([(float("nan"), None), (0.25, "a"), (1.0, "b")]), 0.5))
    ['0.500000000000', '0.250000000000', '1.000000000000']
    >>> list(format_scores(iter([(float("nan"), None), (0.25, "m2")]), float("nan"), explain=True))
    ['nan,', '0.250000000000,m2']
    """
    for score, column in scores:
        value = warmup_value if math.isnan(score) else score
        text = "nan" if math.isnan(value) else f"{value:.12f}"
        yield f"{text},{column or ''}" if explain else text


def _lines(stream: IO[str]) -> Iterator[str]:
    # readline, not iteration: one line at a time, never a read-ahead that waits for more.
    return iter(stream.readline, "")


@click.command("detect")
@click.option(
    "--warmup-value",
    default="0.5",
    show_default=True,
    callback=_warmup_value,
    help="Score printed while the detector warms up (the series' first 30 rows): "
    "a number in [0, 1] (0.5 = unknown) or 'nan'.",
)
@click.option(
    "--columns",
    default=None,
    help="Comma-separated value columns to score, by header name (default: all).",
)
@click.option(
    "--explain", is_flag=True, help="Print 'score,column': the column driving each score."
)
def detect(warmup_value: float, columns: str | None, explain: bool) -> None:
    """Score CSV `timestamp,value[,value...]` lines from stdin: one score per data line.

    Timestamps are epoch seconds, epoch milliseconds or ISO-8601 (naive = UTC). Rows are
    a sequence: a repeated timestamp or a step back in time is scored like any other row,
    in input order (never dropped, merged or re-sorted; only the hour of day of a
    timestamp is used, as context). A header line (e.g.
    `timestamp,m1,m2`) names the value columns; several columns are scored together,
    one score per row. A header line and blank lines print nothing. Scores are in
    [0, 1], graded (>= 0.5: anomalous); during warm-up (the first 30 rows) the
    --warmup-value is printed. Output is flushed after every line. Malformed input
    (unparsable or non-finite value, wrong field count) stops with exit status 2 and the
    line number on stderr, after the scores of the lines before it.

    \b
    Example:
        printf 'timestamp,value\\n0,1.0\\n60,1.1\\n' | computeperf detect
    """
    stdout = click.get_text_stream("stdout")
    picked = [c.strip() for c in columns.split(",")] if columns else None
    scores = score_csv_rows(
        _lines(click.get_text_stream("stdin")), detector=SeriesDetector(), columns=picked
    )
    try:
        for text in format_scores(scores, warmup_value, explain=explain):
            stdout.write(text + "\n")
            stdout.flush()
    except ValueError as exc:
        if not str(exc).startswith("line "):
            raise  # not an input error: a bug, with its traceback
        click.echo(f"computeperf detect: error: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, like other filters; stdout is
        # pointed at /dev/null so the interpreter's final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)


if __name__ == "__main__":  # pragma: no cover - `python -m cli.detect` for tests
    detect()
