"""End to end on a real broker: tenant spend from workload windows to the API, page and alert.

Workload windows (with ``cost_accrued_usd`` stats, as the analysis role writes them) go
straight to ``perf.metrics``, and the workloads' submissions to ``workloads.lifecycle``,
for a worker running the ``budgets``, ``alerts`` and ``api`` roles with a budget file
(``acme``: 20 USD a day; everyone else, ``*``: 1000 USD a day) and one budget rule (warn
12 h before the projected exhaustion). ``acme`` runs two workloads at 1 USD per window
in total, ``beta`` one at 0.01 USD; some windows are produced twice (a producer retry, a
replay) and must count once, also across a worker restart between the first copy and
the second (the dedupe marks come back from the spend table's changelog). The expected
spend and forecast are computed here from the distinct windows: ``acme`` is projected
to exhaust its budget minutes after its last window and pages once; ``beta`` never
within the day.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from schemas import (
    Alert,
    MetricStats,
    MetricWindow,
    WorkloadEvent,
    WorkloadSpec,
    decode,
    encode,
)
from tests.integration.api_harness import TOKENS, RunningApi
from tests.integration.harness import drain, fresh_settings, produce, start_worker
from tests.integration.test_dashboard import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.kafka

RULES = """
rules:
  - name: TenantBudgetExhaustion
    kind: budget
    entity_type: tenant
    warn_before: 12h
    severity: warning
    annotations:
      summary: "Tenant {entity_id} will exhaust its budget in {value:.1f} h"
"""
BUDGETS = """
budgets:
  acme: {limit_usd: 20, period: day}
  "*": {limit_usd: 1000, period: day}
"""
DAY_MS, HOUR_MS, WINDOW_MS, WINDOWS = 86_400_000, 3_600_000, 60_000, 12
TENANT_OF = {"w-a1": "acme", "w-a2": "acme", "w-b1": "beta"}
COUNTER = "computeperf_budget_windows_total"
USD_PER_WINDOW = {"w-a1": 0.75, "w-a2": 0.25, "w-b1": 0.01}


def window(workload: str, start_ms: int, usd: float, samples: int = 4) -> MetricWindow:
    per = usd / samples
    cost = MetricStats(count=samples, mean=per, min=per, max=per, p50=per, p95=per, p99=per)
    return MetricWindow(
        entity_type="workload",
        entity_id=workload,
        window_start_ms=start_ms,
        window_end_ms=start_ms + WINDOW_MS,
        count=samples,
        metrics={"cost_accrued_usd": cost},
    )


def test_budgets_show_each_tenants_spend_once_with_forecast_and_page_once(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    assert CHROMIUM.exists(), "Debian chromium is required: run `make chromium`"
    (tmp_path / "rules.yaml").write_text(RULES)
    (tmp_path / "budgets.yaml").write_text(BUDGETS)
    settings = fresh_settings(
        kafka_bootstrap,
        tmp_path,
        agents="alerts,api,budgets",
        rules_path=tmp_path / "rules.yaml",
        budgets_path=tmp_path / "budgets.yaml",
        api_tokens=TOKENS,
    )
    # One hour into a day that is over or has 1 h left at least: the projection
    # of the day is then far longer than the windows (time runs on the windows).
    now = int(time.time() * 1000)
    day = now - now % DAY_MS
    if now < day + 2 * HOUR_MS:
        day -= DAY_MS
    start = day + HOUR_MS
    windows = [
        window(wid, start + i * WINDOW_MS, USD_PER_WINDOW[wid])
        for i in range(WINDOWS)
        for wid in TENANT_OF
    ]
    again = [w for w in windows if w.window_start_ms < start + 4 * WINDOW_MS]
    submitted = [
        WorkloadEvent(
            workload_id=wid,
            ts_ms=start,
            kind="submitted",
            spec=WorkloadSpec(
                tenant_id=tenant, workload_type="training", gpus=1, vram_gb_per_gpu=16
            ),
        )
        for wid, tenant in TENANT_OF.items()
    ]
    # Independently of the code under test: the sums over the distinct windows, and the
    # linear forecast over them (all within the 6 h look-back) to the end of the day.
    last_end = start + WINDOWS * WINDOW_MS
    spent = {
        t: sum(USD_PER_WINDOW[w] for w in TENANT_OF if TENANT_OF[w] == t) * WINDOWS
        for t in ("acme", "beta")
    }
    rate_per_ms = {t: usd / (last_end - start) for t, usd in spent.items()}
    forecast = {t: spent[t] + rate_per_ms[t] * (day + DAY_MS - last_end) for t in spent}
    exhaustion_acme = last_end + (20 - spent["acme"]) / rate_per_ms["acme"]

    first = [w for w in windows if w.window_start_ms < start + 8 * WINDOW_MS]
    rest = [w for w in windows if w not in first]

    def metrics_messages(ws: list[MetricWindow]) -> list[tuple[str, str, bytes]]:
        return [("perf.metrics", f"workload:{w.entity_id}", encode(w)) for w in ws]

    # Before a restart: the submissions and the first 8 minutes.
    worker = start_worker(settings, tmp_path, name="before-restart")
    try:
        worker.wait_ready()
        messages = [("workloads.lifecycle", e.workload_id, encode(e)) for e in submitted]
        asyncio.run(produce(settings, messages + metrics_messages(first)))
        before = RunningApi(settings, worker, [])
        before.wait_for(
            "/api/v1/budgets",
            lambda body: (
                {i["tenant_id"]: i["as_of_ms"] for i in body["items"]}
                == {"acme": start + 8 * WINDOW_MS, "beta": start + 8 * WINDOW_MS}
            ),
            timeout_s=90,
        )
    finally:
        worker.stop()

    # After it (the spend table recovered from its changelog): the rest, and the first
    # 4 minutes again, counted before the restart.
    worker = start_worker(settings, tmp_path)
    running = RunningApi(settings, worker, [])
    try:
        worker.wait_ready()
        asyncio.run(produce(settings, metrics_messages(rest + again)))

        def complete(body: dict) -> bool:
            return {i["tenant_id"]: i["as_of_ms"] for i in body["items"]} == {
                "acme": last_end,
                "beta": last_end,
            } and worker.metric(COUNTER, outcome="duplicate") >= len(again)

        items = running.wait_for("/api/v1/budgets", complete, timeout_s=90)["items"]
        assert [i["tenant_id"] for i in items] == ["acme", "beta"]  # exhausting first
        acme, beta = items
        # Windows of before the restart whose offsets were not committed yet come again
        # too (at-least-once): more duplicates, never more counted.
        assert worker.metric(COUNTER, outcome="counted") == len(rest)
        assert worker.metric(COUNTER, outcome="unattributed") == 0
        for row, tenant, limit in ((acme, "acme", 20.0), (beta, "beta", 1000.0)):
            assert row["spent_usd"] == pytest.approx(spent[tenant], rel=1e-9)
            assert row["limit_usd"] == limit
            assert row["remaining_usd"] == pytest.approx(limit - spent[tenant])
            assert row["fraction_spent"] == pytest.approx(spent[tenant] / limit)
            assert row["period"] == "day"
            assert (row["period_start_ms"], row["period_end_ms"]) == (day, day + DAY_MS)
            assert row["burn_usd_per_h"] == pytest.approx(rate_per_ms[tenant] * HOUR_MS)
            assert row["forecast_usd"] == pytest.approx(forecast[tenant], rel=1e-6)
        # Bisection to the minute.
        assert abs(acme["exhaustion_ms"] - exhaustion_acme) <= 60_000
        assert acme["hours_to_exhaustion"] == pytest.approx(
            (acme["exhaustion_ms"] - last_end) / HOUR_MS
        )
        assert (beta["exhaustion_ms"], beta["hours_to_exhaustion"]) == (None, None)
        assert running.call("GET", "/api/v1/budgets?limit=1")[1]["items"] == [acme]

        # The budget alert: acme pages once, beta never (every status is in by now; the
        # alert agent gets 20 s to send anything more).
        records = asyncio.run(
            drain(settings, "perf.alerts", until=lambda records: False, timeout_s=20)
        )
        alerts = [decode(Alert, v) for _, v in records]
        assert [(a.labels["alertname"], a.labels["entity_id"], a.status) for a in alerts] == [
            ("TenantBudgetExhaustion", "acme", "firing")
        ]

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(f"{running.url}/#token={TOKENS.split(':')[0]}")
            page.wait_for_selector("body[data-loaded=true]", timeout=30_000)
            rows = page.locator("#budgets tbody tr")
            assert rows.count() == 2
            assert rows.first.get_attribute("data-tenant") == "acme"
            assert rows.first.locator("td.spent").text_content() == f"{spent['acme']:.2f}"
            assert rows.first.locator("td.limit").text_content() == "20.00"
            assert page.is_hidden("#budgets-empty")
            browser.close()
    finally:
        worker.stop()
    for log in ("before-restart", "worker"):
        assert "Traceback" not in (tmp_path / f"{log}.log").read_text()
