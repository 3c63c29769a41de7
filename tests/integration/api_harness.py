"""A running pipeline with the API for the API and dashboard tests: worker, telemetry, a rec."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from config.settings import Settings
from schemas import Recommendation, encode
from streams.workers import WorkerProcess, settings_env
from tests.integration.harness import fresh_settings, produce, start_worker

OPERATOR, READER = "op-token-1", "reader-token-1"
TOKENS = f"{OPERATOR}:operator,{READER}:reader"


@dataclass
class RunningApi:
    """A worker serving the API, fed by simulated telemetry."""

    settings: Settings
    worker: WorkerProcess
    provider_ids: list[str]

    @property
    def url(self) -> str:
        return self.worker.url

    def call(
        self, method: str, path: str, token: str | None = READER, body: Any = None
    ) -> tuple[int, Any]:
        """``(status, parsed JSON body)`` of one request."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method)
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                return exc.code, json.loads(raw or b"null")
            except ValueError:
                return exc.code, raw.decode(errors="replace")  # aiohttp's own 404/405 text

    def wait_for(self, path: str, ready: Any, timeout_s: float = 180.0) -> Any:
        """Poll ``GET path`` until ``ready(body)`` holds; return that body."""
        deadline = time.monotonic() + timeout_s
        body: Any = None
        while time.monotonic() < deadline:
            status, body = self.call("GET", path)
            if status == 200 and ready(body):
                return body
            time.sleep(0.5)
        raise AssertionError(f"{path} not ready in {timeout_s}s; last answer: {body}")


def start_api(bootstrap: str, tmp: Path, providers: int = 4) -> RunningApi:
    """Start a worker with every role, and backfill a minute of simulated telemetry."""
    settings = fresh_settings(bootstrap, tmp, api_tokens=TOKENS)
    worker = start_worker(settings, tmp)
    out = subprocess.run(
        [
            *(sys.executable, "-m", "cli", "simulate", "--backfill", "--duration-s", "60"),
            *("--providers", str(providers), "--workloads", "2", "--quiet", "--json"),
        ],
        env=settings_env(settings),
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert json.loads(out.stdout)["records_by_topic"]["providers.catalog"] == providers
    ids = [f"prov-{i:03d}" for i in range(providers)]
    return RunningApi(settings, worker, ids)


def proposed(rid: str, now_ms: int, provider_id: str = "prov-001") -> Recommendation:
    """A proposed migration, valid for an hour."""
    return Recommendation(
        recommendation_id=rid,
        ts_ms=now_ms,
        status="proposed",
        kind="migrate",
        workload_id="wl-0000",
        provider_id=provider_id,
        from_provider_id="prov-000",
        expected_throughput=1200.0,
        cost_usd_per_hour=3.2,
        perf_per_dollar_gain=0.18,
        sla_risk=0.05,
        confidence=0.8,
        rationale="prov-000 runs hot",
        expires_at_ms=now_ms + 3_600_000,
    )


def send_recommendations(settings: Settings, *recs: Recommendation) -> None:
    """Produce ``recs`` to perf.recommendations, as the recommendation engine would."""
    items = [("perf.recommendations", r.recommendation_id, encode(r)) for r in recs]
    asyncio.run(produce(settings, items))
