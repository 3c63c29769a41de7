"""A marketplace scenario with known causes, for the analysis engine's evaluation.

:func:`build_scenario` injects, into a seeded fleet, one regional network incident (every
provider of a region), a thermal incident and a network incident on single providers,
and four workload faults (CPU starvation, memory-bound, storage I/O, under-utilisation)
on single workloads, one after another with healthy gaps; each is a :class:`TruthEvent`
naming the scope and entity an analysis should blame (:mod:`evaluation.insights`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from schemas import BottleneckKind, RootCauseScope, WorkloadType
from sim.bottlenecks import WorkloadFault
from sim.incidents import Incident
from sim.marketplace import MarketplaceSim

__all__ = ["START_MS", "TruthEvent", "build_scenario"]

START_MS = 1_793_491_200_000  # 2026-11-01T00:00:00Z, an hour boundary
_MIN = 60_000


@dataclass(frozen=True, slots=True)
class TruthEvent:
    """An injected cause: its scope, the entity it names, and what it affects."""

    scope: RootCauseScope
    entity_id: str
    start_ms: int
    end_ms: int
    workloads: frozenset[str]
    providers: frozenset[str]


def _severity(rng: np.random.Generator) -> float:
    return round(float(rng.uniform(0.5, 1.0)), 3)


def build_scenario(
    sim: MarketplaceSim, seed: int, start_ms: int = START_MS
) -> tuple[list[Incident], list[WorkloadFault], list[TruthEvent]]:
    """Incidents, faults and truth events for ``sim``'s fleet (15-minute events, 5-minute gaps).

    Examples
    --------
    >>> sim = MarketplaceSim(seed=7, providers=12, workloads=36)
    >>> incidents, faults, events = build_scenario(sim, seed=7)
    >>> [e.scope.value for e in events]
    ['region', 'provider', 'provider', 'workload', 'workload', 'workload', 'workload']
    """
    rng = np.random.default_rng([seed, 99])
    provs = sim.provider_profiles
    wls = sim.workload_profiles
    on: dict[str, list[str]] = defaultdict(list)
    for w in wls:
        on[w.provider_id].append(w.workload_id)
    by_region: dict[str, list[str]] = defaultdict(list)
    for p in provs:
        by_region[p.region.name].append(p.provider_id)
    candidates = sorted(r for r, ps in by_region.items() if len(ps) >= 2)
    if not candidates:
        raise ValueError("the fleet needs a region with at least two providers")
    region = candidates[int(rng.integers(len(candidates)))]

    def slot(i: int) -> tuple[int, int]:
        begin = start_ms + (15 + 20 * i) * _MIN
        return begin, begin + 15 * _MIN

    incidents: list[Incident] = []
    events: list[TruthEvent] = []
    s, e = slot(0)
    members = by_region[region]
    severity = _severity(rng)
    incidents += [Incident("network_degradation", p, s, e, severity) for p in members]
    affected = frozenset(w for p in members for w in on[p])
    events.append(TruthEvent(RootCauseScope.REGION, region, s, e, affected, frozenset(members)))
    others = [p.provider_id for p in provs if p.region.name != region and on[p.provider_id]]
    if len(others) < 2:
        raise ValueError("the fleet needs two providers with workloads outside the region")
    picks = [others[int(i)] for i in rng.permutation(len(others))[:2]]
    kinds_p = ("thermal_throttling", "network_degradation")
    for i, (kind_p, pid) in enumerate(zip(kinds_p, picks, strict=True)):
        s, e = slot(1 + i)
        incidents.append(Incident(kind_p, pid, s, e, _severity(rng)))
        events.append(
            TruthEvent(RootCauseScope.PROVIDER, pid, s, e, frozenset(on[pid]), frozenset([pid]))
        )
    faults: list[WorkloadFault] = []
    kinds = (
        BottleneckKind.CPU_STARVED,
        BottleneckKind.MEMORY_BOUND,
        BottleneckKind.NETWORK_IO_BOUND,
        BottleneckKind.UNDER_UTILISED,
    )
    used: set[str] = set()
    for i, kind in enumerate(kinds):
        s, e = slot(3 + i // 2)
        pool = [
            w
            for w in wls
            if w.provider_id not in used
            # Idle headroom is normal for serving: inject under-utilisation into a compute job.
            and (
                kind is not BottleneckKind.UNDER_UTILISED
                or w.workload_type is not WorkloadType.INFERENCE
            )
        ]
        w = pool[int(rng.integers(len(pool)))]
        used.add(w.provider_id)
        faults.append(WorkloadFault(kind, w.workload_id, s, e, _severity(rng)))
        events.append(
            TruthEvent(
                RootCauseScope.WORKLOAD,
                w.workload_id,
                s,
                e,
                frozenset([w.workload_id]),
                frozenset([w.provider_id]),
            )
        )
    return incidents, faults, events
