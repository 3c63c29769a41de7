"""Root-cause scope: is a degradation the workload's, its provider's, or the region's?

Per window, degraded workloads (a problem bottleneck, :func:`models.bottlenecks.is_problem`)
are correlated bottom-up:

1. **provider**: at least ``min_affected`` of a provider's reporting workloads share the
   same problem kind and they are at least ``min_share`` of them, or the provider's own
   telemetry shows that kind (hot GPUs, a multiplied round-trip time): then one provider
   finding replaces the workloads' ones;
2. **region**: at least ``min_affected`` providers of one region show the same provider
   kind and they are at least ``min_share`` of the region's providers: one region finding
   replaces them;
3. whatever is left is the **workload**'s own.

So a regional network incident gives one region-scoped insight, not one per workload.

>>> ws = [WorkloadState("w1", "p1", "eu", BottleneckKind.NETWORK_IO_BOUND, True),
...       WorkloadState("w2", "p1", "eu", BottleneckKind.NETWORK_IO_BOUND, True),
...       WorkloadState("w3", "p2", "eu", BottleneckKind.NETWORK_IO_BOUND, True),
...       WorkloadState("w4", "p3", "us", BottleneckKind.CPU_STARVED, True),
...       WorkloadState("w5", "p3", "us", BottleneckKind.GPU_BOUND, False)]
>>> found = attribute_scope(ws, {"p2": {BottleneckKind.NETWORK_IO_BOUND}},
...                         {"p1": "eu", "p2": "eu", "p3": "us"})
>>> [(f.scope.value, f.entity_id, f.kind.value) for f in found]
[('region', 'eu', 'network_io_bound'), ('workload', 'w4', 'cpu_starved')]
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from schemas import BottleneckKind, EntityType, Insight, RootCauseScope

__all__ = [
    "Finding",
    "ProviderBaselines",
    "WorkloadState",
    "attribute_scope",
    "finding_to_insight",
]

_SCOPE_ENTITY = {
    RootCauseScope.WORKLOAD: EntityType.WORKLOAD,
    RootCauseScope.PROVIDER: EntityType.PROVIDER,
    RootCauseScope.REGION: EntityType.REGION,
}


@dataclass(frozen=True, slots=True)
class WorkloadState:
    """One workload's diagnosis in one window, and where it runs."""

    workload_id: str
    provider_id: str
    region: str
    kind: BottleneckKind
    problem: bool


@dataclass(frozen=True, slots=True)
class Finding:
    """A degradation attributed to one scope, with the entities it explains."""

    scope: RootCauseScope
    entity_id: str
    kind: BottleneckKind
    workloads: tuple[str, ...]
    providers: tuple[str, ...]
    confidence: float


def attribute_scope(
    workloads: Sequence[WorkloadState],
    provider_signals: Mapping[str, set[BottleneckKind]],
    provider_region: Mapping[str, str],
    *,
    min_affected: int = 2,
    min_share: float = 0.5,
) -> list[Finding]:
    """Findings of one window, region first, then provider, then workload (by id)."""
    reporting: dict[str, int] = defaultdict(int)
    degraded: dict[tuple[str, BottleneckKind], list[str]] = defaultdict(list)
    for w in workloads:
        reporting[w.provider_id] += 1
        if w.problem:
            degraded[(w.provider_id, w.kind)].append(w.workload_id)
    provider_level: dict[tuple[str, BottleneckKind], float] = {}
    for provider, kinds in provider_signals.items():
        for kind in kinds:
            provider_level[(provider, kind)] = 1.0
    for (provider, kind), ids in degraded.items():
        share = len(ids) / reporting[provider]
        if len(ids) >= min_affected and share >= min_share:
            provider_level[(provider, kind)] = max(provider_level.get((provider, kind), 0.0), share)
    region_size: dict[str, int] = defaultdict(int)
    for name in provider_region.values():
        region_size[name] += 1
    by_region: dict[tuple[str, BottleneckKind], list[str]] = defaultdict(list)
    for provider, kind in provider_level:
        region = provider_region.get(provider)
        if region is not None:
            by_region[(region, kind)].append(provider)
    findings: list[Finding] = []
    explained: set[tuple[str, BottleneckKind]] = set()
    for (region, kind), providers in sorted(by_region.items()):
        share = len(providers) / region_size[region]
        if len(providers) >= min_affected and share >= min_share:
            members = tuple(sorted(providers))
            wl = tuple(sorted(w for p in members for w in degraded.get((p, kind), ())))
            findings.append(
                Finding(RootCauseScope.REGION, region, kind, wl, members, round(share, 4))
            )
            explained.update((p, kind) for p in members)
    for (provider, kind), conf in sorted(provider_level.items()):
        if (provider, kind) in explained:
            continue
        wl = tuple(sorted(degraded.get((provider, kind), ())))
        findings.append(
            Finding(RootCauseScope.PROVIDER, provider, kind, wl, (provider,), round(conf, 4))
        )
        explained.add((provider, kind))
    for w in sorted(workloads, key=lambda w: w.workload_id):
        if w.problem and (w.provider_id, w.kind) not in explained:
            findings.append(
                Finding(
                    RootCauseScope.WORKLOAD,
                    w.workload_id,
                    w.kind,
                    (w.workload_id,),
                    (w.provider_id,),
                    round(1.0 - 1.0 / max(2, reporting[w.provider_id]), 4),
                )
            )
    return findings


def finding_to_insight(finding: Finding, window_start_ms: int, window_end_ms: int) -> Insight:
    """The ``Insight`` record of a finding (id stable across replays of the window).

    Examples
    --------
    >>> f = Finding(RootCauseScope.REGION, "eu", BottleneckKind.NETWORK_IO_BOUND,
    ...             ("w1", "w2"), ("p1", "p2"), 1.0)
    >>> i = finding_to_insight(f, 1_700_000_040_000, 1_700_000_100_000)
    >>> i.insight_id, i.entity_type.value, i.evidence["affected_workloads"]
    ('region.eu.network_io_bound.1700000040000', 'region', 2.0)
    """
    evidence: dict[str, float | str] = {
        "affected_workloads": float(len(finding.workloads)),
        "affected_providers": float(len(finding.providers)),
        "window_start_ms": float(window_start_ms),
        "providers": ",".join(finding.providers),
    }
    return Insight(
        insight_id=f"{finding.scope.value}.{finding.entity_id}.{finding.kind.value}.{window_start_ms}",
        entity_type=_SCOPE_ENTITY[finding.scope],
        entity_id=finding.entity_id,
        ts_ms=window_end_ms,
        kind=finding.kind.value,
        scope=finding.scope,
        evidence=evidence,
        confidence=min(1.0, max(0.0, finding.confidence)),
        summary=(
            f"{finding.kind.value} of {len(finding.workloads)} workload(s) on "
            f"{len(finding.providers)} provider(s), cause at {finding.scope.value} "
            f"{finding.entity_id}"
        ),
    )


@dataclass
class ProviderBaselines:
    """Healthy round-trip time per provider, and the provider-level signals of a window.

    The baseline is an exponentially weighted mean of the window medians, updated only by
    windows that raise no signal (an incident does not become the new normal).

    Examples
    --------
    >>> b = ProviderBaselines()
    >>> b.signals("p1", {"net_rtt_ms": 10.0, "gpu_temp_c": 70.0})
    set()
    >>> sorted(k.value for k in b.signals("p1", {"net_rtt_ms": 60.0, "gpu_temp_c": 91.0}))
    ['network_io_bound', 'thermal_throttling']
    """

    rtt_ratio: float = 2.5
    hot_c: float = 85.0
    alpha: float = 0.1
    _rtt_ms: dict[str, float] = field(default_factory=dict)

    def signals(self, provider_id: str, medians: Mapping[str, float]) -> set[BottleneckKind]:
        """Provider-level problem kinds of one window (its metric medians).

        Learns the baseline from healthy windows.
        """
        out: set[BottleneckKind] = set()
        temp = medians.get("gpu_temp_c")
        if temp is not None and temp >= self.hot_c:
            out.add(BottleneckKind.THERMAL_THROTTLING)
        rtt = medians.get("net_rtt_ms")
        base = self._rtt_ms.get(provider_id)
        if rtt is not None and base is not None and rtt >= self.rtt_ratio * base:
            out.add(BottleneckKind.NETWORK_IO_BOUND)
        if rtt is not None and math.isfinite(rtt) and not out:
            self._rtt_ms[provider_id] = (
                rtt if base is None else (1 - self.alpha) * base + self.alpha * rtt
            )
        return out
