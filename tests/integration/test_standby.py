"""Issue 17, point 4: a single-instance role's standby takes over when the active worker
dies, and nothing is decided twice (streams/lease.py).

Two workers with the ``approvals`` role: the second waits as a standby. The active one
approves three proposals and is SIGKILLed; the standby takes over and decides four more,
one of which the rate limit must reject because of a grant the dead worker made.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from infra.kafka.broker import free_port
from schemas import Recommendation
from streams.workers import WorkerProcess
from tests.integration.harness import decode_all, drain, produce, start_worker
from tests.integration.test_approvals import S, decided, now_ms, proposed, role_settings, submitted

pytestmark = pytest.mark.kafka


def wait_for_line(path: Path, text: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise AssertionError(f"{text!r} not in {path} after {timeout_s}s")


def test_standby_takes_over_and_nothing_is_decided_twice(
    kafka_bootstrap: str, tmp_path: Path, report_figure: Callable[[str, float, str], None]
) -> None:
    # Failover takes about the session timeout plus a start-up: 10 s, not the default 30.
    settings = role_settings(kafka_bootstrap, tmp_path, dry_run=False).model_copy(
        update={"session_timeout_s": 10.0}
    )
    asyncio.run(produce(settings, [submitted(f"wl-{i}", "acme", now_ms()) for i in range(1, 8)]))
    active = start_worker(settings, tmp_path, "active")
    standby = WorkerProcess(
        settings.model_copy(update={"web_port": free_port()}), tmp_path / "standby.log"
    ).launch()
    try:
        wait_for_line(standby.log, "standby: another worker holds the lease", 60)
        before = [proposed(f"rec-{i}", f"wl-{i}", f"prov-00{i}", now_ms()) for i in (1, 2, 3)]
        asyncio.run(produce(settings, before))
        decided(settings, {f"rec-{i}": S.APPROVED for i in (1, 2, 3)})

        active.kill()
        killed_at = time.monotonic()
        after = [proposed(f"rec-{i}", f"wl-{i}", f"prov-00{i}", now_ms()) for i in (4, 5, 6)]
        # prov-001 had its one action this hour from the dead worker: the limit holds.
        after.append(proposed("rec-7", "wl-7", "prov-001", now_ms()))
        asyncio.run(produce(settings, after))
        late = decided(
            settings, {**{f"rec-{i}": S.APPROVED for i in (4, 5, 6)}, "rec-7": S.REJECTED}
        )
        report_figure("standby_takeover_s", time.monotonic() - killed_at, "s")
        assert late["rec-7"].reason.startswith("rate limit"), late["rec-7"].reason

        history = decode_all(
            Recommendation,
            asyncio.run(drain(settings, "perf.recommendations", until=lambda r: len(r) >= 14)),
        )
        decisions = Counter(r.recommendation_id for r in history if r.actor.startswith("policy:"))
        assert decisions == {f"rec-{i}": 1 for i in range(1, 8)}, "decided twice or not at all"
        # The standby decided only what came after the kill.
        standby.wait_ready(30)
        assert standby.metric("computeperf_approval_decisions_total", status="approved") == 3
        assert standby.metric("computeperf_approval_decisions_total", status="rejected") == 1
    finally:
        active.stop()
        standby.stop()
