"""A small simulated marketplace run: the integration tests' and the fault harness's.

Its oracle (numpy on the produced samples) is :func:`evaluation.faults.oracle_mismatch`.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass

from schemas import ProviderSample, encode
from sim.incidents import Incident, IncidentKind
from sim.marketplace import MarketplaceSim

WINDOW_MS = 5_000


@dataclass
class Scenario:
    """Provider samples of a simulated run, as produced, and the incident injected."""

    samples: list[ProviderSample]
    incident: Incident
    hot_provider: str

    def messages(self) -> list[tuple[str, str, bytes]]:
        return [("telemetry.provider", s.provider_id, encode(s)) for s in self.samples]

    def expected_windows(self, window_ms: int = WINDOW_MS) -> dict[str, list[ProviderSample]]:
        """Samples grouped by the ``MetricWindow.key`` of the window they belong to."""
        groups: dict[str, list[ProviderSample]] = defaultdict(list)
        for s in self.samples:
            start = s.ts_ms - s.ts_ms % window_ms
            groups[f"provider:{s.provider_id}:{start}:{window_ms}"].append(s)
        return groups


def thermal_scenario(
    *,
    providers: int = 4,
    span_s: int = 120,
    seed: int = 7,
    hot: int = 1,
    incident_s: tuple[int, int] = (30, 70),
) -> Scenario:
    """``span_s`` seconds of 1 Hz telemetry ending a few minutes ago, one thermal incident
    from ``incident_s[0]`` to ``incident_s[1]`` seconds into the run."""
    start_ms = (int(time.time() * 1000) - span_s * 1000 - 300_000) // WINDOW_MS * WINDOW_MS
    sim_probe = MarketplaceSim(seed=seed, providers=providers, workloads=2)
    hot_id = sim_probe.provider_id(hot)
    begin_s, end_s = incident_s
    incident = Incident(
        IncidentKind.THERMAL_THROTTLING,
        hot_id,
        start_ms + begin_s * 1000,
        start_ms + end_s * 1000,
        1.0,
    )
    sim = MarketplaceSim(seed=seed, providers=providers, workloads=2, incidents=[incident])
    samples = [
        r.record
        for r in sim.records(start_ms, start_ms + span_s * 1000)
        if isinstance(r.record, ProviderSample)
    ]
    return Scenario(samples, incident, hot_id)
