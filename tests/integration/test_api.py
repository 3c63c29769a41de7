"""The HTTP API on a real worker and broker: reads from the pipeline, auth, decisions, fuzzing."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from schemas import Alert, DeadLetter, Recommendation, alert_fingerprint, decode, encode
from tests.integration.api_harness import (
    OPERATOR,
    READER,
    RunningApi,
    proposed,
    send_recommendations,
    start_api,
)
from tests.integration.harness import drain, produce

pytestmark = pytest.mark.kafka


@pytest.fixture(scope="module")
def running(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApi]:
    running = start_api(kafka_bootstrap, tmp_path_factory.mktemp("api"))
    try:
        # Every provider's windows went through the pipeline into the read model.
        running.wait_for(
            "/api/v1/providers",
            lambda b: sum(p["metrics"] is not None for p in b["items"]) == 4,
        )
        yield running
    finally:
        running.worker.stop()


def test_reads_show_the_pipeline_and_need_a_token(running: RunningApi) -> None:
    status, body = running.call("GET", "/api/v1/providers", token=None)
    assert (status, body["error"]) == (
        401,
        "missing bearer token: send 'Authorization: Bearer <token>'",
    )
    assert running.call("GET", "/api/v1/providers", token="wrong")[0] == 401
    # Faust's unauthenticated table pages are off: the API is the only way to the tables.
    assert running.call("GET", "/table/provider_to_info/", token=None)[0] == 404

    providers = running.call("GET", "/api/v1/providers")[1]["items"]
    assert [p["provider_id"] for p in providers] == running.provider_ids
    for p in providers:
        assert p["info"]["provider_id"] == p["provider_id"]
        assert p["metrics"]["latest"]["entity_id"] == p["provider_id"]
        assert p["metrics"]["series"][-1]["count"] > 0

    one = running.call("GET", "/api/v1/providers/prov-002")[1]
    assert one["info"]["gpu_model"] == providers[2]["info"]["gpu_model"]
    metrics = running.call("GET", "/api/v1/metrics/provider:prov-002")[1]
    assert metrics["entity_key"] == "provider:prov-002"

    board = running.call("GET", "/api/v1/leaderboards")[1]["items"]
    assert sorted(r["provider_id"] for r in board) == running.provider_ids
    for cohort in {r["cohort"] for r in board}:
        figures = [r["perf_per_dollar"] for r in board if r["cohort"] == cohort]
        assert figures == sorted(figures, reverse=True)

    fleet = running.call("GET", "/api/v1/fleet")[1]
    assert (fleet["providers"], fleet["providers_with_metrics"]) == (4, 4)
    workloads = running.call("GET", "/api/v1/workloads")[1]["items"]
    assert {w["workload_id"] for w in workloads} == {"wl-0000", "wl-0001"}
    assert running.call("GET", "/api/v1/sla")[1] == {"items": []}
    assert running.call("GET", "/api/v1/budgets")[1] == {"items": []}


def test_bad_requests_get_clear_4xx(running: RunningApi) -> None:
    status, body = running.call("GET", "/api/v1/providers?limit=0")
    assert status == 422 and body["error"].startswith("invalid parameters: limit:")
    status, body = running.call("GET", "/api/v1/providers/nope!")
    assert status == 422 and "provider_id" in body["error"]
    status, body = running.call("GET", "/api/v1/providers/prov-999")
    assert (status, body["error"]) == (404, "provider 'prov-999' not found")
    status, body = running.call(
        "POST", "/api/v1/optimize/placement", body={"tenant_id": "t", "gpus": "many"}
    )
    assert status == 422 and body["error"].startswith("invalid body:")
    status, body = running.call("POST", "/api/v1/silences", token=READER, body={})
    assert (status, body["error"]) == (403, "role 'reader' may not do this: needs 'operator'")


def test_approve_and_reject_write_new_records_durably(running: RunningApi) -> None:
    now_ms = int(time.time() * 1000)
    send_recommendations(running.settings, proposed("rec-a", now_ms), proposed("rec-r", now_ms))
    running.wait_for("/api/v1/recommendations?status=proposed", lambda b: len(b["items"]) == 2)

    path = "/api/v1/recommendations/rec-a/approve"
    assert running.call("POST", path, token=READER, body={})[0] == 403
    status, approved = running.call("POST", path, token=OPERATOR, body={"reason": "looks right"})
    assert status == 200
    assert (approved["status"], approved["reason"]) == ("approved", "looks right")
    assert approved["actor"].startswith("operator:")
    assert approved["ts_ms"] > now_ms - 1

    status, rejected = running.call(
        "POST", "/api/v1/recommendations/rec-r/reject", token=OPERATOR, body={"reason": "no"}
    )
    assert (status, rejected["status"]) == (200, "rejected")

    def has_decisions(records: list[tuple[bytes | None, bytes]]) -> bool:
        seen = {(r.recommendation_id, r.status.value) for r in decode_recs(records)}
        return {("rec-a", "approved"), ("rec-r", "rejected")} <= seen

    records = asyncio.run(drain(running.settings, "perf.recommendations", until=has_decisions))
    assert has_decisions(records)

    view = running.wait_for(
        "/api/v1/recommendations/rec-a", lambda b: b["latest"]["status"] == "approved"
    )
    assert [h["status"] for h in view["history"]] == ["proposed", "approved"]
    status, body = running.call("POST", path, token=OPERATOR, body={})
    assert status == 409 and "only a proposed one" in body["error"]
    missing = running.call(
        "POST", "/api/v1/recommendations/rec-zz/approve", token=OPERATOR, body={}
    )
    assert missing[0] == 404


def decode_recs(records: list[tuple[bytes | None, bytes]]) -> list[Recommendation]:
    return [decode(Recommendation, value) for _, value in records]


def test_alert_acknowledgement_and_silences(running: RunningApi) -> None:
    labels = {"alertname": "GpuHot", "entity_id": "prov-003", "severity": "warning"}
    now_ms = int(time.time() * 1000)
    alert = Alert(
        fingerprint=alert_fingerprint(labels),
        status="firing",
        labels=labels,
        annotations={"summary": "hot"},
        starts_at_ms=now_ms,
        severity="warning",
    )
    asyncio.run(produce(running.settings, [("perf.alerts", alert.fingerprint, encode(alert))]))
    path = f"/api/v1/alerts/{alert.fingerprint}"
    running.wait_for(path, lambda b: b["latest"]["status"] == "firing")

    status, silence = running.call(
        "POST",
        "/api/v1/silences",
        token=OPERATOR,
        body={"matchers": {"entity_id": "prov-003"}, "duration_s": 600, "comment": "maintenance"},
    )
    assert status == 201 and silence["ends_at_ms"] - silence["ts_ms"] == 600_000
    status, ack = running.call(
        "POST", f"{path}/acknowledge", token=OPERATOR, body={"comment": "on it"}
    )
    assert status == 202 and ack["fingerprint"] == alert.fingerprint

    view = running.wait_for(
        path, lambda b: b["acknowledgement"] is not None and b["silenced_by"] != []
    )
    assert view["acknowledgement"]["comment"] == "on it"
    assert view["silenced_by"] == [silence["action_id"]]
    silences = running.call("GET", "/api/v1/silences")[1]["items"]
    assert [(s["silence"]["action_id"], s["active"]) for s in silences] == [
        (silence["action_id"], True)
    ]
    firing = running.call("GET", "/api/v1/alerts?status=firing")[1]["items"]
    assert alert.fingerprint in {a["fingerprint"] for a in firing}


def test_placement_query_ranks_the_known_providers(running: RunningApi) -> None:
    spec = {"tenant_id": "acme", "workload_type": "inference", "gpus": 1, "vram_gb_per_gpu": 16}
    status, answer = running.call("POST", "/api/v1/optimize/placement", body=spec)
    assert status == 200
    placed = [o["provider_id"] for o in answer["options"]]
    assert sorted(placed + list(answer["excluded"])) == running.provider_ids
    figures = [o["perf_per_dollar"] for o in answer["options"]]
    assert figures == sorted(figures, reverse=True) and figures
    for o in answer["options"]:
        assert o["perf_per_dollar"] == pytest.approx(
            o["predicted_throughput"] / o["cost_usd_per_hour"], rel=1e-4
        )
    status, none = running.call(
        "POST", "/api/v1/optimize/placement", body={**spec, "allowed_regions": ["mars"]}
    )
    assert status == 200 and none["options"] == []
    assert set(none["excluded"]) == set(running.provider_ids)


def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    running: RunningApi, tmp_path: Path
) -> None:
    st = Path(sys.executable).parent / "st"
    result = subprocess.run(
        [
            *(str(st), "run", f"{running.url}/openapi.json"),
            *("-H", f"Authorization: Bearer {OPERATOR}", "--max-examples", "25", "--seed", "1"),
            *("--workers", "1", "--no-color"),
        ],
        capture_output=True,
        text=True,
        timeout=500,
        cwd=tmp_path,
    )
    failures = result.stdout[result.stdout.find("FAILURES") :]
    assert result.returncode == 0, failures[:6000] + result.stderr[-2000:]
    assert "passed" in result.stdout


def test_bad_records_are_dead_lettered_and_the_api_goes_on(running: RunningApi) -> None:
    bad = [
        ("perf.recommendations", "rec-bad", b"{not json"),
        ("providers.catalog", "prov-bad", b'{"provider_id": "prov-bad", "gpu_count": -1}'),
    ]
    asyncio.run(produce(running.settings, bad))

    def both(records: list[tuple[bytes | None, bytes]]) -> bool:
        letters = [decode(DeadLetter, v) for _, v in records]
        return {(d.value, d.error_type) for d in letters} >= {
            (b"{not json", "json"),
            (bad[1][2], "validation"),
        }

    records = asyncio.run(drain(running.settings, "perf.dlq", until=both))
    assert both(records)
    sources = {decode(DeadLetter, v).source_topic for _, v in records}
    assert {running.settings.topic("perf.recommendations")} <= sources
    status, body = running.call("GET", "/api/v1/providers")
    assert status == 200 and "prov-bad" not in {p["provider_id"] for p in body["items"]}
