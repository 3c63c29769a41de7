"""Write Faust tables on behalf of a given event (its partition picks the changelog partition).

Faust routes a table write to the changelog partition of the *current event*, found in a
context variable that ``async for event in stream`` sets. Batched processing
(``stream.take_events``) and timers have no current event, and Faust refuses the write
(faust#497); setting the variable explicitly to the event whose key we write keeps the
changelog co-partitioned with the source topic, as Faust itself would.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from faust.streams import _current_event
from faust.types import EventT


@contextmanager
def event_context(event: EventT[Any]) -> Iterator[None]:
    """Make ``event`` the current event for table writes inside the block."""
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)
