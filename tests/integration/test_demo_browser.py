"""``make run`` as a new user sees it: the demo on the dashboard within five minutes.

Starts ``computeperf run`` exactly as ``make run`` does (its own broker, on free ports here),
opens the printed dashboard in Debian's headless Chromium (Playwright) and watches it like a
person would, for at most five minutes: an alert that fires and one that resolved, an
anomaly, an insight, a recommendation that went proposed → approved → applied with realised
vs predicted throughput, charts whose time axis stays within the data, no console error.
Then Ctrl-C (SIGINT to the process group) must leave nothing behind within 10 s. The final
screenshot is ``dashboard.png`` in the test's temporary folder.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

from config.settings import Settings
from infra.kafka.broker import free_port
from streams.workers import settings_env
from tests.integration.test_dashboard import CHROMIUM, CHROMIUM_ARGS
from tests.integration.test_run_command import descendants

pytestmark = pytest.mark.kafka

BUDGET_S = 300.0

#: What the page shows, read in one go (a person's glance).
GLANCE = """() => {
  const rows = (sel) => [...document.querySelectorAll(sel)];
  const chart = (id) => ({ ...document.getElementById(id).dataset });
  const name = (r) => r.cells[0].textContent + ' ' + r.cells[1].textContent;
  return {
    firing: rows('#alerts tr[data-status="firing"]').map(name),
    resolved: rows('#alerts tr[data-status="resolved"]').map(name),
    anomalies: rows('#anomalies tbody tr').length,
    insights: rows('#insights tbody tr').map((r) => r.cells[2].textContent),
    applied: rows('#recommendations tr[data-status="applied"]').map((r) => ({
      id: r.dataset.recommendationId,
      kind: r.cells[0].textContent,
      proposed: r.cells[4].textContent, approved: r.cells[5].textContent,
      applied: r.cells[6].textContent, outcome: r.cells[7].textContent })),
    temp: chart('chart-temp'), util: chart('chart-util'),
    legend: document.querySelectorAll('#chart-temp .u-legend .u-series').length,
    panels: ['recommendations', 'alerts', 'anomalies', 'insights', 'sla', 'budgets'].map((id) => [
      id, rows(`#${id} tbody tr`).length, document.getElementById(`${id}-empty`).textContent]),
  };
}"""


def sig(value: object) -> str:
    """Three significant digits as the dashboard's ``sig`` shows them (JS ``String``)."""
    assert isinstance(value, float | int)
    rounded = float(f"{value:.3g}")
    return str(int(rounded)) if rounded.is_integer() else str(rounded)


def api_get(url: str, path: str) -> dict[str, object]:
    request = urllib.request.Request(f"{url}{path}", headers={"Authorization": "Bearer dev-reader"})
    with urllib.request.urlopen(request, timeout=10) as r:
        return dict(json.loads(r.read()))


def seen_everything(glance: dict[str, object], seen: dict[str, bool]) -> bool:
    seen["firing"] |= bool(glance["firing"])
    seen["resolved"] |= bool(glance["resolved"])
    seen["anomaly"] |= bool(glance["anomalies"])
    seen["insight"] |= bool(glance["insights"])
    applied = glance["applied"]
    assert isinstance(applied, list)
    seen["applied"] |= any(a["outcome"] != "—" for a in applied)
    return all(seen.values())


def wait_for_dashboard(page: Page, url: str, started: float, run: subprocess.Popen[bytes]) -> None:
    while time.monotonic() - started < 180:
        if run.poll() is not None:
            raise AssertionError(f"`computeperf run` exited with {run.returncode} before serving")
        try:
            page.goto(f"{url}/#token=dev-operator")
            page.wait_for_selector("body[data-loaded=true]", timeout=20_000)
            return
        except Exception:  # not serving yet
            time.sleep(2)
    raise AssertionError("the dashboard did not load")


def test_make_run_demo_shows_every_stage_on_the_dashboard_within_five_minutes(
    tmp_path: Path,
) -> None:
    assert CHROMIUM.exists(), "Debian chromium is required: run `make chromium`"
    settings = Settings(
        kafka_bootstrap_servers=f"127.0.0.1:{free_port()}",
        web_port=free_port(),
        data_dir=tmp_path / "faust",
    )
    url = f"http://127.0.0.1:{settings.web_port}"
    started = time.monotonic()
    run = subprocess.Popen(
        [sys.executable, "-m", "cli", "run", "--logs", str(tmp_path / "logs")],
        env=settings_env(settings),
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    family: set[int] = set()
    seen = dict.fromkeys(("firing", "resolved", "anomaly", "insight", "applied"), False)
    errors: list[str] = []
    glance: dict[str, object] = {}
    empties: set[str] = set()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on(
                "console",
                lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None,
            )
            page.on("pageerror", lambda e: errors.append(f"page: {e}"))
            page.on(
                "response",
                lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None,
            )
            wait_for_dashboard(page, url, started, run)
            while time.monotonic() - started < BUDGET_S:
                glance = page.evaluate(GLANCE)
                panels = glance["panels"]
                assert isinstance(panels, list)
                for name, rows, note in panels:
                    # Every panel has rows, or says why it is empty and when it looked.
                    assert rows or re.search(r"Checked \d\d:\d\d:\d\d UTC", note), (name, note)
                    if not rows:
                        empties.add(name)
                if seen_everything(glance, seen):
                    break
                page.wait_for_timeout(3000)
            family = descendants(run.pid)
            page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
            print(
                f"screenshot: {tmp_path / 'dashboard.png'}; after {time.monotonic() - started:.0f}s"
            )
            print(f"panels seen empty, saying why and when: {sorted(empties)}")
            browser.close()
        assert all(seen.values()), f"not seen within {BUDGET_S:.0f}s: {seen}; last: {glance}"
        assert errors == [], errors

        # The outcome shown is the scheduler's, to the digit shown.
        applied = glance["applied"]
        assert isinstance(applied, list)
        row = next(a for a in applied if a["outcome"] != "—")
        view = api_get(url, f"/api/v1/recommendations/{row['id']}")
        outcome = view["outcome"]
        assert isinstance(outcome, dict)
        shown = f"{sig(outcome['predicted_throughput'])} → {sig(outcome['realised_throughput'])}"
        assert row["outcome"].startswith(shown), (row, outcome)
        assert row["proposed"] <= row["approved"] <= row["applied"] != "—"

        # Time axes over the data's span, and five lines, not twelve.
        for name in ("temp", "util"):
            chart = glance[name]
            assert isinstance(chart, dict)
            lo, hi = float(chart["dataMin"]), float(chart["dataMax"])
            assert lo < hi, chart
            assert lo <= float(chart["axisMin"]) and float(chart["axisMax"]) <= hi, chart
            assert chart["series"] == "5", chart
    finally:
        sigint_at = time.monotonic()
        os.killpg(run.pid, signal.SIGINT)  # Ctrl-C
        out, _ = run.communicate(timeout=60)
        while any(Path(f"/proc/{pid}").exists() for pid in family):
            if time.monotonic() - sigint_at > 30:
                break
            time.sleep(0.05)
        stop_s = time.monotonic() - sigint_at
        (tmp_path / "run.out").write_bytes(out)
        print(f"Ctrl-C to all gone: {stop_s:.1f}s; {out.decode().strip().splitlines()[-1]}")
    alive = [pid for pid in family if Path(f"/proc/{pid}").exists()]
    assert alive == [] and stop_s < 10.0, f"{alive} left, stop took {stop_s:.1f}s"
