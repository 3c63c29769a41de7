"""Issue 16: the worker's Faust monitor skips the per-record hooks and keeps the rest."""

from __future__ import annotations

from config.settings import Settings
from streams.app import create_app
from streams.monitor import LeanMonitor


def test_worker_uses_the_lean_monitor() -> None:
    app = create_app(Settings(agents="windows,alerts"))
    monitor = app.monitor
    assert isinstance(monitor, LeanMonitor)
    assert monitor.on_stream_event_in(None, 0, None, None) is None  # type: ignore[arg-type]
    monitor.on_message_in(None, 0, None)  # type: ignore[arg-type]
    assert monitor.messages_received_total == 0
    # Everything else is Faust's own: rebalances are still timed.
    state = monitor.on_rebalance_start(app)
    assert "time_start" in state
