"""End to end with a real Alertmanager (Debian ``prometheus-alertmanager``).

A thermal incident makes the worker fire ``GpuTemperatureHigh``: the alert is on
``perf.alerts`` and reaches Alertmanager (its API lists it, its webhook receiver is
notified); when the incident is over the resolution reaches Alertmanager too (the
receiver gets the resolved notification). The history reader then finds both transitions
for that entity on the topic. The binary must be installed
(``make system-packages``): the test fails, it does not skip, when it is missing.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerts.history import episodes
from infra.kafka.broker import free_port, set_pdeathsig
from schemas import Alert, AlertStatus, encode
from streams.alert_history import read_alert_history
from tests.integration.harness import decode_all, drain, fresh_settings, produce, start_worker
from tests.integration.scenario import thermal_scenario

pytestmark = pytest.mark.kafka


class Webhook:
    """An HTTP receiver for Alertmanager's webhook notifications."""

    def __init__(self) -> None:
        self.payloads: list[dict[str, Any]] = []
        received = self.payloads

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if any(predicate(p) for p in list(self.payloads)):
                return True
            time.sleep(0.2)
        return False


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.server.shutdown()


@pytest.fixture
def alertmanager(tmp_path: Path, webhook: Webhook) -> Iterator[str]:
    """A real Alertmanager on a free port with a temporary config and storage."""
    binary = shutil.which("prometheus-alertmanager")
    assert binary, "prometheus-alertmanager not found: run `make system-packages`"
    config = {
        "route": {
            "receiver": "hook",
            "group_by": ["alertname", "entity_id"],
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": "1h",
        },
        "receivers": [
            {"name": "hook", "webhook_configs": [{"url": webhook.url, "send_resolved": True}]}
        ],
    }
    (tmp_path / "am.yml").write_text(yaml.safe_dump(config))
    (tmp_path / "am-data").mkdir()
    port = free_port()
    log = (tmp_path / "alertmanager.log").open("wb")
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={tmp_path / 'am.yml'}",
            f"--storage.path={tmp_path / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=set_pdeathsig,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (tmp_path / "alertmanager.log").read_text()
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "alertmanager did not become ready"
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def active_alerts(url: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{url}/api/v2/alerts?active=true", timeout=5) as r:
        return list(json.loads(r.read()))


def has_alert(status: str, provider: str) -> Callable[[dict[str, Any]], bool]:
    def predicate(payload: dict[str, Any]) -> bool:
        return any(
            a["status"] == status
            and a["labels"].get("alertname") == "GpuTemperatureHigh"
            and a["labels"].get("entity_id") == provider
            for a in payload.get("alerts", [])
        )

    return predicate


def test_alert_fires_and_resolves_in_alertmanager(
    kafka_bootstrap: str, tmp_path: Path, alertmanager: str, webhook: Webhook
) -> None:
    settings = fresh_settings(
        kafka_bootstrap, tmp_path, alertmanager_url=alertmanager, alertmanager_firing_ttl_s=60
    )
    scenario = thermal_scenario()
    hot = scenario.hot_provider
    # Two phases, so that Alertmanager sees the alert firing before it resolves (an alert
    # resolved within group_wait is never notified, by design).
    cut = scenario.incident.end_ms
    during = [s for s in scenario.samples if s.ts_ms < cut]
    after = [s for s in scenario.samples if s.ts_ms >= cut]
    assert during and after
    worker = start_worker(settings, tmp_path)
    try:
        asyncio.run(
            produce(settings, [("telemetry.provider", s.provider_id, encode(s)) for s in during])
        )
        assert webhook.wait_for(has_alert("firing", hot), timeout_s=90), webhook.payloads
        listed = active_alerts(alertmanager)
        assert [
            a["labels"]["entity_id"]
            for a in listed
            if a["labels"]["alertname"] == "GpuTemperatureHigh"
        ] == [hot]
        assert not webhook.wait_for(has_alert("resolved", hot), timeout_s=0.5)

        asyncio.run(
            produce(settings, [("telemetry.provider", s.provider_id, encode(s)) for s in after])
        )
        assert webhook.wait_for(has_alert("resolved", hot), timeout_s=90), webhook.payloads
        assert not [
            a
            for a in active_alerts(alertmanager)
            if a["labels"]["alertname"] == "GpuTemperatureHigh"
        ]

        records = asyncio.run(
            drain(settings, "perf.alerts", until=lambda r: len(r) >= 2, timeout_s=90)
        )
        alerts = decode_all(Alert, records)
        assert [a.status for a in alerts] == [AlertStatus.FIRING, AlertStatus.RESOLVED]
        assert {a.labels["entity_id"] for a in alerts} == {hot}

        # The durable history, read back by entity and time with offsets_for_times.
        since = scenario.incident.start_ms
        history = asyncio.run(read_alert_history(settings, entity_id=hot, since_ms=since))
        assert [(a.fingerprint, a.status) for a in history] == [
            (a.fingerprint, a.status) for a in alerts
        ]
        (episode,) = episodes(history)
        assert episode.starts_at_ms == alerts[0].starts_at_ms
        assert episode.ends_at_ms == alerts[1].ends_at_ms
        assert asyncio.run(read_alert_history(settings, entity_id="nobody")) == []
        later = alerts[1].ends_at_ms + 3_600_000  # type: ignore[operator]
        assert asyncio.run(read_alert_history(settings, entity_id=hot, since_ms=later)) == []
    finally:
        worker.stop()
