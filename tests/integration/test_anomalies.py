"""An injected incident becomes an Anomaly for the right provider and the right feature."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from schemas import Anomaly
from tests.integration.harness import decode_all, drain, fresh_settings, produce, start_worker
from tests.integration.scenario import thermal_scenario

pytestmark = pytest.mark.kafka


def test_thermal_incident_produces_anomaly_for_hot_provider(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    # 5 s windows: ~40 healthy windows warm the detectors up, then the GPUs overheat.
    scenario = thermal_scenario(providers=3, span_s=300, seed=5, hot=2, incident_s=(220, 270))
    settings = fresh_settings(kafka_bootstrap, tmp_path)
    worker = start_worker(settings, tmp_path)
    try:
        asyncio.run(produce(settings, scenario.messages()))
        records = asyncio.run(
            drain(
                settings,
                "perf.anomalies",
                until=lambda r: any(scenario.hot_provider.encode() in v for _, v in r),
                timeout_s=120,
            )
        )
    finally:
        worker.stop()
    anomalies = decode_all(Anomaly, records)
    hot = [a for a in anomalies if a.entity_id == scenario.hot_provider]
    assert hot, [a.entity_id for a in anomalies]
    first = min(hot, key=lambda a: a.ts_ms)
    incident = scenario.incident
    assert incident.start_ms - 5_000 <= first.ts_ms < incident.end_ms
    driver = max(first.contributing_features, key=lambda f: first.contributing_features[f])
    assert driver.startswith("gpu_temp_c") or driver.startswith("sm_clock_mhz"), driver
    assert first.observed[driver] != first.expected[driver]
    # Healthy providers stay (nearly) quiet: the ensemble's false-alarm rate is ~0.3 % of
    # windows, so two of ~120 healthy windows is already far above it.
    assert sum(a.entity_id != scenario.hot_provider for a in anomalies) <= 2
