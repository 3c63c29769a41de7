"""End to end on a real broker: a provider outage fires ``ProviderDown`` once and resolves.

An outage leaves no telemetry and so no window: the absence rule is evaluated for every
provider of the partition whenever the partition's clock (newest window end) advances.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from schemas import Alert, AlertStatus, ProviderSample, encode
from sim import Incident, MarketplaceSim
from tests.integration.harness import decode_all, drain, fresh_settings, produce, start_worker

pytestmark = pytest.mark.kafka

RULES = """
rules:
  - name: ProviderDown
    kind: absent
    entity_type: provider
    after: 15s
    severity: critical
    annotations:
      summary: "Provider {entity_id} sends no telemetry"
"""


@pytest.mark.parametrize("delivery", ["window by window", "all at once"])
def test_outage_fires_provider_down_once_and_resolves(
    kafka_bootstrap: str, tmp_path: Path, delivery: str
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    # One partition, so the silent provider shares its partition's clock with the others.
    settings = fresh_settings(kafka_bootstrap, tmp_path, partitions=1, rules_path=rules)
    window_ms = settings.window_ms
    start = (int(time.time() * 1000) - 140_000 - 300_000) // window_ms * window_ms
    probe = MarketplaceSim(seed=3, providers=4, workloads=2)
    down = probe.provider_id(1)
    outage = Incident("provider_outage", down, start + 40_000, start + 80_000)
    sim = MarketplaceSim(seed=3, providers=4, workloads=2, incidents=[outage])
    samples = [
        r.record
        for r in sim.records(start, start + 140_000)
        if isinstance(r.record, ProviderSample)
    ]
    assert not [s for s in samples if s.provider_id == down and outage.active(s.ts_ms)]
    worker = start_worker(settings, tmp_path)
    try:
        # Live-like (one window of telemetry at a time) or a backfill (everything at once:
        # one batch closes every window; they are emitted in event-time order across
        # providers, so the partition clock still sees the gap).
        step = window_ms if delivery == "window by window" else 140_000
        for chunk_start in range(start, start + 140_000, step):
            chunk = [s for s in samples if chunk_start <= s.ts_ms < chunk_start + step]
            asyncio.run(
                produce(settings, [("telemetry.provider", s.provider_id, encode(s)) for s in chunk])
            )
            time.sleep(0.3)
        records = asyncio.run(
            drain(
                settings,
                "perf.alerts",
                until=lambda r: any(b'"resolved"' in v for _, v in r),
                timeout_s=90,
            )
        )
    finally:
        worker.stop()
    alerts = decode_all(Alert, records)
    assert [(a.labels["alertname"], a.labels["entity_id"], a.status) for a in alerts] == [
        ("ProviderDown", down, AlertStatus.FIRING),
        ("ProviderDown", down, AlertStatus.RESOLVED),
    ]
    fired, resolved = alerts
    # fires 15 s (3 windows) after the last window before the outage, resolves with the
    # first window after it
    assert outage.start_ms < fired.starts_at_ms <= outage.start_ms + 15_000 + 2 * window_ms
    assert resolved.ends_at_ms is not None
    assert outage.end_ms <= resolved.ends_at_ms <= outage.end_ms + 2 * window_ms
