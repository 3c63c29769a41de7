"""End to end on a real broker: a workload burning its throughput SLO pages once, across a
worker restart, and resolves when its windows are good again.

Workload windows go straight to ``perf.metrics`` (the analysis role's output): 24 good
windows, 12 below the throughput target, 12 good again, 5-s windows. The rule (objective
0.9, 5x over 1 min and 15 s) breaches from the 6th bad window (6 of 12 bad: 5x) and is
healthy from the 2nd good one (1 bad of 3: 3.3x). The worker is stopped after the 4th bad
window and a new one takes over: the alert fires at the 6th bad window only if the
tracker came back from its changelog (a fresh one would need 6 bad windows of its own).
The restarted worker re-reads what was not committed (replays: ignored), the bad windows
are produced twice (replays again), a healthy workload gets nothing, a broken record is
dead-lettered with its reason.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from schemas import Alert, AlertStatus, DeadLetter, MetricStats, MetricWindow, encode
from tests.integration.harness import decode_all, drain, fresh_settings, produce, start_worker

pytestmark = pytest.mark.kafka

RULES = """
rules:
  - name: WorkloadThroughputSlo
    kind: burn_rate
    entity_type: workload
    objective: 0.9
    sli: throughput
    target: 100
    factor: 5
    long_window: 1m
    short_window: 15s
    severity: page
    annotations:
      summary: "{entity_id} burns its throughput error budget at {value:.1f}x"
"""
WINDOW_MS = 5_000
GOOD, BAD, RECOVERED = 24, 12, 12


def window(workload: str, start_ms: int, throughput: float) -> MetricWindow:
    t = throughput
    return MetricWindow(
        entity_type="workload",
        entity_id=workload,
        window_start_ms=start_ms,
        window_end_ms=start_ms + WINDOW_MS,
        count=5,
        metrics={"throughput": MetricStats(count=5, mean=t, min=t, max=t, p50=t, p95=t, p99=t)},
        availability=1.0,
    )


def messages(windows: list[MetricWindow]) -> list[tuple[str, str, bytes]]:
    return [("perf.metrics", f"workload:{w.entity_id}", encode(w)) for w in windows]


def test_burning_workload_pages_once_across_a_restart_and_resolves(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    settings = fresh_settings(kafka_bootstrap, tmp_path, rules_path=rules, agents="alerts")
    start = (int(time.time() * 1000) - 600_000) // WINDOW_MS * WINDOW_MS
    means = [120.0] * GOOD + [40.0] * BAD + [120.0] * RECOVERED
    burning = [window("w-burn", start + i * WINDOW_MS, m) for i, m in enumerate(means)]
    healthy = [window("w-fine", start + i * WINDOW_MS, 150.0) for i in range(len(means))]
    cut = GOOD + 4
    broken = [("perf.metrics", "workload:w-burn", b'{"entity_type": "workload"')]

    worker = start_worker(settings, tmp_path, name="first")
    try:
        worker.wait_ready()  # produce once its tables are recovered (/readyz)
        asyncio.run(produce(settings, messages(burning[:cut] + healthy[:cut]) + broken))
        # The broken record comes after the first windows on their partition: once it is
        # dead-lettered, their trackers are in the changelog.
        asyncio.run(drain(settings, "perf.dlq", until=lambda r: len(r) >= 1, timeout_s=60))
    finally:
        worker.stop()
    worker = start_worker(settings, tmp_path, name="second")
    try:
        worker.wait_ready()
        rest = burning[cut:] + healthy[cut:] + burning[GOOD : GOOD + BAD]  # bad ones replayed
        asyncio.run(produce(settings, messages(rest)))
        records = asyncio.run(
            drain(
                settings,
                "perf.alerts",
                until=lambda r: any(b'"resolved"' in v for _, v in r),
                timeout_s=60,
            )
        )
        # Anything more (a duplicate, a re-fire) would come with the same windows.
        records = asyncio.run(drain(settings, "perf.alerts", until=lambda r: False, timeout_s=4))
        letters = asyncio.run(drain(settings, "perf.dlq", until=lambda r: False, timeout_s=1))
    finally:
        worker.stop()

    alerts = decode_all(Alert, records)
    assert [(a.labels["alertname"], a.labels["entity_id"], a.status) for a in alerts] == [
        ("WorkloadThroughputSlo", "w-burn", AlertStatus.FIRING),
        ("WorkloadThroughputSlo", "w-burn", AlertStatus.RESOLVED),
    ]
    fired, resolved = alerts
    assert fired.fingerprint == resolved.fingerprint == records[0][0].decode()
    sixth_bad = burning[GOOD + 5]
    assert fired.starts_at_ms == sixth_bad.window_end_ms  # the tracker survived the restart
    assert fired.annotations["summary"] == "w-burn burns its throughput error budget at 5.0x"
    assert fired.labels["slo_window"] == "1m" and fired.severity.value == "page"
    assert resolved.ends_at_ms == burning[GOOD + BAD + 1].window_end_ms
    dead = decode_all(DeadLetter, letters)
    assert dead and {d.source_topic for d in dead} == {settings.topic("perf.metrics")}
    assert all(d.reason and d.error_type != "internal" for d in dead)
    for name in ("first", "second"):
        assert "Traceback" not in (tmp_path / f"{name}.log").read_text()
