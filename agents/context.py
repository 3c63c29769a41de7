"""Write Faust tables on behalf of a partition (the changelog partition Faust would pick).

Faust routes a table write to the changelog partition of the *current event*, found in a
context variable that ``async for event in stream`` sets, and its RocksDB store files the
key under that partition. Batched processing (``stream.take_events``) and timers have no
current event and Faust refuses the write (faust#497); :func:`partition_context` sets a
stand-in event that carries just the partition, so the state stays co-partitioned with
the source topic exactly as Faust would keep it.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from faust.streams import _current_event


@dataclass(frozen=True)
class _Message:
    partition: int


@dataclass(frozen=True)
class _PartitionEvent:
    message: _Message


@contextmanager
def partition_context(partition: int) -> Iterator[None]:
    """Make ``partition`` the current event's partition for table writes in the block."""
    stand_in = _PartitionEvent(_Message(partition))
    token = _current_event.set(weakref.ref(stand_in))  # type: ignore[arg-type]
    try:
        yield
    finally:
        _current_event.reset(token)
