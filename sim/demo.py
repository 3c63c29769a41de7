"""The scripted scenario of ``computeperf run``: every part of the engine busy in minutes.

A plain simulator run shows nothing for a long time: anomaly detectors need 24 windows
before they judge, random incidents land anywhere in the hour, and every workload starts
placed, so the recommender has nothing to do. The demo instead:

* starts ``history_s`` (30 min) in the past, sent at once, so the anomaly detectors are
  warm when the live part begins (its records are dated, windows close by event time);
* live time ``T0`` is the start of the current minute (window-aligned with 1-min windows);
* **thermal**: one provider overheats over ``[T0 - 60 s, T0 + 110 s)``: two hot windows fire
  the temperature alert about a minute after the live start (and the anomaly agent sees
  the hot windows); it resolves after the first cool window, about three minutes in;
* **noisy neighbour**: another provider's workloads lose throughput and gain latency over
  ``[T0 - 120 s, T0 + 240 s)`` (the analysis role's insight);
* **degrading provider**: at ``T0 + 30 s`` a third provider, running a single workload,
  turns ``degraded`` in the catalog and its network degrades: the recommender proposes to
  move the workload, the policy approves, the reference scheduler applies it and reports
  realised vs predicted;
* **arrivals**: ``arrivals`` new workloads are submitted over the first minutes and left
  unplaced, so the recommender proposes placements (approved, applied) for them.

Pure: no clock (``now_ms`` is passed in), no I/O.

>>> demo = demo_scenario(seed=1, providers=12, workloads=24, now_ms=1_790_000_040_000)
>>> demo.live_ms, demo.start_ms
(1790000040000, 1789998240000)
>>> sorted(i.kind.value for i in demo.incidents)
['network_degradation', 'noisy_neighbour', 'thermal_throttling']
>>> len({demo.thermal_provider, demo.noisy_provider, demo.degrading_provider})
3
>>> recs = list(demo.records(end_ms=demo.live_ms + 120_000))
>>> [r.record.status.value for r in recs if r.key == demo.degrading_provider
...  and r.topic == "providers.catalog"]
['online', 'degraded']
>>> sum(r.topic == "workloads.lifecycle" and r.ts_ms > demo.live_ms for r in recs)
3
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from schemas import ProviderStatus, WorkloadEvent, WorkloadEventKind
from sim.incidents import Incident, IncidentKind
from sim.marketplace import TOPIC_CATALOG, TOPIC_LIFECYCLE, MarketplaceSim, SimRecord

__all__ = ["DemoScenario", "demo_scenario"]

_MIN_MS = 60_000
#: First arrival and the gap between arrivals after the live start.
_ARRIVAL_FIRST_MS = 20_000
_ARRIVAL_EVERY_MS = 40_000


@dataclass(frozen=True)
class DemoScenario:
    """The demo's fleet, its scripted incidents and arrivals (see the module docstring)."""

    sim: MarketplaceSim
    start_ms: int
    live_ms: int
    incidents: tuple[Incident, ...]
    thermal_provider: str
    noisy_provider: str
    degrading_provider: str
    degraded_at_ms: int
    arrivals: tuple[WorkloadEvent, ...]

    def records(self, end_ms: int | None = None) -> Iterator[SimRecord]:
        """Every record from ``start_ms`` on, in event-time order (forever when no end)."""
        base = self.sim.records(self.start_ms, end_ms)
        profile = next(
            p for p in self.sim.provider_profiles if p.provider_id == self.degrading_provider
        )
        degraded = self.sim.provider_info(profile, self.degraded_at_ms).model_copy(
            update={"status": ProviderStatus.DEGRADED}
        )
        extra = [SimRecord(TOPIC_CATALOG, degraded.provider_id, degraded)]
        extra += [SimRecord(TOPIC_LIFECYCLE, e.workload_id, e) for e in self.arrivals]
        extra = [
            r for r in sorted(extra, key=lambda r: r.ts_ms) if end_ms is None or r.ts_ms < end_ms
        ]
        return heapq.merge(base, extra, key=lambda r: r.ts_ms)


def demo_scenario(
    *,
    seed: int,
    providers: int,
    workloads: int,
    now_ms: int,
    history_s: int = 1800,
    arrivals: int = 3,
    interval_ms: int = 1000,
    id_prefix: str = "",
) -> DemoScenario:
    """Build the demo for a run started at ``now_ms`` (needs at least three providers)."""
    if providers < 3:
        raise ValueError(f"the demo needs at least 3 providers, got {providers}")
    live = now_ms - now_ms % _MIN_MS
    probe = MarketplaceSim(seed, providers, workloads, interval_ms, id_prefix=id_prefix)
    hosted = Counter(w.provider_id for w in probe.workload_profiles)
    by_load = sorted(probe.provider_profiles, key=lambda p: (-hosted[p.provider_id], p.index))
    # Busy hosts for the incidents (workloads to diagnose), a host with exactly one
    # workload to degrade (a single move fixes it), else the least busy one left.
    thermal, noisy = by_load[0].provider_id, by_load[1].provider_id
    rest = [p.provider_id for p in by_load[2:]]
    degrading = next((p for p in rest if hosted[p] == 1), rest[-1])
    degraded_at = live + 30_000
    incidents = (
        Incident(IncidentKind.THERMAL_THROTTLING, thermal, live - _MIN_MS, live + 110_000, 1.0),
        Incident(IncidentKind.NOISY_NEIGHBOUR, noisy, live - 2 * _MIN_MS, live + 240_000, 1.0),
        Incident(IncidentKind.NETWORK_DEGRADATION, degrading, degraded_at, live + 3600_000, 0.6),
    )
    sim = MarketplaceSim(
        seed, providers, workloads, interval_ms, incidents=incidents, id_prefix=id_prefix
    )
    # Newcomers: specs drawn like the fleet's own (another seed), ids after the fleet's.
    newcomers = MarketplaceSim(seed + 1, providers, arrivals, interval_ms, id_prefix=id_prefix)
    events = tuple(
        WorkloadEvent(
            workload_id=f"{id_prefix}wl-{workloads + j:04d}",
            ts_ms=live + _ARRIVAL_FIRST_MS + j * _ARRIVAL_EVERY_MS,
            kind=WorkloadEventKind.SUBMITTED,
            spec=w.spec,
            reason="demo: submitted, waiting for placement",
        )
        for j, w in enumerate(newcomers.workload_profiles)
    )
    return DemoScenario(
        sim=sim,
        start_ms=live - history_s * 1000,
        live_ms=live,
        incidents=incidents,
        thermal_provider=thermal,
        noisy_provider=noisy,
        degrading_provider=degrading,
        degraded_at_ms=degraded_at,
        arrivals=events,
    )
