"""End to end on a real broker: SLO status from the alert agent's trackers to the API and page.

Workload windows go straight to ``perf.metrics`` (as in test_alert_burn_rate.py) for a
worker running the ``alerts`` and ``api`` roles with one throughput burn-rate rule
(objective 0.9, 5x over 1 min and 15 s, 5-s windows). ``w-burn`` has 24 good windows
then 3 bad ones, ``w-fine`` 27 good ones. The figures ``GET /api/v1/sla`` must show are
computed here from those windows: over the SLO period (the longest rule window, 1 min:
the last 12 windows) 9 good of 12, so compliance 0.75 and error budget
``1 - 3 / (0.1 * 12) = -1.5``; burn 2.5x over 1 min, 10x over 15 s (no alert: both must
reach 5x). Over all 27 windows the budget would read -0.11: the period matters.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from schemas import MetricWindow, WorkloadEvent, WorkloadSpec, encode
from tests.integration.api_harness import TOKENS, RunningApi
from tests.integration.harness import fresh_settings, produce, start_worker
from tests.integration.test_alert_burn_rate import RULES, WINDOW_MS, window
from tests.integration.test_dashboard import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.kafka

OBJECTIVE, TARGET, PERIOD_MS = 0.9, 100.0, 60_000


def expected(windows: list[MetricWindow], over_ms: int) -> tuple[int, int]:
    """(good, total) windows ending within ``over_ms`` of the last one."""
    end = windows[-1].window_end_ms
    recent = [w for w in windows if w.window_end_ms > end - over_ms]
    return sum(w.metrics["throughput"].mean >= TARGET for w in recent), len(recent)


def test_sla_shows_each_workloads_slo_worst_first(kafka_bootstrap: str, tmp_path: Path) -> None:
    assert CHROMIUM.exists(), "Debian chromium is required: run `make chromium`"
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    settings = fresh_settings(
        kafka_bootstrap, tmp_path, rules_path=rules, agents="alerts,api", api_tokens=TOKENS
    )
    now = int(time.time() * 1000)
    start = (now - 600_000) // WINDOW_MS * WINDOW_MS
    means = [120.0] * 24 + [40.0] * 3
    burning = [window("w-burn", start + i * WINDOW_MS, m) for i, m in enumerate(means)]
    fine = [window("w-fine", start + i * WINDOW_MS, 150.0) for i in range(len(means))]
    spec = WorkloadSpec(tenant_id="acme", workload_type="inference", gpus=1, vram_gb_per_gpu=16)
    submitted = WorkloadEvent(workload_id="w-burn", ts_ms=start, kind="submitted", spec=spec)

    worker = start_worker(settings, tmp_path)
    running = RunningApi(settings, worker, [])
    try:
        messages = [("workloads.lifecycle", "w-burn", encode(submitted))]
        messages += [("perf.metrics", f"workload:{w.entity_id}", encode(w)) for w in burning + fine]
        asyncio.run(produce(settings, messages))
        last_end = burning[-1].window_end_ms

        def complete(body: dict) -> bool:
            ends = {i["entity_id"]: i["window_end_ms"] for i in body["items"]}
            burn = [i for i in body["items"] if i["entity_id"] == "w-burn"]
            return ends == {"w-burn": last_end, "w-fine": last_end} and burn[0]["tenant_id"]

        items = running.wait_for("/api/v1/sla", complete, timeout_s=90)["items"]
        assert [i["entity_id"] for i in items] == ["w-burn", "w-fine"]  # least budget first
        burn, ok = items
        good, total = expected(burning, PERIOD_MS)
        bad = total - good
        assert (good, total) == (9, 12)
        assert (burn["good_events"], burn["total_events"]) == (good, total)
        assert burn["compliance"] == pytest.approx(good / total) and burn["compliance"] < 1
        budget = 1 - bad / ((1 - OBJECTIVE) * total)
        assert burn["error_budget_remaining"] == pytest.approx(budget)
        short_good, short_total = expected(burning, 15_000)
        assert burn["burn_rates"] == pytest.approx(
            {
                "1m": bad / total / (1 - OBJECTIVE),
                "15s": (short_total - short_good) / short_total / (1 - OBJECTIVE),
            }
        )
        assert burn["burn_rate"] == pytest.approx(burn["burn_rates"]["1m"])
        assert (burn["workload_id"], burn["tenant_id"], burn["slo"]) == (
            "w-burn",
            "acme",
            "WorkloadThroughputSlo",
        )
        assert (burn["objective"], burn["sli"], burn["target"], burn["period_ms"]) == (
            OBJECTIVE,
            "throughput",
            TARGET,
            PERIOD_MS,
        )
        assert (ok["compliance"], ok["error_budget_remaining"], ok["tenant_id"]) == (1.0, 1.0, None)
        assert running.call("GET", "/api/v1/sla?limit=1")[1]["items"] == [burn]

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(f"{running.url}/#token={TOKENS.split(':')[0]}")
            page.wait_for_selector("body[data-loaded=true]", timeout=30_000)
            rows = page.locator("#sla tbody tr")
            assert rows.count() == 2
            assert rows.first.get_attribute("data-entity") == "workload:w-burn"
            assert rows.first.locator("td.budget").text_content() == f"{budget:.3f}"
            assert page.is_hidden("#sla-empty")
            browser.close()
    finally:
        worker.stop()
    assert "Traceback" not in (tmp_path / "worker.log").read_text()
