"""Progress bars for long commands: on stderr, and only when stderr is a terminal.

A pipe or a log file gets nothing (no carriage-return noise in CI logs, stdout stays the
command's JSON). Built on ``rich.progress``.

>>> import io
>>> with terminal_progress("copying", total=3, stream=io.StringIO()) as advance:
...     advance(2)
...     advance(1)
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

__all__ = ["terminal_progress"]


@contextmanager
def terminal_progress(
    description: str, total: float | None, *, stream: TextIO | None = None
) -> Iterator[Callable[[float], None]]:
    """Yield ``advance(n)``, drawing a bar on ``stream`` (stderr) when it is a terminal.

    ``total=None`` draws a spinner-like bar with a running count instead of an ETA.
    """
    out = sys.stderr if stream is None else stream
    if not out.isatty():
        yield lambda n: None
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(file=out),
        transient=False,
    ) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)
