"""A Faust ``Monitor`` without per-record bookkeeping (issue 16).

Faust calls its monitor four times for every record (message in, stream event in and
out, message out): counters, a dict per event, clock reads and a deque of run times that
only Faust's own ``/stats`` pages read, which this app does not serve (its figures are
Prometheus', ``config/metrics.py``). :class:`LeanMonitor` keeps everything else of the
monitor (commits, sends, rebalances, table and web figures) and skips those four.

>>> LeanMonitor().on_stream_event_in(None, 0, None, None) is None  # type: ignore[arg-type]
True
"""

from __future__ import annotations

from typing import Any

from faust.sensors import Monitor


class LeanMonitor(Monitor):
    """Faust's monitor minus the per-record hooks (they are the hot path of a worker)."""

    def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        return None

    def on_stream_event_in(self, tp: Any, offset: int, stream: Any, event: Any) -> None:
        return None

    def on_stream_event_out(
        self, tp: Any, offset: int, stream: Any, event: Any, state: Any = None
    ) -> None:
        return None

    def on_message_out(self, tp: Any, offset: int, message: Any) -> None:
        return None
