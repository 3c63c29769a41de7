"""The demo scenario of ``computeperf run`` (sim/demo.py): what it promises to show, when."""

from __future__ import annotations

from collections import Counter

import pytest

from schemas import ProviderSample, WorkloadEvent, WorkloadEventKind
from sim.demo import demo_scenario
from sim.incidents import IncidentKind

NOW_MS = 1_790_000_047_000  # 47 s into a minute
WINDOW_MS = 60_000


def test_thermal_incident_fills_two_windows_before_the_live_minute_ends_then_stops() -> None:
    demo = demo_scenario(seed=2, providers=12, workloads=12, now_ms=NOW_MS)
    assert demo.live_ms % WINDOW_MS == 0 and demo.live_ms <= NOW_MS
    [thermal] = [i for i in demo.incidents if i.kind is IncidentKind.THERMAL_THROTTLING]
    # Two full windows hot: [T0-60, T0) and [T0, T0+60) fire the 2-window rule when the
    # second closes, about a minute after the live start.
    assert thermal.start_ms <= demo.live_ms - WINDOW_MS
    assert thermal.end_ms >= demo.live_ms + WINDOW_MS
    # Over before [T0+120, T0+180) starts with margin to cool: that window resolves it.
    assert thermal.end_ms <= demo.live_ms + 2 * WINDOW_MS - 5_000
    # History long enough for the anomaly detectors' 24-window warm-up.
    assert demo.live_ms - demo.start_ms >= 25 * WINDOW_MS


def test_the_temperature_really_crosses_the_alert_threshold_and_comes_back() -> None:
    demo = demo_scenario(seed=2, providers=12, workloads=12, now_ms=NOW_MS)
    temps: dict[int, list[float]] = {}
    for r in demo.records(end_ms=demo.live_ms + 3 * WINDOW_MS):
        if isinstance(r.record, ProviderSample) and r.key == demo.thermal_provider:
            start = r.ts_ms - r.ts_ms % WINDOW_MS
            temps.setdefault(start, []).append(r.record.gpu_temp_c)

    def p95(values: list[float]) -> float:
        return sorted(values)[int(0.95 * (len(values) - 1))]

    t0 = demo.live_ms
    assert p95(temps[t0 - 2 * WINDOW_MS]) < 80
    assert p95(temps[t0 - WINDOW_MS]) > 85 and p95(temps[t0]) > 85
    assert p95(temps[t0 + 2 * WINDOW_MS]) < 80


def test_arrivals_wait_unplaced_and_the_degrading_host_runs_one_workload() -> None:
    demo = demo_scenario(seed=2, providers=12, workloads=12, now_ms=NOW_MS, arrivals=4)
    records = list(demo.records(end_ms=demo.live_ms + 4 * WINDOW_MS))
    assert [r.ts_ms for r in records] == sorted(r.ts_ms for r in records)
    events = [r.record for r in records if isinstance(r.record, WorkloadEvent)]
    arrived = {e.workload_id for e in demo.arrivals}
    assert len(arrived) == 4
    assert all(demo.live_ms < e.ts_ms < demo.live_ms + 3 * WINDOW_MS for e in demo.arrivals)
    kinds = Counter((e.workload_id in arrived, e.kind) for e in events)
    assert kinds[(True, WorkloadEventKind.SUBMITTED)] == 4
    assert kinds[(True, WorkloadEventKind.STARTED)] == 0
    started_on = Counter(e.provider_id for e in events if e.kind is WorkloadEventKind.STARTED)
    assert started_on[demo.degrading_provider] == 1
    # The fleet was running before: one started event each, spec included, no submission.
    fleet = [e for e in events if e.workload_id not in arrived]
    assert len(fleet) == 12
    assert all(e.kind is WorkloadEventKind.STARTED and e.spec is not None for e in fleet)
    assert len({demo.thermal_provider, demo.noisy_provider, demo.degrading_provider}) == 3


def test_same_inputs_same_demo() -> None:
    a = demo_scenario(seed=3, providers=6, workloads=4, now_ms=NOW_MS)
    b = demo_scenario(seed=3, providers=6, workloads=4, now_ms=NOW_MS)
    end = a.live_ms + 30_000
    assert list(a.records(end_ms=end)) == list(b.records(end_ms=end))


def test_a_full_fleet_is_refused_with_a_reason() -> None:
    # seed 1: 24 workloads take every one of the 12 providers' 35 GPUs.
    with pytest.raises(ValueError, match="no spare capacity"):
        demo_scenario(seed=1, providers=12, workloads=24, now_ms=NOW_MS)
