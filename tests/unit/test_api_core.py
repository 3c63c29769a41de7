"""The API core: read model, ranking, validation, auth, OpenAPI (no broker, no server)."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api import readmodel
from api.auth import Denied, Granted, authorize
from api.openapi import ROUTES, body_validators, openapi_document
from api.ranking import rank_placements
from api.readmodel import TABLES
from api.resources import RecommendationView
from api.validation import ApiError, param_model, parse_body, parse_params
from config.tokens import parse_tokens
from schemas import (
    Alert,
    AlertAction,
    MetricStats,
    MetricWindow,
    ProviderInfo,
    Recommendation,
    RecommendationOutcome,
    RecommendationStatus,
    WorkloadEvent,
    WorkloadSpec,
    alert_fingerprint,
)

T0 = 1_800_000_000_000
PURE = ("readmodel", "ranking", "auth", "openapi", "resources", "validation")
FORBIDDEN = {"faust", "aiokafka", "mode", "prometheus_client", "click", "aiohttp"}


def test_pure_api_modules_import_no_framework() -> None:
    root = Path(__file__).resolve().parents[2] / "api"
    for name in PURE:
        tree = ast.parse((root / f"{name}.py").read_text())
        imported = {
            (node.module or "").split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
        } | {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        }
        assert not imported & FORBIDDEN, (name, imported & FORBIDDEN)


def window(start_ms: int, temp: float, entity: str = "p1", **extra: object) -> MetricWindow:
    stats = MetricStats(count=3, mean=temp, min=temp, max=temp, p50=temp, p95=temp, p99=temp)
    util = MetricStats(count=3, mean=50.0, min=50.0, max=50.0, p50=50.0, p95=50.0, p99=50.0)
    return MetricWindow(
        entity_type="provider",
        entity_id=entity,
        window_start_ms=start_ms,
        window_end_ms=start_ms + 60_000,
        count=3,
        metrics={"gpu_temp_c": stats, "gpu_util_pct": util},
        **extra,  # type: ignore[arg-type]
    )


def info(
    pid: str, gpu: str, price: float, status: str = "online", ts: int = T0, vram: float = 80.0
) -> ProviderInfo:
    return ProviderInfo(
        provider_id=pid,
        ts_ms=ts,
        region="us-east",
        gpu_model=gpu,
        gpu_count=8,
        vram_gb_per_gpu=vram,
        price_usd_per_gpu_hour=price,
        status=status,  # type: ignore[arg-type]
    )


def rec(ts: int, status: str = "proposed", rid: str = "r1") -> Recommendation:
    return Recommendation(
        recommendation_id=rid,
        ts_ms=ts,
        status=status,  # type: ignore[arg-type]
        kind="migrate",
        workload_id="w1",
        provider_id="p2",
        from_provider_id="p1",
        expected_throughput=100.0,
        cost_usd_per_hour=2.0,
        perf_per_dollar_gain=0.2,
        sla_risk=0.1,
        confidence=0.8,
        rationale="p1 is hot",
        expires_at_ms=T0 + 3_600_000,
    )


def alert(status: str, starts: int, ends: int | None = None) -> Alert:
    labels = {"alertname": "GpuHot", "provider_id": "p1"}
    return Alert(
        fingerprint=alert_fingerprint(labels),
        status=status,  # type: ignore[arg-type]
        labels=labels,
        starts_at_ms=starts,
        ends_at_ms=ends,
        severity="warning",
    )


# -- metric series -------------------------------------------------------------------


@given(st.permutations(list(range(12))), st.integers(min_value=1, max_value=8))
def test_series_keeps_the_newest_windows_in_order_whatever_the_arrival_order(
    order: list[int], keep: int
) -> None:
    state = None
    for i in order + order[:3]:  # and some replays
        state = readmodel.apply_metric_window(
            state, "provider:p1", window(T0 + i * 60_000, i), keep
        )
    assert state is not None
    starts = [p["window_start_ms"] for p in state["series"]]
    assert starts == [T0 + i * 60_000 for i in range(12 - keep, 12)]
    assert state["latest"]["window_start_ms"] == T0 + 11 * 60_000
    assert state["series"][-1]["p95"]["gpu_temp_c"] == 11.0


def test_provider_info_newest_wins_and_replays_change_nothing() -> None:
    old, new = info("p1", "A100 80GB", 2.0, ts=T0), info("p1", "A100 80GB", 3.0, ts=T0 + 1)
    state = readmodel.apply_provider_info(readmodel.apply_provider_info(None, new), old)
    assert state["price_usd_per_gpu_hour"] == 3.0


def test_workload_keeps_the_submitted_spec_when_events_arrive_out_of_order() -> None:
    spec = WorkloadSpec(tenant_id="t1", workload_type="training", gpus=2, vram_gb_per_gpu=40.0)
    submitted = WorkloadEvent(workload_id="w1", ts_ms=T0, kind="submitted", spec=spec)
    started = WorkloadEvent(workload_id="w1", ts_ms=T0 + 5, kind="started", provider_id="p3")
    for events in itertools.permutations([submitted, started]):
        state = None
        for event in events:
            state = readmodel.apply_workload_event(state, event)
        assert state is not None
        assert state["latest"]["kind"] == "started"
        assert state["spec"]["gpus"] == 2
        assert state["provider_id"] == "p3"


# -- alerts, acknowledgements, silences ------------------------------------------------


def test_alert_history_is_ordered_deduplicated_and_bounded() -> None:
    records = [
        alert("firing", T0),
        alert("resolved", T0, T0 + 60_000),
        alert("firing", T0 + 120_000),
    ]
    state = None
    for a in [*records, records[0], records[1]]:
        state = readmodel.apply_alert(state, a, keep=2)
    assert state is not None
    assert [(h["status"], h["starts_at_ms"]) for h in state["history"]] == [
        ("resolved", T0),
        ("firing", T0 + 120_000),
    ]
    assert state["latest"]["status"] == "firing"


def test_acknowledgement_is_cleared_when_the_alert_fires_again() -> None:
    fp = alert("firing", T0).fingerprint
    ack = AlertAction(action_id="a1", ts_ms=T0 + 1, kind="acknowledge", fingerprint=fp, actor="ops")
    assert readmodel.apply_acknowledgement(None, ack) is None
    state = readmodel.apply_acknowledgement(readmodel.apply_alert(None, alert("firing", T0)), ack)
    assert state is not None and state["acknowledgement"]["actor"] == "ops"
    same = readmodel.apply_alert(state, alert("resolved", T0, T0 + 60_000))
    assert same["acknowledgement"] is not None
    again = readmodel.apply_alert(same, alert("firing", T0 + 120_000))
    assert again["acknowledgement"] is None


def test_silences_match_labels_only_while_active() -> None:
    silence = AlertAction(
        action_id="s1",
        ts_ms=T0,
        kind="silence",
        matchers={"provider_id": "p1"},
        ends_at_ms=T0 + 600_000,
        actor="ops",
    )
    values = [readmodel.apply_silence(None, silence)]
    labels = {"alertname": "GpuHot", "provider_id": "p1"}
    assert readmodel.silences_matching(values, labels, T0 + 1) == ["s1"]
    assert readmodel.silences_matching(values, {**labels, "provider_id": "p2"}, T0 + 1) == []
    assert readmodel.silences_matching(values, labels, T0 + 600_000) == []
    assert readmodel.silences_matching(values, labels, T0 - 1) == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "acknowledge"}, "fingerprint"),
        ({"kind": "silence", "ends_at_ms": T0 + 1}, "matcher"),
        ({"kind": "silence", "matchers": {"a": "b"}, "ends_at_ms": T0}, "ends_at_ms"),
    ],
)
def test_incomplete_alert_actions_are_refused(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AlertAction(action_id="x", ts_ms=T0, actor="ops", **fields)  # type: ignore[arg-type]


# -- recommendations -------------------------------------------------------------------


def test_recommendation_latest_is_the_newest_record_whatever_the_order() -> None:
    records = [rec(T0), rec(T0 + 10, "approved"), rec(T0 + 20, "applied")]
    for order in itertools.permutations(records):
        state = None
        for r in order:
            state = readmodel.apply_recommendation(state, r)
        assert state is not None
        assert state["latest"]["status"] == "applied"
        assert [h["status"] for h in state["history"]] == ["proposed", "approved", "applied"]


def test_decide_writes_a_newer_record_with_actor_and_reason() -> None:
    current = rec(T0 + 5_000)
    approved = readmodel.decide(
        current, RecommendationStatus.APPROVED, actor="ops", reason="go", now_ms=T0
    )
    assert approved.status is RecommendationStatus.APPROVED
    assert (approved.actor, approved.reason) == ("ops", "go")
    assert approved.ts_ms == T0 + 5_001  # never older than the record it supersedes
    state = readmodel.apply_recommendation(readmodel.apply_recommendation(None, current), approved)
    assert state["latest"]["status"] == "approved"


@pytest.mark.parametrize(
    ("current", "status", "now", "message"),
    [
        (rec(T0, "approved"), RecommendationStatus.REJECTED, T0 + 1, "only a proposed"),
        (rec(T0), RecommendationStatus.APPROVED, T0 + 3_600_000, "expired"),
        (rec(T0), RecommendationStatus.APPLIED, T0 + 1, "only approve or reject"),
    ],
)
def test_decide_refuses_what_an_operator_cannot_do(
    current: Recommendation, status: RecommendationStatus, now: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        readmodel.decide(current, status, actor="ops", reason="", now_ms=now)


# -- leaderboard, fleet, ranking -------------------------------------------------------


def test_leaderboard_ranks_within_cohorts_by_perf_per_dollar_measured_first() -> None:
    infos = {
        "cheap": readmodel.apply_provider_info(None, info("cheap", "A100 80GB", 1.0)),
        "dear": readmodel.apply_provider_info(None, info("dear", "A100 80GB", 4.0)),
        "measured": readmodel.apply_provider_info(None, info("measured", "A100 80GB", 9.0)),
        "h100": readmodel.apply_provider_info(None, info("h100", "H100 80GB", 2.0)),
        "odd": readmodel.apply_provider_info(None, info("odd", "Mystery 1GB", 1.0)),
        "gone": readmodel.apply_provider_info(None, info("gone", "A100 80GB", 0.1, "offline")),
    }
    metrics = {
        "provider:measured": readmodel.apply_metric_window(
            None, "provider:measured", window(T0, 60.0, "measured", perf_per_dollar=50.0)
        )
    }
    rows = readmodel.leaderboard(infos, metrics)
    table = [(r.cohort, r.rank, r.provider_id, r.perf_per_dollar_source) for r in rows]
    assert table == [
        ("A100 80GB", 1, "measured", "window"),
        ("A100 80GB", 2, "cheap", "gpu_prior"),
        ("A100 80GB", 3, "dear", "gpu_prior"),
        ("H100 80GB", 1, "h100", "gpu_prior"),
        ("Mystery 1GB", 1, "odd", "unknown"),
    ]
    cheap, dear = rows[1], rows[2]
    assert cheap.perf_per_dollar == pytest.approx(4 * (dear.perf_per_dollar or 0))
    assert [r.provider_id for r in readmodel.leaderboard(infos, metrics, "H100 80GB")] == ["h100"]


def test_fleet_summary_counts_what_needs_attention() -> None:
    infos = {"p1": readmodel.apply_provider_info(None, info("p1", "A100 80GB", 1.0))}
    infos["p2"] = readmodel.apply_provider_info(None, info("p2", "A100 80GB", 1.0, "degraded"))
    metrics = {"provider:p1": readmodel.apply_metric_window(None, "provider:p1", window(T0, 70))}
    alerts = [readmodel.apply_alert(None, alert("firing", T0))]
    recs = [
        readmodel.apply_recommendation(None, rec(T0)),
        readmodel.apply_recommendation(None, rec(T0, "approved", "r2")),
    ]
    summary = readmodel.fleet_summary(infos, metrics, alerts, recs, [], T0)
    assert (summary.providers, summary.providers_online, summary.providers_with_metrics) == (
        2,
        1,
        1,
    )
    assert (summary.firing_alerts, summary.pending_recommendations) == (1, 1)
    assert summary.mean_gpu_util_pct == 50.0


def test_placement_options_respect_constraints_and_rank_by_perf_per_dollar() -> None:
    infos = {
        p.provider_id: readmodel.apply_provider_info(None, p)
        for p in (
            info("a100-cheap", "A100 80GB", 1.0),
            info("a100-dear", "A100 80GB", 3.0),
            info("l4", "L4 24GB", 0.3, vram=24.0),
            info("down", "A100 80GB", 0.5, "offline"),
        )
    }
    spec = WorkloadSpec(tenant_id="t", workload_type="training", gpus=2, vram_gb_per_gpu=40.0)
    answer = rank_placements(spec, infos, {})
    assert [o.provider_id for o in answer.options] == ["a100-cheap", "a100-dear"]
    assert [o.rank for o in answer.options] == [1, 2]
    assert answer.options[0].cost_usd_per_hour == 2.0
    assert answer.excluded == {"down": ["status"], "l4": ["vram"]}
    capped = spec.model_copy(update={"max_price_usd_per_gpu_hour": 2.0, "gpus": 9})
    assert rank_placements(capped, infos, {}).excluded["a100-dear"] == ["max_price", "capacity"]


def test_a_throttled_provider_is_predicted_slower_and_the_figure_gains_confidence() -> None:
    infos = {"p1": readmodel.apply_provider_info(None, info("p1", "A100 80GB", 1.0))}
    spec = WorkloadSpec(tenant_id="t", workload_type="inference", gpus=1, vram_gb_per_gpu=10.0)
    nominal = rank_placements(spec, infos, {}).options[0]
    clock = MetricStats(count=1, mean=705.0, min=705.0, max=705.0, p50=705.0, p95=705.0, p99=705.0)
    w = window(T0, 90.0).model_copy(update={"metrics": {"sm_clock_mhz": clock}})
    throttled = rank_placements(
        spec, infos, {"provider:p1": readmodel.apply_metric_window(None, "provider:p1", w)}
    ).options[0]
    assert throttled.predicted_throughput < nominal.predicted_throughput
    assert throttled.confidence > nominal.confidence


# -- auth and the OpenAPI document -----------------------------------------------------


def test_tokens_roles_and_refusals() -> None:
    tokens = parse_tokens("op:operator,rd:reader")
    assert authorize("Bearer op", tokens, "operator") == Granted("operator")
    assert authorize("bearer op", tokens, "reader") == Granted("operator")
    assert isinstance(authorize("Bearer rd", tokens, "operator"), Denied)
    assert authorize("Bearer nope", tokens, "reader") == Denied(401, "unknown bearer token")
    assert authorize("Basic op", tokens, "reader").status == 401  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="TOKEN:ROLE"):
        parse_tokens("tok:admin")


def test_openapi_document_covers_every_route_with_resolvable_refs() -> None:
    doc = openapi_document()
    schemas = doc["components"]["schemas"]
    for route in ROUTES:
        op = doc["paths"][route.path][route.method]
        ref = op["responses"][str(route.status)]["content"]["application/json"]["schema"]["$ref"]
        assert ref.rsplit("/", 1)[1] in schemas
        assert {p["name"] for p in op["parameters"] if p["in"] == "path"} == {
            part[1:-1] for part in route.path.split("/") if part.startswith("{")
        }
    operations = {r.name: r for r in ROUTES}
    linked = 0
    for route in ROUTES:
        links = doc["paths"][route.path][route.method]["responses"][str(route.status)]
        for link in links.get("links", {}).values():
            target = operations[link["operationId"]]
            assert set(link["parameters"]) <= {p.name for p in target.params}
            linked += 1
    assert linked >= 7
    rendered = repr(doc)
    for name in [part.split("'")[0] for part in rendered.split("#/components/schemas/")[1:]]:
        assert name in schemas, name


def test_body_schemas_refuse_what_pydantic_would_coerce() -> None:
    check = body_validators(openapi_document())["optimize_placement"]
    spec = {"tenant_id": "t", "workload_type": "training", "gpus": 2, "vram_gb_per_gpu": 8}
    assert check.is_valid(spec)
    assert check.is_valid({**spec, "gpus": 2.0})
    assert not check.is_valid({**spec, "sla": {"min_availability": False}})
    assert not check.is_valid({**spec, "unknown": 1})


SPEC = b'{"tenant_id": "t", "workload_type": "training", "gpus": 1, "vram_gb_per_gpu": 8}'


def _route(name: str):  # type: ignore[no-untyped-def]
    return next(r for r in ROUTES if r.name == name)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "invalid body: not JSON"),
        (b"\xff\xfe", "invalid body: not JSON"),
        (b"[]", 'invalid body: body: [] is not of type "object"'),
        (b'{"tenant_id": "t"}', "invalid body: body:"),
        (SPEC.replace(b'"training"', b'"x"'), "workload_type"),
        (SPEC.replace(b'"gpus": 1', b'"gpus": 0'), "gpus"),
        (SPEC[:-1] + b', "sla": {"min_availability": false}}', "sla.min_availability"),
    ],
)
def test_bad_bodies_are_422_with_the_place_and_reason(raw: bytes, message: str) -> None:
    route = _route("optimize_placement")
    check = body_validators(openapi_document())[route.name]
    with pytest.raises(ApiError) as caught:
        parse_body(raw, route, check)
    assert caught.value.status == 422
    assert message in caught.value.error


def test_integral_floats_are_integers_and_parameters_are_checked() -> None:
    route = _route("optimize_placement")
    check = body_validators(openapi_document())[route.name]
    raw = SPEC.replace(b'"gpus": 1', b'"gpus": 2.0')[:-1] + b', "replicas": 1e3}'
    spec = parse_body(raw, route, check)
    assert isinstance(spec, WorkloadSpec) and (spec.gpus, spec.replicas) == (2, 1000)
    # Beyond 64 bits it is still an integer, refused by the schema's bound (MAX_REPLICAS).
    with pytest.raises(ApiError, match="replicas: 1e\\+30 is greater than the maximum") as big:
        parse_body(raw.replace(b"1e3", b"1e30"), route, check)
    assert big.value.status == 422
    model = param_model(_route("alerts"))
    assert parse_params(model, {"limit": "7", "status": "firing"}, {}) == {
        "limit": 7,
        "status": "firing",
    }
    assert parse_params(model, {}, {}) == {"limit": 100, "status": None}
    for query in ({"limit": "0"}, {"limit": "x"}, {"status": "burning"}):
        with pytest.raises(ApiError) as caught:
            parse_params(model, query, {})
        assert caught.value.status == 422 and caught.value.error.startswith("invalid parameters: ")
    keyed = param_model(_route("alert"))
    with pytest.raises(ApiError, match="fingerprint"):
        parse_params(keyed, {}, {"fingerprint": "NOT-HEX"})


def test_fold_routes_each_record_to_its_table_and_skips_no_ops() -> None:
    from api.agent import ReadModel, fold

    tables: dict[str, dict[bytes, object]] = {name: {} for _, name in TABLES.values()}
    model = ReadModel(tables)  # type: ignore[arg-type]  # plain dicts hold what tables hold

    def apply(topic: str, key: str, record: object) -> None:
        change = fold(model, topic, key, record)  # type: ignore[arg-type]
        if change is not None:
            tables[change[0]][key.encode()] = change[1]

    firing = alert("firing", T0)
    ack = AlertAction(
        action_id="a1", ts_ms=T0 + 1, kind="acknowledge", fingerprint=firing.fingerprint, actor="o"
    )
    assert fold(model, "perf.alert_actions", firing.fingerprint, ack) is None  # no alert yet
    apply("perf.alerts", firing.fingerprint, firing)
    apply("perf.alert_actions", firing.fingerprint, ack)
    apply("providers.catalog", "p1", info("p1", "A100 80GB", 1.0))
    assert fold(model, "providers.catalog", "p1", info("p1", "A100 80GB", 1.0)) is None
    assert (
        tables["fingerprint_to_alert"][firing.fingerprint.encode()]["acknowledgement"]["actor"]
        == "o"
    )
    assert set(model.values("provider_to_info")) == {"p1"}
    assert tables["silence_to_action"] == {}


def test_reads_skip_keys_of_partitions_this_worker_no_longer_owns() -> None:
    from api.agent import ReadModel, key_partition

    keys = [f"prov-{i:03d}" for i in range(16)]
    table = {k.encode(): {"provider_id": k} for k in keys}
    owned: set[int] = {0, 1}
    model = ReadModel({"provider_to_info": table}, partitions=4, owned=lambda name: owned)  # type: ignore[dict-item]
    mine = {k for k in keys if key_partition(k.encode(), 4) in {0, 1}}
    assert 0 < len(mine) < len(keys)
    assert set(model.values("provider_to_info")) == mine
    for k in keys:
        assert (model.get("provider_to_info", k) is not None) == (k in mine)
    owned = {0, 1, 2, 3}  # after a rebalance that gives everything back
    model.owned = lambda name: owned
    assert set(model.values("provider_to_info")) == set(keys)


def outcome(ts: int, realised: float, rid: str = "r1") -> RecommendationOutcome:
    return RecommendationOutcome(
        recommendation_id=rid,
        ts_ms=ts,
        workload_id="w1",
        provider_id="p2",
        applied_at_ms=ts - 60_000,
        predicted_throughput=100.0,
        realised_throughput=realised,
        predicted_cost_usd_per_hour=2.0,
        realised_cost_usd_per_hour=2.0,
        samples=15,
        throughput_error=realised / 100.0 - 1,
    )


def test_outcome_rides_on_its_recommendation_and_survives_later_status_records() -> None:
    assert readmodel.apply_outcome(None, outcome(T0, 90.0)) is None  # unknown id: nothing
    view = readmodel.apply_recommendation(None, rec(T0, "approved"))
    view = readmodel.apply_outcome(view, outcome(T0 + 2_000, 90.0))
    assert view is not None
    assert readmodel.apply_outcome(view, outcome(T0 + 1_000, 50.0)) == view  # older: ignored
    view = readmodel.apply_recommendation(view, rec(T0 + 1_000, "applied"))
    parsed = RecommendationView.model_validate(view)
    assert parsed.latest.status.value == "applied"
    assert parsed.outcome is not None and parsed.outcome.realised_throughput == 90.0
