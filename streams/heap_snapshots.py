"""Heap snapshots of a running worker on request, to find what grows (``bench soak``).

A worker started with ``PYTHONTRACEMALLOC=1`` (Python traces every allocation, with a
cost in speed and memory) writes a :mod:`tracemalloc` snapshot to ``DIR/heap-N.snap``
each time it gets ``SIGUSR2``, where ``DIR`` is the worker's ``data_dir``. Without the
variable nothing is installed and the signal keeps its default meaning.

>>> snapshot_path(Path("/d"), 3)
PosixPath('/d/heap-3.snap')
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import tracemalloc
from pathlib import Path

__all__ = ["install", "snapshot_path"]


def snapshot_path(folder: Path, n: int) -> Path:
    """Where the ``n``-th snapshot (from 0) of a worker with ``data_dir`` ``folder`` goes."""
    return folder / f"heap-{n}.snap"


def install(folder: Path) -> bool:
    """On ``SIGUSR2``, dump a snapshot to the next :func:`snapshot_path` (when tracing).

    Must be called from the running event loop; returns whether it installed anything.
    """
    if not tracemalloc.is_tracing():
        return False
    counter = itertools.count()

    def dump() -> None:
        path = snapshot_path(folder, next(counter))
        folder.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".part")
        tracemalloc.take_snapshot().dump(str(partial))
        partial.rename(path)  # readers never see half a file

    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR2, dump)
    return True
