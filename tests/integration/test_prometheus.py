"""A real Prometheus scrapes a running worker: every query of every Grafana dashboard
in infra/grafana/dashboards returns data."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.kafka.broker import free_port, set_pdeathsig, terminate
from schemas import encode
from sim.marketplace import MarketplaceSim
from tests.integration.harness import drain, fresh_settings, produce, start_worker

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "infra/grafana/dashboards").glob("*.json"))


def dashboard_queries() -> list[tuple[str, str, str]]:
    """``(dashboard, panel, expr)`` of every target of every panel."""
    found = []
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for target in panel["targets"]:
                found.append((board["title"], panel["title"], target["expr"]))
    return found


def test_every_dashboard_has_queries_on_our_datasource() -> None:
    assert {p.stem for p in DASHBOARDS} >= {"fleet-performance", "cost", "sla", "pipeline"}
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        assert board["uid"] and board["panels"], path
        for panel in board["panels"]:
            assert panel["datasource"]["uid"] == "computeperf-prometheus", panel["title"]
    assert len(dashboard_queries()) >= 20


def _query(port: int, expr: str) -> list[Any]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=5) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def _start_prometheus(tmp: Path, worker_port: int) -> tuple[subprocess.Popen[bytes], int]:
    binary = shutil.which("prometheus")
    assert binary, "Prometheus is missing: `make test` installs Debian's prometheus package"
    config = yaml.safe_load((ROOT / "infra/prometheus/prometheus.yml").read_text())
    config["global"]["scrape_interval"] = "1s"
    config["scrape_configs"][0]["static_configs"] = [{"targets": [f"127.0.0.1:{worker_port}"]}]
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = (tmp / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp / 'prometheus-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=set_pdeathsig,
    )
    return process, port


def test_every_dashboard_query_returns_data_from_a_running_worker(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    settings = fresh_settings(kafka_bootstrap, tmp_path)
    now_ms = int(time.time() * 1000)
    start_ms = (now_ms - 240_000) // settings.window_ms * settings.window_ms
    sim = MarketplaceSim(seed=2, providers=4, workloads=3, random_incidents=0)
    items = [
        (rec.topic, rec.key, encode(rec.record)) for rec in sim.records(start_ms, now_ms - 30_000)
    ]
    worker = start_worker(settings, tmp_path)
    prometheus, port = _start_prometheus(tmp_path, worker.settings.web_port)
    try:
        asyncio.run(produce(settings, items))
        asyncio.run(drain(settings, "perf.metrics", until=lambda r: len(r) >= 8, timeout_s=120))
        queries = dashboard_queries()
        empty = queries
        deadline = time.monotonic() + 120
        while empty and time.monotonic() < deadline:
            time.sleep(2)
            try:
                empty = [q for q in queries if not _query(port, q[2])]
            except OSError:
                continue  # Prometheus still starting
    finally:
        terminate(prometheus.pid, timeout_s=10)
        worker.stop()
    assert empty == [], "dashboard queries without data:\n" + "\n".join(map(str, empty))
