"""End to end on a real broker: SLO status from the alert agent's trackers to the API and page.

Workload windows go straight to ``perf.metrics`` (as in test_alert_burn_rate.py) for a
worker running the ``alerts`` and ``api`` roles with one throughput burn-rate rule
(objective 0.9, 5x over 1 min and 15 s, 5-s windows). ``w-burn`` has 24 good windows
then 3 bad ones, ``w-fine`` 27 good ones. The figures ``GET /api/v1/sla`` must show are
computed here from those windows: over the SLO period (the longest rule window, 1 min:
the last 12 windows) 9 good of 12, so compliance 0.75 and error budget
``1 - 3 / (0.1 * 12) = -1.5``; burn 2.5x over 1 min, 10x over 15 s (no alert: both must
reach 5x). Over all 27 windows the budget would read -0.11: the period matters.

A fresh workload whose one window is partial (it started inside it: 2 samples of 5) under
an availability SLO guarded by ``min_events: 20`` pages nothing, and the API and page
show one good event, no breach and "not enough data" (issue 18).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from schemas import Alert, MetricWindow, WorkloadEvent, WorkloadSpec, encode
from tests.integration.api_harness import TOKENS, RunningApi
from tests.integration.harness import decode_all, drain, fresh_settings, produce, start_worker
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


GUARDED_AVAILABILITY = """
rules:
  - name: WorkloadAvailabilitySlo
    kind: burn_rate
    entity_type: workload
    objective: 0.99
    sli: availability
    factor: 14.4
    long_window: 1m
    short_window: 15s
    min_events: 20
    severity: page
"""


def test_a_fresh_workload_with_one_partial_window_pages_nothing_and_is_not_judged(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    assert CHROMIUM.exists(), "Debian chromium is required: run `make chromium`"
    rules = tmp_path / "rules.yaml"
    rules.write_text(GUARDED_AVAILABILITY)
    settings = fresh_settings(
        kafka_bootstrap, tmp_path, rules_path=rules, agents="alerts,api", api_tokens=TOKENS
    )
    start = (int(time.time() * 1000) - 60_000) // WINDOW_MS * WINDOW_MS
    # Started 2 s before the window's end: 2 samples of the 5 a whole window has.
    first = window("w-new", start, 120.0).model_copy(update={"count": 2, "availability": 0.4})
    worker = start_worker(settings, tmp_path)
    running = RunningApi(settings, worker, [])
    try:
        asyncio.run(produce(settings, [("perf.metrics", "workload:w-new", encode(first))]))
        [item] = running.wait_for("/api/v1/sla", lambda b: len(b["items"]) == 1, 90)["items"]
        assert (item["entity_id"], item["slo"], item["sli"]) == (
            "w-new",
            "WorkloadAvailabilitySlo",
            "availability",
        )
        assert (item["good_events"], item["total_events"], item["min_events"]) == (1, 1, 20)
        assert (item["compliance"], item["error_budget_remaining"]) == (1.0, 1.0)
        assert (item["enough_data"], item["in_breach"]) == (False, False)
        assert item["burn_rate"] == 0.0

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(f"{running.url}/#token={TOKENS.split(':')[0]}")
            page.wait_for_selector("body[data-loaded=true]", timeout=30_000)
            row = page.locator("#sla tbody tr")
            assert row.count() == 1
            assert row.locator("td.events").text_content() == "1/1"
            assert row.locator("td.compliance").text_content() == "not enough data"
            assert row.locator("td.budget").text_content() == "not enough data"
            browser.close()
        # The status is sent after the alert states: any page would be on the topic now.
        records = asyncio.run(drain(settings, "perf.alerts", until=lambda r: False, timeout_s=3))
        assert decode_all(Alert, records) == []
    finally:
        worker.stop()
    assert "Traceback" not in (tmp_path / "worker.log").read_text()
