"""The dashboard in a real headless Chromium against a running pipeline.

Debian's ``chromium`` (``make chromium``), driven by Playwright; Playwright's own browser
downloads are never used. Missing chromium fails this test, it does not skip it.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from schemas import Recommendation, decode
from streams.workers import settings_env
from tests.integration.api_harness import OPERATOR, proposed, send_recommendations, start_api
from tests.integration.harness import drain

pytestmark = pytest.mark.kafka

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chart_points(page: Page, chart: str) -> int:
    return int(page.get_attribute(f"#{chart}", "data-points") or 0)


def test_dashboard_shows_the_pipeline_and_approving_writes_to_the_topic(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    assert CHROMIUM.exists(), "Debian chromium is required: run `make chromium`"
    running = start_api(kafka_bootstrap, tmp_path)
    try:
        running.wait_for(
            "/api/v1/providers", lambda b: sum(p["metrics"] is not None for p in b["items"]) == 4
        )
        send_recommendations(running.settings, proposed("rec-dash-1", int(time.time() * 1000)))
        running.wait_for("/api/v1/recommendations?status=proposed", lambda b: len(b["items"]) == 1)
        hosts: set[str] = set()
        errors: list[str] = []
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.on("request", lambda r: hosts.add(urlparse(r.url).hostname or r.url))
            page.on("pageerror", lambda e: errors.append(str(e)))
            # A Content-Security-Policy violation is a console error (api/security.py).
            page.on(
                "console",
                lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None,
            )
            page.goto(f"{running.url}/#token={OPERATOR}")
            page.wait_for_selector("body[data-loaded=true]", timeout=30_000)

            # Fleet, leaderboard and charts show the simulated providers' windows.
            assert page.text_content("#fleet-providers") == "4"
            board = page.locator("#leaderboard tbody tr")
            board.first.wait_for()
            ids = sorted(board.nth(i).get_attribute("data-provider-id") or "" for i in range(4))
            assert ids == running.provider_ids
            assert board.count() == 4
            before = chart_points(page, "chart-temp")
            assert before > 0
            assert page.locator("#chart-temp canvas").count() == 1

            # More telemetry: the charts grow without a reload.
            subprocess.run(
                [
                    *(sys.executable, "-m", "cli", "simulate", "--backfill"),
                    *("--duration-s", "15", "--providers", "4", "--workloads", "2", "--quiet"),
                ],
                env=settings_env(running.settings),
                check=True,
                timeout=120,
            )
            # Polled from here: the page's CSP forbids the eval wait_for_function needs.
            deadline = time.monotonic() + 60
            while chart_points(page, "chart-temp") <= before and time.monotonic() < deadline:
                page.wait_for_timeout(250)
            assert chart_points(page, "chart-temp") > before

            # Approve the pending recommendation with its button.
            row = page.locator('#recommendations tr[data-recommendation-id="rec-dash-1"]')
            row.wait_for()
            assert row.locator(".status").text_content() == "proposed"
            row.locator("button.approve").click()
            page.wait_for_selector(
                '#recommendations tr[data-recommendation-id="rec-dash-1"][data-status="approved"]'
            )
            # Once the read model has it, the row stays (one row per recommendation through
            # its lifecycle) with the approval time and without the buttons.
            page.wait_for_selector(
                '#recommendations tr[data-recommendation-id="rec-dash-1"]'
                '[data-status="approved"]:not(:has(button))',
                timeout=30_000,
            )
            expect(row.locator("td").nth(5)).to_have_text(re.compile("UTC$"), timeout=30_000)
            assert page.text_content("#fleet-pending") == "0"
            browser.close()
        assert errors == []
        assert hosts == {"127.0.0.1"}, f"the page fetched from elsewhere: {hosts}"

        def approved(records: list[tuple[bytes | None, bytes]]) -> bool:
            recs = [decode(Recommendation, v) for _, v in records]
            return any(
                r.recommendation_id == "rec-dash-1" and r.status.value == "approved" for r in recs
            )

        records = asyncio.run(drain(running.settings, "perf.recommendations", until=approved))
        decided = [decode(Recommendation, v) for _, v in records][-1]
        assert decided.recommendation_id == "rec-dash-1"
        assert decided.status.value == "approved" and decided.actor.startswith("operator:")
        assert decided.reason == "approved from the dashboard"
    finally:
        running.worker.stop()
