"""Detection quality of the ensemble: incidents caught within two windows, quiet elsewhere.

Two sources of ground truth:

* synthetic hourly windows (``models.detectors.synthetic``) with a daily cycle, drift,
  injected spikes and level shifts, and a permanent level shift;
* the marketplace simulator (``sim.MarketplaceSim``) with injected incidents, its
  provider telemetry aggregated here into one-minute windows (mean and p95 per metric).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from models.detectors import (
    EnsembleDetector,
    ForecastResidualDetector,
    HalfSpaceTreesDetector,
    RobustBaselineDetector,
    evaluate,
)
from models.detectors.synthetic import Injection, random_injections, synthetic_stream
from sim import Incident, MarketplaceSim

DAY = 24


@pytest.mark.parametrize("seed", [0, 3, 6])
def test_synthetic_incidents_caught_within_two_windows(seed: int) -> None:
    injections = random_injections(seed, 6, 5 * DAY, 14 * DAY)
    points = synthetic_stream(seed, 14 * DAY, injections=injections)
    quality = evaluate(EnsembleDetector(seed=seed), points, threshold=0.9, max_delay=2)
    assert quality.incidents == 6
    assert quality.detected == 6
    assert quality.false_alarms == 0
    assert quality.unknown == 28


def test_synthetic_quality_pinned_over_seeds() -> None:
    detected = incidents = alarms = false_alarms = 0
    for seed in (1, 2, 4, 5, 7):
        injections = random_injections(seed, 6, 5 * DAY, 14 * DAY)
        q = evaluate(
            EnsembleDetector(seed=seed), synthetic_stream(seed, 14 * DAY, injections=injections)
        )
        detected += q.detected
        incidents += q.incidents
        alarms += q.alarms
        false_alarms += q.false_alarms
    # Pinned like River pins ROCAUC: a change of behaviour must show up here. Before the
    # robust baseline got its heavy-tail scale floor and a 96-point window (which buy the
    # precision on simulated telemetry, see detection_eval) this was (30, 30, 0, 91):
    # the wider healthy spread of four days of an hourly daily cycle costs 2 of 30.
    assert (detected, incidents, false_alarms, alarms) == (28, 30, 0, 79)


def test_quiet_on_a_healthy_stream() -> None:
    quality = evaluate(EnsembleDetector(seed=4), synthetic_stream(4, 14 * DAY))
    assert quality.alarms <= 1
    assert quality.unknown == 28


def test_incident_does_not_poison_the_baseline() -> None:
    # A 10-window level shift (shorter than shift_windows): every window of it is
    # flagged, because none of it was learned, and the return to normal is quiet.
    injection = Injection(10 * DAY, 10, "temp", 9.0)
    det = EnsembleDetector(seed=0)
    points = synthetic_stream(0, 12 * DAY, injections=[injection])
    flagged = []
    for p in points:
        score = det.score_one(p.x, p.ts_ms)
        det.learn_one(p.x, p.ts_ms)
        if score is not None and score.warm and score.value >= 0.9:
            flagged.append(p.index)
    assert flagged == list(range(10 * DAY, 10 * DAY + 10))
    assert det.rebaselines == 0


def test_level_shift_becomes_the_new_normal() -> None:
    det = EnsembleDetector(seed=7, shift_windows=12)
    points = synthetic_stream(7, 14 * DAY, shift_at=8 * DAY)
    alarms = []
    for p in points:
        score = det.score_one(p.x, p.ts_ms)
        det.learn_one(p.x, p.ts_ms)
        if score is not None and score.warm and score.value >= 0.9:
            alarms.append(p.index)
    assert alarms[0] == 8 * DAY  # caught at once
    assert alarms == list(range(8 * DAY, 8 * DAY + 12))  # then re-baselined: quiet
    assert det.rebaselines == 1


WINDOW_MS = 60_000
T0_MS = 1_699_999_200_000  # on the hour
FEATURES = (
    "gpu_util_pct",
    "gpu_temp_c",
    "power_w",
    "sm_clock_mhz",
    "net_rtt_ms",
    "net_bandwidth_gbps",
    "gpu_mem_used_gb",
    "error_count",
)


def provider_windows(sim: MarketplaceSim, n_windows: int) -> dict[str, list[tuple[int, dict]]]:
    """One-minute windows per provider: mean and p95 of each metric."""
    samples: dict[tuple[str, int], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for rec in sim.records(T0_MS, T0_MS + n_windows * WINDOW_MS):
        if rec.topic != "telemetry.provider":
            continue
        s = rec.record
        window = samples[(s.provider_id, s.ts_ms - s.ts_ms % WINDOW_MS)]
        for name in FEATURES:
            window[name].append(float(getattr(s, name)))
    out: dict[str, list[tuple[int, dict]]] = defaultdict(list)
    for (provider, start), values in sorted(samples.items()):
        x = {}
        for name, vs in values.items():
            x[f"{name}.mean"] = float(np.mean(vs))
            x[f"{name}.p95"] = float(np.quantile(vs, 0.95))
        out[provider].append((start, x))
    return out


def test_simulated_marketplace_incidents() -> None:
    def at(minute: int) -> int:
        return T0_MS + minute * WINDOW_MS

    incidents = [
        Incident("thermal_throttling", "prov-001", at(100), at(106), 0.8),
        Incident("network_degradation", "prov-001", at(150), at(155), 0.7),
        Incident("noisy_neighbour", "prov-002", at(130), at(136), 0.9),
        Incident("memory_creep", "prov-000", at(170), at(180), 1.0),
    ]
    sim = MarketplaceSim(seed=3, providers=3, workloads=6, interval_ms=5000, incidents=incidents)
    first_alarm: dict[Incident, int] = {}
    false_alarms = []
    for provider, windows in provider_windows(sim, 200).items():
        det = EnsembleDetector(
            [
                # Error counts are mostly 0: one error is the resolution, not a 1e9 sigma.
                RobustBaselineDetector(
                    min_abs_scale={"error_count.mean": 1.0, "error_count.p95": 1.0}
                ),
                HalfSpaceTreesDetector(seed=0),
                ForecastResidualDetector(step_ms=WINDOW_MS),
            ]
        )
        for start, x in windows:
            score = det.score_one(x, start)
            det.learn_one(x, start)
            if score is None or not score.warm or score.value < 0.9:
                continue
            mine = [i for i in incidents if i.provider_id == provider]
            hit = [i for i in mine if i.start_ms <= start < i.end_ms]
            for inc in hit:
                first_alarm.setdefault(inc, (start - inc.start_ms) // WINDOW_MS)
            # The window right after an incident still shows it (GPUs cooling down).
            if not hit and not any(i.end_ms <= start < i.end_ms + WINDOW_MS for i in mine):
                false_alarms.append((provider, start))
    assert false_alarms == []
    assert {i.kind.value: d for i, d in first_alarm.items()} == {
        "thermal_throttling": 0,
        "network_degradation": 0,
        "noisy_neighbour": 0,
        "memory_creep": 0,
    }
