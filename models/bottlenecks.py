"""Bottleneck class of a workload window, with the evidence behind it.

Rules over window medians (p50: one noisy second does not flip a minute), checked in
order, first match wins:

1. **thermal_throttling**: the provider's GPUs sit at or above ``hot_c`` (the driver then
   pulls clocks down, which is what costs throughput);
2. **cpu_starved**: the input pipeline's CPU is saturated while the GPU waits;
3. **network_io_bound**: a large share of time waits on network or storage I/O;
4. **memory_bound**: GPU memory bandwidth is saturated;
5. **gpu_bound**: the GPU is busy (the healthy state of a compute job);
6. **under_utilised**: none of the above and the GPU has headroom.

A rule whose metric was not reported is skipped; with no GPU utilisation at all there is
no diagnosis. Confidence grows with the margin past the deciding threshold.

The inputs are window medians by metric name (:func:`window_medians` of a window's
sketches, or :func:`metric_window_medians` of a ``MetricWindow`` record), so the agent can
diagnose from the windows on ``perf.metrics`` and the evaluation from its sketches.

>>> from models.windows import WindowAccumulator
>>> acc = WindowAccumulator()
>>> for _ in range(10):
...     acc.add({"gpu_util_pct": 45.0, "cpu_util_pct": 97.0, "io_wait_pct": 3.0})
>>> d = classify_bottleneck(window_medians(acc))
>>> d.kind.value, d.evidence["cpu_util_pct_p50"] >= 96.0
('cpu_starved', True)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from models.windows import WindowAccumulator
from schemas import BottleneckKind, MetricWindow, WorkloadType

__all__ = [
    "BottleneckRules",
    "Diagnosis",
    "classify_bottleneck",
    "is_problem",
    "metric_window_medians",
    "window_medians",
]


@dataclass(frozen=True, slots=True)
class BottleneckRules:
    """Thresholds of the rules (percent, °C)."""

    hot_c: float = 85.0
    cpu_saturated_pct: float = 90.0
    gpu_waiting_pct: float = 75.0
    io_wait_pct: float = 20.0
    mem_bw_saturated_pct: float = 85.0
    gpu_busy_pct: float = 80.0


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """A bottleneck class, a confidence in [0.5, 1] and the window figures that decided it."""

    kind: BottleneckKind
    confidence: float
    evidence: dict[str, float]


def window_medians(acc: WindowAccumulator) -> dict[str, float]:
    """Median of every metric of a window's sketches.

    Examples
    --------
    >>> acc = WindowAccumulator(); acc.add({"x": 2.0, "y": None})
    >>> window_medians(acc)
    {'x': 2.0}
    """
    return {name: s.quantile(0.5) for name, s in acc.metrics.items() if s.count}


def metric_window_medians(window: MetricWindow) -> dict[str, float]:
    """Median of every metric of a ``MetricWindow`` record.

    Examples
    --------
    >>> w = MetricWindow.model_validate({"entity_type": "provider", "entity_id": "p",
    ...     "window_start_ms": 1_700_000_000_000, "window_end_ms": 1_700_000_060_000,
    ...     "count": 1, "metrics": {"gpu_temp_c": {"count": 1, "mean": 90.0, "min": 90.0,
    ...     "max": 90.0, "p50": 90.0, "p95": 90.0, "p99": 90.0}}})
    >>> metric_window_medians(w)
    {'gpu_temp_c': 90.0}
    """
    return {name: stats.p50 for name, stats in window.metrics.items() if stats.count}


def _p50(medians: Mapping[str, float] | None, name: str) -> float | None:
    if medians is None:
        return None
    value = medians.get(name)
    return value if value is not None and math.isfinite(value) else None


def _confidence(value: float, threshold: float, scale: float) -> float:
    # 0.5 at the threshold, approaching 1 as the margin grows past ``scale``.
    return 0.5 + 0.5 * min(1.0, abs(value - threshold) / scale)


def classify_bottleneck(
    workload: Mapping[str, float],
    provider: Mapping[str, float] | None = None,
    rules: BottleneckRules = BottleneckRules(),  # frozen: a shared default is safe
) -> Diagnosis | None:
    """Diagnose one workload window from medians (``provider``: its host's, if known).

    Examples
    --------
    >>> classify_bottleneck({}) is None
    True
    >>> classify_bottleneck({"gpu_util_pct": 95.0}, {"gpu_temp_c": 91.0}).kind.value
    'thermal_throttling'
    """
    gpu = _p50(workload, "gpu_util_pct")
    if gpu is None:
        return None
    cpu = _p50(workload, "cpu_util_pct")
    io = _p50(workload, "io_wait_pct")
    mem = _p50(workload, "mem_bw_util_pct")
    temp = _p50(provider, "gpu_temp_c")
    clock = _p50(provider, "sm_clock_mhz")
    evidence = {
        f"{name}_p50": value
        for name, value in (
            ("gpu_util_pct", gpu),
            ("cpu_util_pct", cpu),
            ("io_wait_pct", io),
            ("mem_bw_util_pct", mem),
            ("gpu_temp_c", temp),
            ("sm_clock_mhz", clock),
        )
        if value is not None and math.isfinite(value)
    }
    r = rules
    kind: BottleneckKind
    if temp is not None and temp >= r.hot_c:
        kind, conf = BottleneckKind.THERMAL_THROTTLING, _confidence(temp, r.hot_c, 5.0)
    elif cpu is not None and cpu >= r.cpu_saturated_pct and gpu < r.gpu_waiting_pct:
        conf = min(
            _confidence(cpu, r.cpu_saturated_pct, 5.0), _confidence(gpu, r.gpu_waiting_pct, 20.0)
        )
        kind = BottleneckKind.CPU_STARVED
    elif io is not None and io >= r.io_wait_pct:
        kind, conf = BottleneckKind.NETWORK_IO_BOUND, _confidence(io, r.io_wait_pct, 10.0)
    elif mem is not None and mem >= r.mem_bw_saturated_pct:
        kind, conf = BottleneckKind.MEMORY_BOUND, _confidence(mem, r.mem_bw_saturated_pct, 8.0)
    elif gpu >= r.gpu_busy_pct:
        kind, conf = BottleneckKind.GPU_BOUND, _confidence(gpu, r.gpu_busy_pct, 10.0)
    else:
        kind, conf = BottleneckKind.UNDER_UTILISED, _confidence(gpu, r.gpu_busy_pct, 30.0)
    return Diagnosis(kind, round(conf, 4), evidence)


def is_problem(kind: BottleneckKind, workload_type: WorkloadType) -> bool:
    """Whether ``kind`` is a degradation for this type (not its normal operating state).

    A compute job should be GPU-bound; a serving job follows demand, so headroom on its
    GPU is normal too.

    Examples
    --------
    >>> is_problem(BottleneckKind.UNDER_UTILISED, WorkloadType.TRAINING)
    True
    >>> is_problem(BottleneckKind.UNDER_UTILISED, WorkloadType.INFERENCE)
    False
    """
    if kind is BottleneckKind.GPU_BOUND:
        return False
    if kind is BottleneckKind.UNDER_UTILISED:
        return workload_type is not WorkloadType.INFERENCE
    return True
