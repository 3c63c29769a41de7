"""The scripted scenario of ``computeperf run``: every part of the engine busy in minutes.

A plain simulator run shows nothing for a long time: anomaly detectors need 24 windows
before they judge, random incidents land anywhere in the hour, and every workload starts
placed, so the recommender has nothing to do. The demo instead:

* starts ``history_s`` (30 min) in the past, sent at 20x real time (about 95 s until it
  catches up with the clock), so the anomaly detectors are warm when the live part begins;
* live time ``T0`` is the start of the current minute (window-aligned with 1-min windows);
* **thermal**: the busiest provider overheats over ``[T0 - 60 s, T0 + 110 s)``: two hot
  windows fire the temperature alert once the history has caught up (and the anomaly
  agent sees the hot windows, the analysis role diagnoses thermal throttling); it resolves
  after the first cool window, about three minutes in;
* **noisy neighbour**: on the next busiest provider over ``[T0 - 120 s, T0 + 240 s)``
  workloads lose throughput and gain latency and GPU utilisation jitters: the anomaly
  agent flags it (the analysis engine has no noisy-neighbour diagnosis, so no insight);
* **degrading provider**: at ``T0 + 30 s`` a third provider, running a single workload
  that has room elsewhere but no reason to move while its host is healthy, turns
  ``degraded`` in the catalog and its network degrades: the recommender proposes to move
  the workload, the policy approves, the reference scheduler applies it and reports
  realised vs predicted;
* **arrivals**: ``arrivals`` new workloads are submitted over the first minutes and left
  unplaced, so the recommender proposes placements (approved, applied) for them.

Pure: no clock (``now_ms`` is passed in), no I/O.

>>> demo = demo_scenario(seed=2, providers=12, workloads=12, now_ms=1_790_000_040_000)
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
from sim.marketplace import (
    TOPIC_CATALOG,
    TOPIC_LIFECYCLE,
    MarketplaceSim,
    ProviderProfile,
    SimRecord,
)

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
    history_speed: int = 20

    def send_at_ms(self, ts_ms: int, started_ms: int) -> int:
        """Wall time to send a record of event time ``ts_ms`` in a run started at ``started_ms``.

        History goes at ``history_speed`` times real time until it catches up with the
        clock, then every record at its own time. Sent at once, the history reached the
        workers in per-partition bursts minutes of event time apart, and the absence rule
        (``ProviderDown``) saw providers of the slower partitions as down.

        >>> demo = demo_scenario(seed=2, providers=12, workloads=12, now_ms=1_790_000_040_000)
        >>> demo.send_at_ms(demo.start_ms, 1_790_000_040_000) - 1_790_000_040_000
        0
        >>> demo.send_at_ms(demo.live_ms, 1_790_000_040_000) - demo.live_ms  # still catching up
        90000
        >>> t = demo.live_ms + 600_000
        >>> demo.send_at_ms(t, 1_790_000_040_000) == t
        True
        """
        paced = started_ms + (ts_ms - self.start_ms) // self.history_speed
        return max(ts_ms, paced)

    def records(self, end_ms: int | None = None) -> Iterator[SimRecord]:
        """Every record from ``start_ms`` on, in event-time order (forever when no end).

        The fleet's workloads were running before the demo began watching: each has one
        ``started`` event carrying its spec instead of ``submitted`` then ``started`` (a
        consumer that plans between the two would propose placing a running workload).
        """
        base = _already_running(self.sim, self.sim.records(self.start_ms, end_ms))
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


def _already_running(sim: MarketplaceSim, records: Iterator[SimRecord]) -> Iterator[SimRecord]:
    specs = {w.workload_id: w.spec for w in sim.workload_profiles}
    for r in records:
        if isinstance(r.record, WorkloadEvent) and r.record.workload_id in specs:
            if r.record.kind is WorkloadEventKind.SUBMITTED:
                continue
            if r.record.kind is WorkloadEventKind.STARTED and r.record.spec is None:
                spec = specs[r.record.workload_id]
                r = r._replace(record=r.record.model_copy(update={"spec": spec}))
        yield r


def _best_move_ratio(sim: MarketplaceSim, provider_id: str, busy: tuple[str, ...]) -> float | None:
    """Best nominal perf per dollar elsewhere / here for the provider's one workload.

    Over the other providers (not in ``busy``) with free GPUs that fit it; ``None`` when
    none has room.
    """
    [w] = [w for w in sim.workload_profiles if w.provider_id == provider_id]
    used = Counter[str]()
    for other in sim.workload_profiles:
        used[other.provider_id] += other.gpus
    spec = w.spec
    here = next(p for p in sim.provider_profiles if p.provider_id == provider_id)

    def value(p: ProviderProfile) -> float:
        throughput = p.gpu.throughput_per_gpu(spec.workload_type) * p.perf_factor
        return throughput / p.price_usd_per_gpu_hour

    ratios = [
        value(p) / value(here)
        for p in sim.provider_profiles
        if p.provider_id != provider_id
        and p.provider_id not in busy
        and p.gpu_count - used[p.provider_id] >= spec.gpus
        and p.gpu.vram_gb >= spec.vram_gb_per_gpu
        and (not spec.allowed_regions or p.region.name in spec.allowed_regions)
        and (not spec.allowed_gpu_models or p.gpu.name in spec.allowed_gpu_models)
        and (
            spec.max_price_usd_per_gpu_hour is None
            or p.price_usd_per_gpu_hour <= spec.max_price_usd_per_gpu_hour
        )
    ]
    return max(ratios) if ratios else None


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
    """Build the demo for a run started at ``now_ms``.

    Raises ``ValueError`` with fewer than three providers, or when the fleet leaves no
    room to move the degrading provider's workload to (too many workloads).
    """
    if providers < 3:
        raise ValueError(f"the demo needs at least 3 providers, got {providers}")
    live = now_ms - now_ms % _MIN_MS
    probe = MarketplaceSim(seed, providers, workloads, interval_ms, id_prefix=id_prefix)
    hosted = Counter(w.provider_id for w in probe.workload_profiles)
    by_load = sorted(probe.provider_profiles, key=lambda p: (-hosted[p.provider_id], p.index))
    # Busy hosts for the incidents (workloads to diagnose); to degrade, a host running a
    # single workload that another healthy host has room for (else nothing can move).
    thermal, noisy = by_load[0].provider_id, by_load[1].provider_id
    ratios = {
        p.provider_id: _best_move_ratio(probe, p.provider_id, busy=(thermal, noisy))
        for p in probe.provider_profiles
        if p.provider_id not in (thermal, noisy) and hosted[p.provider_id] == 1
    }
    movable = {pid: r for pid, r in ratios.items() if r is not None}
    if not movable:
        raise ValueError(
            f"no spare capacity to move a workload to: {workloads} workloads fill "
            f"{providers} providers; run the demo with fewer workloads"
        )
    # Best: a workload that stays while its host is healthy (no better perf per dollar
    # elsewhere) but pays to move once degradation halves its host's worth.
    degrading = min(movable, key=lambda pid: (not 0.6 <= movable[pid] <= 1.05, pid))
    degraded_at = live + 30_000
    incidents = (
        Incident(IncidentKind.THERMAL_THROTTLING, thermal, live - _MIN_MS, live + 110_000, 1.0),
        Incident(IncidentKind.NOISY_NEIGHBOUR, noisy, live - 2 * _MIN_MS, live + 240_000, 1.0),
        Incident(IncidentKind.NETWORK_DEGRADATION, degrading, degraded_at, live + 3600_000, 0.6),
    )
    sim = MarketplaceSim(
        seed, providers, workloads, interval_ms, incidents=incidents, id_prefix=id_prefix
    )
    # Newcomers: tenants, types and SLAs drawn like the fleet's own (another seed), ids
    # after the fleet's; one GPU of at most 20 GB and no constraints, so the free GPUs of
    # the fleet can take them.
    newcomers = MarketplaceSim(seed + 1, providers, arrivals, interval_ms, id_prefix=id_prefix)
    events = tuple(
        WorkloadEvent(
            workload_id=f"{id_prefix}wl-{workloads + j:04d}",
            ts_ms=live + _ARRIVAL_FIRST_MS + j * _ARRIVAL_EVERY_MS,
            kind=WorkloadEventKind.SUBMITTED,
            spec=w.spec.model_copy(
                update={
                    "gpus": 1,
                    "vram_gb_per_gpu": min(w.spec.vram_gb_per_gpu, 20.0),
                    "allowed_gpu_models": (),
                    "allowed_regions": (),
                    "max_price_usd_per_gpu_hour": None,
                }
            ),
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
