"""The simulator's host metrics, workload faults and ground truth (sim/bottlenecks.py).

The first test pins the records of the simulator as it was before host metrics existed
(SHA-256 of every record without the three new fields, for a few seeds): other
evaluations rely on their fixed-seed figures, so adding fields must not change a value.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from schemas import BottleneckKind, WorkloadSample, WorkloadType
from sim.bottlenecks import WorkloadFault, true_bottleneck
from sim.incidents import Incident
from sim.marketplace import MarketplaceSim

T0 = 1_700_000_000_000
NEW_FIELDS = ("cpu_util_pct", "mem_bw_util_pct", "io_wait_pct")
# Computed with the simulator at commit 917ab92 (before host metrics were added).
DIGESTS = {
    (7, 12, 24, 8, 4): "16cd2daa41fb510de71adbcf2c8e48f0ba700dc059cb2af23a531cff88766d48",
    (11, 8, 16, 8, 3): "23e5c6e8add7e53bc94c5b47e1974509795458dd30450bd05ad6f9bff4d5d037",
    (1, 20, 40, 5, 6): "a807b8f24664ebcc3d4281aa6d44bf924e36c4f6f06ff78e0d735d3704c7e33d",
}


def _digest(seed: int, providers: int, workloads: int, minutes: int, incidents: int) -> str:
    sim = MarketplaceSim(
        seed=seed, providers=providers, workloads=workloads, random_incidents=incidents
    )
    h = hashlib.sha256()
    for r in sim.records(T0, T0 + minutes * 60_000):
        d = r.record.model_dump(mode="json")
        for k in NEW_FIELDS:
            d.pop(k, None)
        h.update(json.dumps([r.topic, r.key, d], sort_keys=True).encode())
    return h.hexdigest()


@pytest.mark.parametrize("args", sorted(DIGESTS))
def test_existing_fields_are_unchanged_for_existing_seeds(
    args: tuple[int, int, int, int, int],
) -> None:
    assert _digest(*args) == DIGESTS[args]


def _workload_samples(sim: MarketplaceSim, minutes: int) -> list[WorkloadSample]:
    return [
        r.record
        for r in sim.records(T0, T0 + minutes * 60_000)
        if isinstance(r.record, WorkloadSample)
    ]


def test_every_workload_sample_carries_host_metrics_in_range() -> None:
    samples = _workload_samples(MarketplaceSim(seed=3, providers=6, workloads=12), 2)
    for s in samples:
        for name in NEW_FIELDS:
            value = getattr(s, name)
            assert value is not None and 0.0 <= value <= 100.0


def test_faults_change_only_their_workload_and_leave_their_signature() -> None:
    base = MarketplaceSim(seed=5, providers=6, workloads=12)
    target = base.workload_profiles[0]
    kinds = list(BottleneckKind)
    ref = _workload_samples(base, 3)
    for kind in (
        BottleneckKind.CPU_STARVED,
        BottleneckKind.MEMORY_BOUND,
        BottleneckKind.NETWORK_IO_BOUND,
        BottleneckKind.UNDER_UTILISED,
    ):
        fault = WorkloadFault(kind, target.workload_id, T0 + 60_000, T0 + 120_000)
        sim = MarketplaceSim(seed=5, providers=6, workloads=12, workload_faults=[fault])
        got = _workload_samples(sim, 3)
        assert sim.workload_faults == [fault]
        other_same = [
            a == b for a, b in zip(ref, got, strict=True) if a.workload_id != target.workload_id
        ]
        assert all(other_same)
        inside = [
            (a, b)
            for a, b in zip(ref, got, strict=True)
            if a.workload_id == target.workload_id and fault.active(a.ts_ms)
        ]
        assert len(inside) == 60
        before = np.array([[a.cpu_util_pct, a.mem_bw_util_pct, a.io_wait_pct] for a, _ in inside])
        after = np.array([[b.cpu_util_pct, b.mem_bw_util_pct, b.io_wait_pct] for _, b in inside])
        col = {
            BottleneckKind.CPU_STARVED: 0,
            BottleneckKind.MEMORY_BOUND: 1,
            BottleneckKind.NETWORK_IO_BOUND: 2,
        }.get(kind)
        if col is not None:
            assert after[:, col].mean() > before[:, col].mean() + 20.0
        assert np.mean([b.throughput for _, b in inside]) < np.mean(
            [a.throughput for a, _ in inside]
        )
        assert kind in kinds


def test_fault_validation() -> None:
    with pytest.raises(ValueError, match="one of"):
        WorkloadFault("thermal_throttling", "w", 0, 1)
    with pytest.raises(ValueError, match="after start_ms"):
        WorkloadFault("cpu_starved", "w", 5, 5)
    with pytest.raises(ValueError, match="severity"):
        WorkloadFault("cpu_starved", "w", 0, 5, severity=0.0)
    with pytest.raises(ValueError, match="unknown workload"):
        MarketplaceSim(
            seed=1,
            providers=2,
            workloads=2,
            workload_faults=[WorkloadFault("cpu_starved", "x", 0, 5)],
        )


@pytest.mark.parametrize(
    ("wtype", "incidents", "faults", "expected"),
    [
        (WorkloadType.TRAINING, [], [], BottleneckKind.GPU_BOUND),
        (WorkloadType.INFERENCE, [], [], BottleneckKind.UNDER_UTILISED),
        (
            WorkloadType.RENDERING,
            [Incident("thermal_throttling", "p", 0, 10)],
            [],
            BottleneckKind.THERMAL_THROTTLING,
        ),
        (
            WorkloadType.INFERENCE,
            [Incident("network_degradation", "p", 0, 10)],
            [],
            BottleneckKind.NETWORK_IO_BOUND,
        ),
        (
            WorkloadType.TRAINING,
            [Incident("price_spike", "p", 0, 10)],
            [],
            BottleneckKind.GPU_BOUND,
        ),
        (WorkloadType.TRAINING, [Incident("noisy_neighbour", "p", 0, 10)], [], None),
        (
            WorkloadType.TRAINING,
            [Incident("thermal_throttling", "p", 0, 10)],
            [WorkloadFault("cpu_starved", "w", 0, 10)],
            None,
        ),
        (
            WorkloadType.TRAINING,
            [Incident("thermal_throttling", "p", 10, 20)],
            [],
            BottleneckKind.GPU_BOUND,
        ),
    ],
)
def test_ground_truth_table(
    wtype: WorkloadType,
    incidents: list[Incident],
    faults: list[WorkloadFault],
    expected: BottleneckKind | None,
) -> None:
    assert true_bottleneck(wtype, incidents, faults, 5) == expected
