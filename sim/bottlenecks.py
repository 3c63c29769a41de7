"""Host-side evidence of workload bottlenecks, injected workload faults, and their ground truth.

Every workload sample carries three optional metrics a bottleneck classifier needs:
``cpu_util_pct`` (the input pipeline), ``mem_bw_util_pct`` (GPU memory bandwidth) and
``io_wait_pct`` (waiting on network or storage). :func:`host_metrics` derives them from
the workload's state and its provider's incident :class:`~sim.incidents.Effects`, with
noise from a generator of its own (``[seed, 4, workload index]``): the simulator's other
random streams, and so every pre-existing field of every record, are unchanged.

A :class:`WorkloadFault` injects a bottleneck into one workload (a starved data loader,
a memory-bound kernel mix, slow storage, too small a batch); :func:`true_bottleneck`
states the ground truth of a workload at an instant, from its type, its provider's
incidents and its own faults.

>>> fault = WorkloadFault("cpu_starved", "wl-0001", 0, 60_000, severity=1.0)
>>> fault.util_factor, fault.active(59_999)
(0.4, True)
>>> true_bottleneck(WorkloadType.TRAINING, [], [fault], 1_000)
<BottleneckKind.CPU_STARVED: 'cpu_starved'>
>>> true_bottleneck(WorkloadType.INFERENCE, [], [], 1_000)
<BottleneckKind.UNDER_UTILISED: 'under_utilised'>
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from schemas import BottleneckKind, WorkloadType
from sim.incidents import Effects, Incident, IncidentKind

__all__ = [
    "FAULT_KINDS",
    "WorkloadFault",
    "host_metrics",
    "true_bottleneck",
]

#: Bottlenecks a workload can have on its own (the others come from its provider).
FAULT_KINDS: tuple[BottleneckKind, ...] = (
    BottleneckKind.MEMORY_BOUND,
    BottleneckKind.NETWORK_IO_BOUND,
    BottleneckKind.CPU_STARVED,
    BottleneckKind.UNDER_UTILISED,
)

# Healthy CPU and memory-bandwidth utilisation per workload type at full GPU load.
_CPU_BASE: dict[WorkloadType, float] = {
    WorkloadType.TRAINING: 42.0,
    WorkloadType.FINE_TUNING: 36.0,
    WorkloadType.INFERENCE: 28.0,
    WorkloadType.RENDERING: 30.0,
}
_MEM_BW_BASE: dict[WorkloadType, float] = {
    WorkloadType.TRAINING: 58.0,
    WorkloadType.FINE_TUNING: 62.0,
    WorkloadType.INFERENCE: 55.0,
    WorkloadType.RENDERING: 45.0,
}


@dataclass(frozen=True, slots=True, init=False)
class WorkloadFault:
    """A bottleneck injected into one workload over ``[start_ms, end_ms)``.

    Examples
    --------
    >>> WorkloadFault("gpu_bound", "wl-0000", 0, 10)
    Traceback (most recent call last):
    ...
    ValueError: a workload fault is one of memory_bound, network_io_bound, cpu_starved, \
under_utilised; got gpu_bound
    """

    kind: BottleneckKind
    workload_id: str
    start_ms: int
    end_ms: int
    severity: float

    def __init__(
        self,
        kind: BottleneckKind | str,
        workload_id: str,
        start_ms: int,
        end_ms: int,
        severity: float = 1.0,
    ) -> None:
        kind = BottleneckKind(kind)
        if kind not in FAULT_KINDS:
            names = ", ".join(k.value for k in FAULT_KINDS)
            raise ValueError(f"a workload fault is one of {names}; got {kind.value}")
        if end_ms <= start_ms:
            raise ValueError(f"fault end_ms ({end_ms}) must be after start_ms ({start_ms})")
        if not (0.0 < severity <= 1.0) or not math.isfinite(severity):
            raise ValueError(f"fault severity must be in (0, 1], got {severity}")
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "workload_id", workload_id)
        object.__setattr__(self, "start_ms", int(start_ms))
        object.__setattr__(self, "end_ms", int(end_ms))
        object.__setattr__(self, "severity", float(severity))

    def active(self, ts_ms: int) -> bool:
        """Whether the fault is in effect at ``ts_ms`` (end exclusive)."""
        return self.start_ms <= ts_ms < self.end_ms

    @property
    def util_factor(self) -> float:
        """Multiplier of the workload's GPU utilisation (and of its throughput)."""
        s = self.severity
        if self.kind is BottleneckKind.CPU_STARVED:
            return 1.0 - 0.6 * s
        if self.kind is BottleneckKind.NETWORK_IO_BOUND:
            return 1.0 - 0.5 * s
        if self.kind is BottleneckKind.UNDER_UTILISED:
            return 0.3
        return 1.0  # memory-bound kernels keep the GPU "busy" while doing less

    @property
    def throughput_factor(self) -> float:
        """Multiplier of throughput on top of the utilisation change."""
        if self.kind is BottleneckKind.MEMORY_BOUND:
            return 1.0 - 0.4 * self.severity
        return 1.0

    def to_dict(self) -> dict[str, str | int | float]:
        """JSON-friendly form (labels for evaluations and tests)."""
        return {
            "kind": self.kind.value,
            "workload_id": self.workload_id,
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "severity": self.severity,
        }


def _clip_pct(x: float) -> float:
    return round(min(100.0, max(0.0, x)), 2)


def host_metrics(
    workload_type: WorkloadType,
    util_pct: float,
    fx: Effects,
    fault: WorkloadFault | None,
    z: Sequence[float],
) -> tuple[float, float, float]:
    """``(cpu_util_pct, mem_bw_util_pct, io_wait_pct)`` of one workload sample.

    ``util_pct`` is the sample's GPU utilisation (after any fault), ``z`` at least three
    standard normal draws.

    Examples
    --------
    >>> from sim.incidents import NO_EFFECTS
    >>> host_metrics(WorkloadType.TRAINING, 93.0, NO_EFFECTS, None, [0.0, 0.0, 0.0])
    (39.94, 53.94, 2.0)
    >>> cpu, _, _ = host_metrics(WorkloadType.TRAINING, 40.0, NO_EFFECTS,
    ...                          WorkloadFault("cpu_starved", "w", 0, 1), [0.0, 0.0, 0.0])
    >>> cpu
    97.0
    """
    load = util_pct / 100.0
    cpu = _CPU_BASE[workload_type] * (0.3 + 0.7 * load) + 3.0 * z[0]
    mem_bw = _MEM_BW_BASE[workload_type] * load * fx.clock_factor + 3.0 * z[1]
    # Waiting on the network grows with the round-trip time (gradient sync, data, clients).
    io_wait = 2.0 + 40.0 * (1.0 - 1.0 / fx.rtt_factor) + abs(z[2])
    if fault is not None:
        s = fault.severity
        if fault.kind is BottleneckKind.CPU_STARVED:
            cpu = 95.0 + 2.0 * s + 1.0 * z[0]
        elif fault.kind is BottleneckKind.MEMORY_BOUND:
            mem_bw = 88.0 + 9.0 * s + 1.5 * z[1]
        elif fault.kind is BottleneckKind.NETWORK_IO_BOUND:
            io_wait += 25.0 + 20.0 * s
    return _clip_pct(cpu), _clip_pct(mem_bw), _clip_pct(io_wait)


_INCIDENT_BOTTLENECK: dict[IncidentKind, BottleneckKind | None] = {
    IncidentKind.THERMAL_THROTTLING: BottleneckKind.THERMAL_THROTTLING,
    IncidentKind.NETWORK_DEGRADATION: BottleneckKind.NETWORK_IO_BOUND,
    # No single class describes these: contention, a leak, or no telemetry at all.
    IncidentKind.NOISY_NEIGHBOUR: None,
    IncidentKind.MEMORY_CREEP: None,
    IncidentKind.PROVIDER_OUTAGE: None,
}


def true_bottleneck(
    workload_type: WorkloadType,
    provider_incidents: Sequence[Incident],
    faults: Sequence[WorkloadFault],
    ts_ms: int,
) -> BottleneckKind | None:
    """Ground-truth bottleneck of a workload at ``ts_ms``; None when ambiguous.

    Healthy compute jobs are GPU-bound; healthy inference follows demand and leaves the
    GPU with headroom (under-utilised). A price spike changes no performance signal.
    """
    causes: set[BottleneckKind | None] = set()
    for inc in provider_incidents:
        if inc.active(ts_ms) and inc.kind is not IncidentKind.PRICE_SPIKE:
            causes.add(_INCIDENT_BOTTLENECK[inc.kind])
    causes.update(f.kind for f in faults if f.active(ts_ms))
    if len(causes) > 1 or None in causes:
        return None
    if causes:
        return causes.pop()
    if workload_type is WorkloadType.INFERENCE:
        return BottleneckKind.UNDER_UTILISED
    return BottleneckKind.GPU_BOUND
