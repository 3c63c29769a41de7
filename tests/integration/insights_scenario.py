"""A simulated marketplace for the analysis role: a regional incident, then a bad provider.

Timeline (1 Hz telemetry, 5-s windows, ending a few minutes ago):

* ``[0, 60)`` s healthy; ``[60, 120)`` s network degradation on every provider of one
  region; ``[120, 150)`` s healthy;
* ``[150, 240)`` s one provider of a compute cohort (same GPU model and workload type, at
  least five providers) overheats while a noisy neighbour takes its share: its throughput
  falls to about a third, so its perf per dollar drops out of its cohort's range.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass

from schemas import ProviderInfo, ProviderSample, WorkloadSample, WorkloadType, encode
from sim.incidents import Incident
from sim.marketplace import MarketplaceSim, SimRecord

WINDOW_MS = 5_000
SPAN_S = 240
REGION_S = (60, 120)
BAD_S = (150, 240)


@dataclass
class InsightsScenario:
    """Records of the run, and what the analysis must find."""

    records: list[SimRecord]
    start_ms: int
    region: str
    region_providers: frozenset[str]
    region_workloads: frozenset[str]
    bad_provider: str
    cohort: str

    def messages(self) -> list[tuple[str, str, bytes]]:
        keep = (ProviderInfo, ProviderSample, WorkloadSample)
        return [
            (r.topic, r.key, encode(r.record)) for r in self.records if isinstance(r.record, keep)
        ]

    def at(self, seconds: int) -> int:
        return self.start_ms + seconds * 1000


def insights_scenario(
    *, seed: int = 5, providers: int = 48, workloads: int = 120, start_ms: int | None = None
) -> InsightsScenario:
    """Build the run (``start_ms`` defaults to ``SPAN_S`` + 5 minutes ago, window-aligned)."""
    if start_ms is None:
        start_ms = int(time.time() * 1000) - SPAN_S * 1000 - 300_000
    start_ms -= start_ms % 60_000
    probe = MarketplaceSim(seed=seed, providers=providers, workloads=workloads)
    profiles = {p.provider_id: p for p in probe.provider_profiles}
    on: dict[str, list[str]] = defaultdict(list)
    cohorts: dict[str, set[str]] = defaultdict(set)
    for w in probe.workload_profiles:
        on[w.provider_id].append(w.workload_id)
        if w.workload_type is not WorkloadType.INFERENCE:  # demand-driven: not comparable
            gpu = profiles[w.provider_id].gpu.name
            cohorts[f"{gpu}/{w.workload_type.value}"].add(w.provider_id)
    cohort = max(sorted(cohorts), key=lambda c: len(cohorts[c]))
    members = sorted(cohorts[cohort])
    bad = members[0]
    regions: dict[str, list[str]] = defaultdict(list)
    for p in probe.provider_profiles:
        regions[p.region.name].append(p.provider_id)
    region = next(r for r in sorted(regions) if bad not in regions[r])
    r0, r1 = (start_ms + s * 1000 for s in REGION_S)
    b0, b1 = (start_ms + s * 1000 for s in BAD_S)
    incidents = [Incident("network_degradation", p, r0, r1, 0.8) for p in regions[region]]
    incidents += [
        Incident("thermal_throttling", bad, b0, b1, 1.0),
        Incident("noisy_neighbour", bad, b0, b1, 1.0),
    ]
    sim = MarketplaceSim(seed=seed, providers=providers, workloads=workloads, incidents=incidents)
    records = list(sim.records(start_ms, start_ms + SPAN_S * 1000))
    return InsightsScenario(
        records=records,
        start_ms=start_ms,
        region=region,
        region_providers=frozenset(regions[region]),
        region_workloads=frozenset(w for p in regions[region] for w in on[p]),
        bad_provider=bad,
        cohort=cohort,
    )
