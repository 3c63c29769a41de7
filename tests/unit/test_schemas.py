"""Unit tests for the wire-format records and the codec in ``schemas``."""

from __future__ import annotations

import base64
import json
import math
import pickle
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

import schemas
from schemas import (
    SLA,
    TOPIC_RECORDS,
    Alert,
    AlertAction,
    AlertStatus,
    Anomaly,
    DeadLetter,
    DecodeError,
    EntityType,
    FeedbackOutcome,
    Insight,
    MetricStats,
    MetricWindow,
    ProviderInfo,
    ProviderSample,
    ProviderStatus,
    Recommendation,
    RecommendationKind,
    RecommendationOutcome,
    RecommendationStatus,
    Record,
    Report,
    ReportPeriod,
    RootCauseScope,
    SchedulerFeedback,
    Severity,
    SloStatus,
    TenantBudgetStatus,
    WorkloadEvent,
    WorkloadEventKind,
    WorkloadSample,
    WorkloadSpec,
    WorkloadType,
    alert_fingerprint,
    decode,
    encode,
)
from schemas.base import (
    ID_PATTERN,
    MAX_USD_PER_GPU_HOUR,
    MAX_USD_PER_SAMPLE,
    TS_MAX_MS,
    TS_MIN_MS,
)

# No example database: the tests must not write into the work tree, and the
# strategies are cheap enough that replaying old failures buys little.
FAST = settings(max_examples=60, deadline=None, database=None)

NOW_MS = 1_700_000_000_000

# ---------------------------------------------------------------------------
# strategies
# ---------------------------------------------------------------------------

ids = st.from_regex(ID_PATTERN, fullmatch=True)
ts = st.integers(TS_MIN_MS, TS_MAX_MS)
counts = st.integers(0, 2**63 - 1)
words = st.text(max_size=20)
names = st.text(min_size=1, max_size=20)
label_names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,15}", fullmatch=True)


def floats(lo: float | None = None, hi: float | None = None, *, open_lo: bool = False) -> Any:
    """Finite floats in ``[lo, hi]`` (``(lo, hi]`` when ``open_lo``)."""
    return st.floats(
        min_value=lo, max_value=hi, exclude_min=open_lo, allow_nan=False, allow_infinity=False
    )


pcts = floats(0.0, 100.0)
unit = floats(0.0, 1.0)
nonneg = floats(0.0)
pos = floats(0.0, open_lo=True)
prices = floats(0.0, MAX_USD_PER_GPU_HOUR)
vram = floats(0.0, 4096.0, open_lo=True)
float_maps = st.dictionaries(words, floats(), max_size=4)


@st.composite
def provider_samples(draw: st.DrawFn) -> ProviderSample:
    gpus_total = draw(st.integers(1, 1024))
    mem_total = draw(pos)
    return ProviderSample(
        provider_id=draw(ids),
        ts_ms=draw(ts),
        seq=draw(counts),
        gpu_util_pct=draw(pcts),
        gpu_mem_used_gb=draw(floats(0.0, mem_total)),
        gpu_mem_total_gb=mem_total,
        gpu_temp_c=draw(floats(-40.0, 150.0)),
        power_w=draw(nonneg),
        sm_clock_mhz=draw(nonneg),
        net_rtt_ms=draw(nonneg),
        net_bandwidth_gbps=draw(nonneg),
        gpus_busy=draw(st.integers(0, gpus_total)),
        gpus_total=gpus_total,
        error_count=draw(counts),
    )


workload_samples = st.builds(
    WorkloadSample,
    workload_id=ids,
    ts_ms=ts,
    seq=counts,
    provider_id=ids,
    tenant_id=ids,
    workload_type=st.sampled_from(WorkloadType),
    throughput=nonneg,
    throughput_unit=st.sampled_from(["samples/s", "tokens/s", "frames/s"]),
    latency_ms=st.none() | nonneg,
    step_time_ms=st.none() | nonneg,
    gpu_util_pct=pcts,
    requests=counts,
    errors=counts,
    cost_accrued_usd=floats(0.0, MAX_USD_PER_SAMPLE),
)

slas = st.builds(
    SLA,
    min_throughput=st.none() | nonneg,
    max_p95_latency_ms=st.none() | pos,
    min_availability=unit,
)

workload_specs = st.builds(
    WorkloadSpec,
    tenant_id=ids,
    workload_type=st.sampled_from(WorkloadType),
    gpus=st.integers(1, 1024),
    vram_gb_per_gpu=vram,
    allowed_gpu_models=st.lists(names, max_size=3).map(tuple),
    allowed_regions=st.lists(names, max_size=3).map(tuple),
    max_price_usd_per_gpu_hour=st.none() | floats(0.0, MAX_USD_PER_GPU_HOUR, open_lo=True),
    sla=slas,
    replicas=st.integers(1, 64),
)


@st.composite
def workload_events(draw: st.DrawFn) -> WorkloadEvent:
    kind = draw(st.sampled_from(WorkloadEventKind))
    needs_spec = kind is WorkloadEventKind.SUBMITTED
    return WorkloadEvent(
        workload_id=draw(ids),
        ts_ms=draw(ts),
        kind=kind,
        spec=draw(workload_specs if needs_spec else st.none() | workload_specs),
        provider_id=draw(st.none() | ids),
        reason=draw(words),
    )


provider_infos = st.builds(
    ProviderInfo,
    provider_id=ids,
    ts_ms=ts,
    region=names,
    gpu_model=names,
    gpu_count=st.integers(1, 1024),
    vram_gb_per_gpu=vram,
    price_usd_per_gpu_hour=prices,
    status=st.sampled_from(ProviderStatus),
    reputation=unit,
)

metric_stats = st.builds(
    MetricStats,
    count=counts,
    mean=floats(),
    min=floats(),
    max=floats(),
    p50=floats(),
    p95=floats(),
    p99=floats(),
)


@st.composite
def metric_windows(draw: st.DrawFn) -> MetricWindow:
    start = draw(st.integers(TS_MIN_MS, TS_MAX_MS - 1))
    return MetricWindow(
        entity_type=draw(st.sampled_from(EntityType)),
        entity_id=draw(names),
        window_start_ms=start,
        window_end_ms=draw(st.integers(start + 1, TS_MAX_MS)),
        count=draw(counts),
        metrics=draw(st.dictionaries(words, metric_stats, max_size=3)),
        availability=draw(st.none() | unit),
        error_rate=draw(st.none() | nonneg),
        perf_per_dollar=draw(st.none() | nonneg),
    )


anomalies = st.builds(
    Anomaly,
    entity_type=st.sampled_from(EntityType),
    entity_id=names,
    ts_ms=ts,
    score=unit,
    detector=names,
    contributing_features=float_maps,
    expected=float_maps,
    observed=float_maps,
)

insights = st.builds(
    Insight,
    insight_id=ids,
    entity_type=st.sampled_from(EntityType),
    entity_id=names,
    ts_ms=ts,
    kind=names,
    scope=st.sampled_from(RootCauseScope),
    evidence=st.dictionaries(words, floats() | words, max_size=4),
    confidence=unit,
    summary=words,
)


@st.composite
def alerts(draw: st.DrawFn) -> Alert:
    labels = draw(st.dictionaries(label_names, words, max_size=4))
    labels["alertname"] = draw(names)
    starts = draw(ts)
    return Alert(
        fingerprint=alert_fingerprint(labels),
        status=draw(st.sampled_from(AlertStatus)),
        labels=labels,
        annotations=draw(st.dictionaries(label_names, words, max_size=3)),
        starts_at_ms=starts,
        ends_at_ms=draw(st.none() | st.integers(starts, TS_MAX_MS)),
        generator_url=draw(words),
        severity=draw(st.sampled_from(Severity)),
    )


@st.composite
def recommendations(draw: st.DrawFn) -> Recommendation:
    ts_ms = draw(ts)
    return Recommendation(
        recommendation_id=draw(ids),
        ts_ms=ts_ms,
        status=draw(st.sampled_from(RecommendationStatus)),
        kind=draw(st.sampled_from(RecommendationKind)),
        workload_id=draw(ids),
        provider_id=draw(ids),
        from_provider_id=draw(st.none() | ids),
        expected_throughput=draw(nonneg),
        cost_usd_per_hour=draw(nonneg),
        perf_per_dollar_gain=draw(floats()),
        sla_risk=draw(unit),
        confidence=draw(unit),
        rationale=draw(words),
        expires_at_ms=draw(st.integers(ts_ms, TS_MAX_MS)),
        actor=draw(words),
        reason=draw(words),
    )


scheduler_feedbacks = st.builds(
    SchedulerFeedback,
    recommendation_id=ids,
    ts_ms=ts,
    outcome=st.sampled_from(FeedbackOutcome),
    workload_id=ids,
    provider_id=st.none() | ids,
    detail=words,
)

recommendation_outcomes = st.builds(
    RecommendationOutcome,
    recommendation_id=ids,
    ts_ms=ts,
    workload_id=ids,
    provider_id=ids,
    applied_at_ms=ts,
    predicted_throughput=nonneg,
    realised_throughput=nonneg,
    predicted_cost_usd_per_hour=nonneg,
    realised_cost_usd_per_hour=nonneg,
    sla_violation_fraction=unit,
    samples=counts,
    throughput_error=floats(),
)


@st.composite
def reports(draw: st.DrawFn) -> Report:
    start = draw(st.integers(TS_MIN_MS, TS_MAX_MS - 1))
    return Report(
        report_id=draw(ids),
        ts_ms=draw(ts),
        period=draw(st.sampled_from(ReportPeriod)),
        period_start_ms=start,
        period_end_ms=draw(st.integers(start + 1, TS_MAX_MS)),
        summary=draw(st.dictionaries(words, floats() | counts | words, max_size=4)),
        html=draw(st.text(max_size=60)),
    )


dead_letters = st.builds(
    DeadLetter,
    source_topic=st.sampled_from(sorted(TOPIC_RECORDS)),
    partition=st.integers(0, 2**31 - 1),
    offset=counts,
    ts_ms=ts,
    key=st.none() | st.binary(max_size=32),
    value=st.binary(max_size=256),
    reason=names,
    error_type=st.sampled_from(["json", "validation", "late", "future", "duplicate"]),
)


@st.composite
def alert_actions(draw: st.DrawFn) -> AlertAction:
    ts_ms = draw(st.integers(TS_MIN_MS, TS_MAX_MS - 1))
    if draw(st.booleans()):
        return AlertAction(
            action_id=draw(ids),
            ts_ms=ts_ms,
            kind="acknowledge",
            fingerprint=draw(ids),
            actor=draw(names),
            comment=draw(words),
        )
    return AlertAction(
        action_id=draw(ids),
        ts_ms=ts_ms,
        kind="silence",
        matchers=draw(st.dictionaries(label_names, words, min_size=1, max_size=3)),
        ends_at_ms=draw(st.integers(ts_ms + 1, TS_MAX_MS)),
        actor=draw(names),
        comment=draw(words),
    )


@st.composite
def slo_statuses(draw: st.DrawFn) -> SloStatus:
    total = draw(st.integers(0, 10**9))
    return SloStatus(
        entity_type=draw(st.sampled_from(list(EntityType))),
        entity_id=draw(ids),
        slo_key=draw(names),
        name=draw(names),
        objective=draw(floats(0.0, 1.0).filter(lambda x: 0 < x < 1)),
        sli=draw(st.sampled_from(["availability", "throughput", "latency_p95"])),
        target=draw(st.none() | floats()),
        period_ms=draw(st.integers(1, 10**10)),
        good_events=draw(st.integers(0, total)),
        total_events=total,
        compliance=draw(unit),
        error_budget_remaining=draw(floats(hi=1.0)),
        burn_rates=draw(
            st.dictionaries(
                st.from_regex(r"[1-9][0-9]{0,2}[dhms]", fullmatch=True), nonneg, max_size=5
            )
        ),
        burn_rate=draw(nonneg),
        window_end_ms=draw(ts),
    )


@st.composite
def tenant_budget_statuses(draw: st.DrawFn) -> TenantBudgetStatus:
    start = draw(st.integers(TS_MIN_MS, TS_MAX_MS - 1))
    end = draw(st.integers(start + 1, TS_MAX_MS))
    as_of = draw(st.integers(start, end))
    limit = draw(floats(0.0).filter(lambda x: x > 0))
    spent = draw(nonneg)
    exhaustion = draw(st.none() | st.integers(as_of, TS_MAX_MS))
    return TenantBudgetStatus(
        tenant_id=draw(ids),
        period=draw(st.sampled_from(["day", "week", "month"])),
        period_start_ms=start,
        period_end_ms=end,
        limit_usd=limit,
        spent_usd=spent,
        remaining_usd=limit - spent,
        burn_usd_per_h=draw(nonneg),
        forecast_usd=draw(nonneg),
        exhaustion_ms=exhaustion,
        hours_to_exhaustion=None if exhaustion is None else (exhaustion - as_of) / 3.6e6,
        as_of_ms=as_of,
    )


STRATEGIES: dict[type[Record], st.SearchStrategy[Any]] = {
    ProviderSample: provider_samples(),
    WorkloadSample: workload_samples,
    SLA: slas,
    WorkloadSpec: workload_specs,
    WorkloadEvent: workload_events(),
    ProviderInfo: provider_infos,
    MetricStats: metric_stats,
    MetricWindow: metric_windows(),
    Anomaly: anomalies,
    Insight: insights,
    Alert: alerts(),
    Recommendation: recommendations(),
    SchedulerFeedback: scheduler_feedbacks,
    RecommendationOutcome: recommendation_outcomes,
    Report: reports(),
    DeadLetter: dead_letters,
    AlertAction: alert_actions(),
    SloStatus: slo_statuses(),
    TenantBudgetStatus: tenant_budget_statuses(),
}

# ---------------------------------------------------------------------------
# round trips
# ---------------------------------------------------------------------------


def test_strategies_cover_every_exported_record() -> None:
    exported = {
        obj
        for obj in vars(schemas).values()
        if isinstance(obj, type) and issubclass(obj, Record) and obj is not Record
    }
    assert exported == set(STRATEGIES)
    assert set(TOPIC_RECORDS.values()) <= exported


@pytest.mark.parametrize("model", list(STRATEGIES), ids=lambda m: m.__name__)
@FAST
@given(data=st.data())
def test_round_trip(model: type[Record], data: st.DataObject) -> None:
    record = data.draw(STRATEGIES[model])
    wire = encode(record)
    decoded = decode(model, wire)
    assert type(decoded) is model
    assert decoded == record
    # Re-encoding must be byte-identical, so keys and dedup hashes are stable.
    assert encode(decoded) == wire


def test_encode_is_compact_utf8_json() -> None:
    wire = encode(SLA(min_throughput=1.5))
    assert json.loads(wire) == {
        "schema_version": 1,
        "min_throughput": 1.5,
        "max_p95_latency_ms": None,
        "min_availability": 0.99,
    }
    assert b": " not in wire and b", " not in wire


def test_records_are_frozen() -> None:
    sla = SLA()
    with pytest.raises(ValidationError):
        sla.min_availability = 0.5


def test_topic_records_match_contract() -> None:
    expected = {
        "telemetry.provider": ProviderSample,
        "telemetry.workload": WorkloadSample,
        "workloads.lifecycle": WorkloadEvent,
        "providers.catalog": ProviderInfo,
        "perf.metrics": MetricWindow,
        "perf.anomalies": Anomaly,
        "perf.insights": Insight,
        "perf.alerts": Alert,
        "perf.recommendations": Recommendation,
        "scheduler.feedback": SchedulerFeedback,
        "perf.outcomes": RecommendationOutcome,
        "perf.reports": Report,
        "perf.dlq": DeadLetter,
        "perf.alert_actions": AlertAction,
        "perf.slo": SloStatus,
        "perf.budgets": TenantBudgetStatus,
    }
    assert expected == TOPIC_RECORDS


@pytest.mark.parametrize("model", [ProviderSample, WorkloadSample], ids=lambda m: m.__name__)
def test_numeric_fields_are_numeric_model_fields(model: type[Record]) -> None:
    fields: tuple[str, ...] = model.NUMERIC_FIELDS  # type: ignore[attr-defined]
    assert len(set(fields)) == len(fields) > 0
    for name in fields:
        annotation = str(model.model_fields[name].annotation)
        assert "float" in annotation or "int" in annotation, name
    assert "NUMERIC_FIELDS" not in model.model_fields


# ---------------------------------------------------------------------------
# invalid input
# ---------------------------------------------------------------------------


def valid_provider_sample() -> dict[str, Any]:
    return {
        "provider_id": "prov-1",
        "ts_ms": NOW_MS,
        "seq": 1,
        "gpu_util_pct": 50.0,
        "gpu_mem_used_gb": 10.0,
        "gpu_mem_total_gb": 80.0,
        "gpu_temp_c": 60.0,
        "power_w": 250.0,
        "sm_clock_mhz": 1400.0,
        "net_rtt_ms": 3.0,
        "net_bandwidth_gbps": 100.0,
        "gpus_busy": 4,
        "gpus_total": 8,
        "error_count": 0,
    }


def sample_bytes(**changes: Any) -> bytes:
    doc = valid_provider_sample() | changes
    return json.dumps(doc).encode()


def sample_without(field: str) -> bytes:
    doc = valid_provider_sample()
    del doc[field]
    return json.dumps(doc).encode()


Case = tuple[bytes, str, str]  # data, expected error_type, substring of reason

INVALID_SAMPLES: dict[str, Case] = {
    "truncated_json": (b'{"provider_id": "prov-1", ', "json", "Invalid JSON"),
    "not_utf8": (b"\xff\xfe\x00", "json", "Invalid JSON"),
    "empty": (b"", "json", "Invalid JSON"),
    "not_an_object": (b"[1, 2, 3]", "validation", "ProviderSample: "),
    "util_is_string": (sample_bytes(gpu_util_pct="hot"), "validation", "gpu_util_pct: "),
    "seq_is_fraction": (sample_bytes(seq=1.5), "validation", "seq: "),
    "id_is_number": (sample_bytes(provider_id=7), "validation", "provider_id: "),
    # json.dumps writes the non-standard NaN / Infinity literals.
    "util_nan": (sample_bytes(gpu_util_pct=math.nan), "validation", "gpu_util_pct: "),
    "power_infinite": (sample_bytes(power_w=math.inf), "validation", "power_w: "),
    "util_negative": (sample_bytes(gpu_util_pct=-0.01), "validation", "gpu_util_pct: "),
    "util_over_100": (sample_bytes(gpu_util_pct=100.01), "validation", "gpu_util_pct: "),
    "temp_too_hot": (sample_bytes(gpu_temp_c=150.5), "validation", "gpu_temp_c: "),
    "mem_total_zero": (sample_bytes(gpu_mem_total_gb=0.0), "validation", "gpu_mem_total_gb"),
    "missing_ts": (sample_without("ts_ms"), "validation", "ts_ms: Field required"),
    "missing_id": (sample_without("provider_id"), "validation", "provider_id: Field required"),
    "ts_before_2000": (sample_bytes(ts_ms=TS_MIN_MS - 1), "validation", "ts_ms: "),
    "ts_in_seconds": (sample_bytes(ts_ms=NOW_MS // 1000), "validation", "ts_ms: "),
    "far_future": (sample_bytes(ts_ms=NOW_MS + 300_001), "future", "ms in the future"),
    "busy_gt_total": (sample_bytes(gpus_busy=9), "validation", "gpus_busy (9)"),
    "mem_used_gt_total": (sample_bytes(gpu_mem_used_gb=81.0), "validation", "gpu_mem_used_gb"),
    "id_with_space": (sample_bytes(provider_id="prov 1"), "validation", "provider_id: "),
    "id_leading_dash": (sample_bytes(provider_id="-prov"), "validation", "provider_id: "),
    "id_empty": (sample_bytes(provider_id=""), "validation", "provider_id: "),
    "id_too_long": (sample_bytes(provider_id="p" * 129), "validation", "provider_id: "),
    "id_trailing_newline": (sample_bytes(provider_id="prov\n"), "validation", "provider_id: "),
    "unknown_field": (sample_bytes(gpu_fan_pct=30.0), "validation", "gpu_fan_pct: Extra"),
    "bad_schema_version": (sample_bytes(schema_version=0), "validation", "schema_version: "),
}


@pytest.mark.parametrize(
    ("data", "error_type", "reason_part"),
    list(INVALID_SAMPLES.values()),
    ids=list(INVALID_SAMPLES),
)
def test_decode_rejects_invalid_provider_samples(
    data: bytes, error_type: str, reason_part: str
) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(ProviderSample, data, now_ms=NOW_MS)
    assert caught.value.error_type == error_type
    assert reason_part in caught.value.reason
    assert isinstance(caught.value, ValueError)


def test_boundary_values_are_accepted() -> None:
    for util in (0.0, 100.0):
        assert decode(ProviderSample, sample_bytes(gpu_util_pct=util)).gpu_util_pct == util
    at_limit = decode(ProviderSample, sample_bytes(ts_ms=NOW_MS + 300_000), now_ms=NOW_MS)
    assert at_limit.ts_ms == NOW_MS + 300_000
    full = decode(ProviderSample, sample_bytes(gpus_busy=8, gpu_mem_used_gb=80.0))
    assert full.gpus_busy == full.gpus_total
    long_id = "p" + "x" * 127
    assert decode(ProviderSample, sample_bytes(provider_id=long_id)).provider_id == long_id


def test_future_check_only_runs_with_now_and_respects_max_future() -> None:
    far = sample_bytes(ts_ms=NOW_MS + 3_600_000)
    assert decode(ProviderSample, far).ts_ms == NOW_MS + 3_600_000
    assert decode(ProviderSample, far, now_ms=NOW_MS, max_future_ms=3_600_000).seq == 1
    with pytest.raises(DecodeError) as caught:
        decode(ProviderSample, far, now_ms=NOW_MS, max_future_ms=0)
    assert caught.value.error_type == "future"
    assert caught.value.reason.startswith(f"ts_ms {NOW_MS + 3_600_000} is more than 0 ms")


def test_future_check_uses_event_time_of_windows_and_alerts() -> None:
    later = NOW_MS + 86_400_000
    window = MetricWindow(
        entity_type=EntityType.REGION,
        entity_id="eu",
        window_start_ms=later,
        window_end_ms=later + 60_000,
        count=0,
        metrics={},
    )
    alert = Alert(
        fingerprint=alert_fingerprint({"alertname": "X"}),
        status=AlertStatus.FIRING,
        labels={"alertname": "X"},
        starts_at_ms=later,
        ends_at_ms=None,
        severity=Severity.INFO,
    )
    for record, field in ((window, "window_start_ms"), (alert, "starts_at_ms")):
        with pytest.raises(DecodeError) as caught:
            decode(type(record), encode(record), now_ms=NOW_MS)
        assert caught.value.error_type == "future"
        assert caught.value.reason.startswith(f"{field} {later} ")


def test_validation_reason_lists_every_field() -> None:
    data = sample_bytes(gpu_util_pct=-1, seq=-1)
    with pytest.raises(DecodeError) as caught:
        decode(ProviderSample, data)
    parts = caught.value.reason.split("; ")
    assert {part.split(":", 1)[0] for part in parts} == {"seq", "gpu_util_pct"}
    assert str(caught.value) == caught.value.reason


def test_validation_reason_is_truncated() -> None:
    with pytest.raises(DecodeError) as caught:
        decode(ProviderSample, b"{}")
    assert caught.value.reason.endswith("more")
    assert caught.value.reason.count("Field required") == 5


def test_decode_error_pickles_with_its_attributes() -> None:
    err = pickle.loads(pickle.dumps(DecodeError("bad", "json")))
    assert (err.reason, err.error_type) == ("bad", "json")


def _alert_doc(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "fingerprint": "0123456789abcdef",
        "status": "firing",
        "labels": {"alertname": "GpuHot"},
        "starts_at_ms": NOW_MS,
        "ends_at_ms": None,
        "severity": "warning",
    }
    return doc | changes


OTHER_INVALID: dict[str, tuple[type[Record], dict[str, Any], str]] = {
    "submitted_without_spec": (
        WorkloadEvent,
        {"workload_id": "wl-1", "ts_ms": NOW_MS, "kind": "submitted"},
        "spec is required",
    ),
    "unknown_event_kind": (
        WorkloadEvent,
        {"workload_id": "wl-1", "ts_ms": NOW_MS, "kind": "exploded"},
        "kind: ",
    ),
    "window_end_before_start": (
        MetricWindow,
        {
            "entity_type": "provider",
            "entity_id": "p",
            "window_start_ms": NOW_MS,
            "window_end_ms": NOW_MS,
            "count": 0,
            "metrics": {},
        },
        "window_end_ms",
    ),
    "alert_without_alertname": (Alert, _alert_doc(labels={"job": "x"}), "alertname"),
    "alert_bad_label_name": (
        Alert,
        _alert_doc(labels={"alertname": "A", "bad-name": "x"}),
        "bad-name",
    ),
    "alert_fingerprint_not_hex": (Alert, _alert_doc(fingerprint="xyz"), "fingerprint: "),
    "alert_ends_before_start": (Alert, _alert_doc(ends_at_ms=NOW_MS - 1), "ends_at_ms"),
    "alert_bad_severity": (Alert, _alert_doc(severity="meh"), "severity: "),
    "anomaly_score_above_one": (
        Anomaly,
        {
            "entity_type": "provider",
            "entity_id": "p",
            "ts_ms": NOW_MS,
            "score": 1.5,
            "detector": "hst",
        },
        "score: ",
    ),
    "dead_letter_bad_base64": (
        DeadLetter,
        {
            "source_topic": "t",
            "partition": 0,
            "offset": 0,
            "ts_ms": NOW_MS,
            "key": None,
            "value": "!!not base64!!",
            "reason": "r",
            "error_type": "json",
        },
        "value: ",
    ),
}


@pytest.mark.parametrize(
    ("model", "doc", "reason_part"), list(OTHER_INVALID.values()), ids=list(OTHER_INVALID)
)
def test_decode_rejects_other_invalid_records(
    model: type[Record], doc: dict[str, Any], reason_part: str
) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(model, json.dumps(doc).encode())
    assert caught.value.error_type == "validation"
    assert reason_part in caught.value.reason


# ---------------------------------------------------------------------------
# dead letters
# ---------------------------------------------------------------------------


def _b64_to_bytes(text: str) -> bytes:
    # Accept either alphabet so the test does not pin pydantic's choice.
    return base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)


@FAST
@given(value=st.binary(max_size=512), key=st.none() | st.binary(max_size=64))
def test_dead_letter_keeps_arbitrary_bytes(value: bytes, key: bytes | None) -> None:
    letter = DeadLetter(
        source_topic="telemetry.provider",
        partition=3,
        offset=42,
        ts_ms=NOW_MS,
        key=key,
        value=value,
        reason="could not parse",
        error_type="json",
    )
    wire = encode(letter)
    doc = json.loads(wire)
    assert _b64_to_bytes(doc["value"]) == value
    assert doc["key"] is None if key is None else _b64_to_bytes(doc["key"]) == key
    assert decode(DeadLetter, wire) == letter


def test_dead_letter_accepts_standard_base64() -> None:
    raw = bytes([0xFB, 0xFF, 0xBF])  # encodes to "+/+/" in the standard alphabet
    doc: dict[str, Any] = {
        "source_topic": "t",
        "partition": 0,
        "offset": 0,
        "ts_ms": NOW_MS,
        "key": base64.b64encode(b"k").decode(),
        "value": base64.b64encode(raw).decode(),
        "reason": "r",
        "error_type": "json",
    }
    assert "+" in doc["value"]
    letter = decode(DeadLetter, json.dumps(doc).encode())
    assert (letter.key, letter.value) == (b"k", raw)


def test_dead_letter_requires_reason() -> None:
    with pytest.raises(ValidationError):
        DeadLetter(
            source_topic="t",
            partition=0,
            offset=0,
            ts_ms=NOW_MS,
            value=b"",
            reason="",
            error_type="json",
        )


# ---------------------------------------------------------------------------
# alerts
# ---------------------------------------------------------------------------

RFC3339_MS_Z = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


def _make_alert(starts_at_ms: int, ends_at_ms: int | None) -> Alert:
    labels = {"alertname": "GpuHot", "provider_id": "prov-1"}
    return Alert(
        fingerprint=alert_fingerprint(labels),
        status=AlertStatus.FIRING if ends_at_ms is None else AlertStatus.RESOLVED,
        labels=labels,
        annotations={"summary": "GPU is hot"},
        starts_at_ms=starts_at_ms,
        ends_at_ms=ends_at_ms,
        generator_url="http://grafana/d/gpu",
        severity=Severity.CRITICAL,
    )


def test_to_alertmanager_firing_omits_ends_at() -> None:
    payload = _make_alert(1_700_000_000_123, None).to_alertmanager()
    assert payload == {
        "labels": {"alertname": "GpuHot", "provider_id": "prov-1"},
        "annotations": {"summary": "GPU is hot"},
        "startsAt": "2023-11-14T22:13:20.123Z",
        "generatorURL": "http://grafana/d/gpu",
    }
    json.dumps(payload)  # must be JSON-serialisable as is


def test_to_alertmanager_resolved_has_ends_at() -> None:
    payload = _make_alert(TS_MIN_MS, TS_MIN_MS + 5).to_alertmanager()
    assert payload["startsAt"] == "2000-01-01T00:00:00.000Z"
    assert payload["endsAt"] == "2000-01-01T00:00:00.005Z"


def test_to_alertmanager_returns_copies() -> None:
    alert = _make_alert(NOW_MS, None)
    alert.to_alertmanager()["labels"]["alertname"] = "Changed"
    assert alert.labels["alertname"] == "GpuHot"


@FAST
@given(starts=ts, gap=st.integers(0, 10**12))
def test_to_alertmanager_times_are_exact_rfc3339(starts: int, gap: int) -> None:
    ends = min(starts + gap, TS_MAX_MS)
    payload = _make_alert(starts, ends).to_alertmanager()
    for key, expected_ms in (("startsAt", starts), ("endsAt", ends)):
        text = payload[key]
        assert RFC3339_MS_Z.fullmatch(text), text
        parsed = datetime.fromisoformat(text)
        assert parsed.utcoffset() == timedelta(0)
        since_epoch = parsed - datetime(1970, 1, 1, tzinfo=UTC)
        assert since_epoch // timedelta(milliseconds=1) == expected_ms


def test_alert_fingerprint_is_pinned() -> None:
    # Fingerprints are persisted for dedup, so the algorithm must never drift.
    labels = {"alertname": "GpuHot", "provider_id": "prov-1", "severity": "warning"}
    assert alert_fingerprint(labels) == "a67523730f6b8298"


@FAST
@given(labels=st.dictionaries(label_names, words, min_size=1, max_size=6))
def test_alert_fingerprint_ignores_order(labels: dict[str, str]) -> None:
    reordered = dict(reversed(list(labels.items())))
    fingerprint = alert_fingerprint(labels)
    assert fingerprint == alert_fingerprint(reordered)
    assert re.fullmatch(r"[0-9a-f]{16}", fingerprint)


def test_alert_fingerprint_distinguishes_label_sets() -> None:
    base = alert_fingerprint({"alertname": "A", "b": "2"})
    assert base != alert_fingerprint({"alertname": "A", "b": "3"})
    assert base != alert_fingerprint({"alertname": "A"})
    # A naive "k=v" join with newlines would make these two collide.
    assert alert_fingerprint({"a": "1\nb=2"}) != alert_fingerprint({"a": "1", "b": "2"})


# ---------------------------------------------------------------------------
# metric windows
# ---------------------------------------------------------------------------


def test_metric_window_key_format() -> None:
    window = MetricWindow(
        entity_type=EntityType.WORKLOAD,
        entity_id="wl-7",
        window_start_ms=1_700_000_000_000,
        window_end_ms=1_700_000_300_000,
        count=5,
        metrics={},
    )
    assert window.key == "workload:wl-7:1700000000000:300000"


@FAST
@given(window=metric_windows())
def test_metric_window_key_parses_back(window: MetricWindow) -> None:
    entity_type, rest = window.key.split(":", 1)
    entity_id, start, size = rest.rsplit(":", 2)
    assert EntityType(entity_type) is window.entity_type
    assert entity_id == window.entity_id
    assert int(start) == window.window_start_ms
    assert int(start) + int(size) == window.window_end_ms
    assert int(size) > 0


# ---------------------------------------------------------------------------
# defaults that other components rely on
# ---------------------------------------------------------------------------


def test_defaults() -> None:
    spec = WorkloadSpec(
        tenant_id="acme", workload_type=WorkloadType.TRAINING, gpus=2, vram_gb_per_gpu=40.0
    )
    assert spec.sla == SLA() and spec.sla.min_availability == 0.99
    assert (spec.replicas, spec.allowed_gpu_models, spec.allowed_regions) == (1, (), ())
    assert spec.schema_version == 1
    info = decode(
        ProviderInfo,
        json.dumps(
            {
                "provider_id": "p",
                "ts_ms": NOW_MS,
                "region": "eu",
                "gpu_model": "H100",
                "gpu_count": 8,
                "vram_gb_per_gpu": 80,
                "price_usd_per_gpu_hour": 2.5,
                "status": "online",
            }
        ).encode(),
    )
    assert info.reputation == 1.0 and info.status is ProviderStatus.ONLINE


def test_summary_keeps_int_and_float_apart() -> None:
    report = Report(
        report_id="r1",
        ts_ms=NOW_MS,
        period=ReportPeriod.DAY,
        period_start_ms=NOW_MS - 86_400_000,
        period_end_ms=NOW_MS,
        summary={"n": 3, "x": 3.0, "s": "ok"},
    )
    decoded = decode(Report, encode(report))
    kinds = {name: type(value) for name, value in decoded.summary.items()}
    assert kinds == {"n": int, "x": float, "s": str}
