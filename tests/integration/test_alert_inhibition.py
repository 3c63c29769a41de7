"""End to end on a real broker: a firing critical alert inhibits its entity's warning.

Two rules on the same hot provider: the critical one fires first; the warning fires while
it does, is held, and resolves while still held, so operators only ever see the critical
alert on ``perf.alerts`` — firing, then resolved.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from schemas import Alert, AlertStatus
from tests.integration.harness import decode_all, drain, fresh_settings, produce, start_worker
from tests.integration.scenario import thermal_scenario

pytestmark = pytest.mark.kafka

RULES = """
rules:
  - name: GpuTemperatureCritical
    metric: gpu_temp_c.p95
    op: ">"
    threshold: 85
    resolve_threshold: 80
    severity: critical
  - name: GpuTemperatureHigh
    metric: gpu_temp_c.p95
    op: ">"
    threshold: 80
    for_windows: 3
    severity: warning
"""


def test_critical_inhibits_the_warning_of_its_entity(kafka_bootstrap: str, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    settings = fresh_settings(kafka_bootstrap, tmp_path, rules_path=rules)
    scenario = thermal_scenario()
    worker = start_worker(settings, tmp_path)
    try:
        asyncio.run(produce(settings, scenario.messages()))
        records = asyncio.run(
            drain(
                settings,
                "perf.alerts",
                until=lambda r: any(b'"resolved"' in v for _, v in r),
                timeout_s=90,
            )
        )
        # Whatever else would come (the warning's resolution) comes with the same window.
        records = asyncio.run(drain(settings, "perf.alerts", until=lambda r: False, timeout_s=5))
    finally:
        worker.stop()
    alerts = decode_all(Alert, records)
    assert [(a.labels["alertname"], a.labels["entity_id"], a.status) for a in alerts] == [
        ("GpuTemperatureCritical", scenario.hot_provider, AlertStatus.FIRING),
        ("GpuTemperatureCritical", scenario.hot_provider, AlertStatus.RESOLVED),
    ]
    log = (tmp_path / "worker.log").read_text()
    assert "Traceback" not in log
