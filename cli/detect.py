"""``computeperf detect``: score an exported ``timestamp,value`` series, line by line.

Reads CSV lines on stdin (header optional) and writes one score per data line on stdout
as soon as that line is read (flushed; nothing waits for the end of input), with the
same :class:`~models.detectors.EnsembleDetector` defaults the pipeline uses. The parsing
and scoring rules are :func:`models.detectors.score_csv_lines`; this module only maps
its output to text and its errors to an exit status.

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

from models.detectors import EnsembleDetector, score_csv_lines

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


def format_scores(scores: Iterator[float], warmup_value: float) -> Iterator[str]:
    """Text line of each score (NaN from the scorer = warm-up = ``warmup_value``).

    >>> list(format_scores(iter([float("nan"), 0.25, 1.0]), 0.5))
    ['0.500000', '0.250000', '1.000000']
    >>> list(format_scores(iter([float("nan")]), float("nan")))
    ['nan']
    """
    for score in scores:
        value = warmup_value if math.isnan(score) else score
        yield "nan" if math.isnan(value) else f"{value:.6f}"


def _lines(stream: IO[str]) -> Iterator[str]:
    # readline, not iteration: one line at a time, never a read-ahead that waits for more.
    return iter(stream.readline, "")


@click.command("detect")
@click.option(
    "--warmup-value",
    default="0.5",
    show_default=True,
    callback=_warmup_value,
    help="Score printed while the detectors warm up (the series' first ~20-30 points): "
    "a number in [0, 1] (0.5 = unknown) or 'nan'.",
)
@click.option(
    "--period-s",
    type=click.IntRange(min=1),
    default=86_400,
    show_default=True,
    help="Seasonal period of the series, in seconds.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the detectors.")
def detect(warmup_value: float, period_s: int, seed: int) -> None:
    """Score CSV `timestamp,value` lines from stdin: one anomaly score per data line.

    Timestamps are epoch seconds, epoch milliseconds or ISO-8601 (naive = UTC) and must
    increase. A header line and blank lines print nothing. Scores are in [0, 1]
    (>= 0.9: anomalous); during warm-up the --warmup-value is printed. Output is flushed
    after every line. Malformed input stops with exit status 2 and the line number on
    stderr, after the scores of the lines before it.

    \b
    Example:
        printf 'timestamp,value\\n0,1.0\\n60,1.1\\n' | computeperf detect
    """
    stdout = click.get_text_stream("stdout")
    detector = EnsembleDetector(seed=seed, period_ms=period_s * 1000)
    scores = score_csv_lines(_lines(click.get_text_stream("stdin")), detector=detector)
    try:
        for text in format_scores(scores, warmup_value):
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
