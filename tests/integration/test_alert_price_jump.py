"""End to end on a real broker: a ``change_over`` rule keeps its history in the alert state.

Workload windows go straight to ``perf.metrics`` (the analysis role's output) for a worker
running the ``alerts`` role with the shipped ``WorkloadPriceJump`` rule scaled to 5-s
windows (``change_over: 30s`` instead of 15 min). ``w-spike`` pays 1 per sample for 12
windows, 3 for 4 windows (a price spike), then 1 again; ``w-flat`` pays 1 throughout. The
price notification fires once on the jump with its severity and route (``info``,
``route: cost``: not a page) and resolves when the price is back; ``w-flat`` gets nothing.
The rule compares each window with the one 30 s before, which only the state table holds.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
import yaml

from alerts.rules import DEFAULT_RULES_PATH
from schemas import Alert, AlertStatus, MetricStats, MetricWindow, encode
from tests.integration.harness import decode_all, drain, fresh_settings, produce, start_worker

pytestmark = pytest.mark.kafka

WINDOW_MS = 5_000


def window(workload: str, start_ms: int, cost: float) -> MetricWindow:
    c = cost
    return MetricWindow(
        entity_type="workload",
        entity_id=workload,
        window_start_ms=start_ms,
        window_end_ms=start_ms + WINDOW_MS,
        count=5,
        metrics={
            "cost_accrued_usd": MetricStats(count=5, mean=c, min=c, max=c, p50=c, p95=c, p99=c)
        },
        availability=1.0,
    )


def test_a_price_jump_notifies_cost_once_and_resolves(kafka_bootstrap: str, tmp_path: Path) -> None:
    shipped = yaml.safe_load((DEFAULT_RULES_PATH.parent / "marketplace.yaml").read_text())
    [rule] = [r for r in shipped["rules"] if r["name"] == "WorkloadPriceJump"]
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({"rules": [{**rule, "change_over": "30s"}]}))
    settings = fresh_settings(kafka_bootstrap, tmp_path, rules_path=rules, agents="alerts")
    start = (int(time.time() * 1000) - 600_000) // WINDOW_MS * WINDOW_MS
    costs = [1.0] * 12 + [3.0] * 4 + [1.0] * 6
    spike = [window("w-spike", start + i * WINDOW_MS, c) for i, c in enumerate(costs)]
    flat = [window("w-flat", start + i * WINDOW_MS, 1.0) for i in range(len(costs))]

    worker = start_worker(settings, tmp_path)
    try:
        worker.wait_ready()
        messages = [("perf.metrics", f"workload:{w.entity_id}", encode(w)) for w in spike + flat]
        asyncio.run(produce(settings, messages))
        asyncio.run(
            drain(
                settings,
                "perf.alerts",
                until=lambda r: any(b'"resolved"' in v for _, v in r),
                timeout_s=60,
            )
        )
        records = asyncio.run(drain(settings, "perf.alerts", until=lambda r: False, timeout_s=3))
    finally:
        worker.stop()

    alerts = decode_all(Alert, records)
    assert [(a.labels["entity_id"], a.status) for a in alerts] == [
        ("w-spike", AlertStatus.FIRING),
        ("w-spike", AlertStatus.RESOLVED),
    ]
    firing = alerts[0]
    assert (firing.labels["severity"], firing.labels["route"]) == ("info", "cost")
    assert firing.starts_at_ms == spike[12].window_start_ms  # the first window at 3x
    assert alerts[1].ends_at_ms == spike[16].window_end_ms  # the first window back at 1x
    assert "3.0x" in firing.annotations["summary"]
    assert "Traceback" not in (tmp_path / "worker.log").read_text()
