"""The read model behind the HTTP API: pure functions from records to bounded table values.

The ``api`` worker role folds every record of the output topics into one value per key
(the topic's own key, so the tables stay co-partitioned with their sources and Faust's
``table_route`` finds the worker that owns a key). Values are JSON-able dicts in the
shape of the API's resources (``api.resources``), bounded: the latest record plus the
latest ``keep`` of its history. Every ``apply_*`` is idempotent (a record replayed after a
crash changes nothing) and ignores records older than what it holds, so at-least-once
delivery gives the same read model as exactly-once. Queries (``leaderboard``,
``fleet_summary``, ...) take the values and ``now_ms``; nothing here reads the clock.

>>> info = ProviderInfo(provider_id="p1", ts_ms=1_700_000_000_000, region="us-east",
...                     gpu_model="A100 80GB", gpu_count=8, vram_gb_per_gpu=80.0,
...                     price_usd_per_gpu_hour=2.0, status="online")
>>> state = apply_provider_info(None, info)
>>> apply_provider_info(state, info.model_copy(update={"ts_ms": 1})) == state
True
>>> [(r.provider_id, r.perf_per_dollar) for r in leaderboard({"p1": state}, {})]
[('p1', 0.4625)]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from api.resources import (
    Acknowledgement,
    AlertView,
    EntityMetrics,
    FleetSummary,
    LeaderboardRow,
    MetricPoint,
    RecommendationView,
    WorkloadView,
)
from schemas import (
    Alert,
    AlertAction,
    AlertActionKind,
    AlertStatus,
    Anomaly,
    Insight,
    MetricWindow,
    ProviderInfo,
    ProviderStatus,
    Recommendation,
    RecommendationOutcome,
    RecommendationStatus,
    Record,
    SloStatus,
    TenantBudgetStatus,
    WorkloadEvent,
)
from schemas.gpus import GPU_MODELS
from workflow.rate_limit import ProviderRateLimiter

Value = dict[str, Any]

#: Logical topic → (record type, table of the read model that folds it).
TABLES: dict[str, tuple[type[Record], str]] = {
    "providers.catalog": (ProviderInfo, "provider_to_info"),
    "perf.metrics": (MetricWindow, "entity_to_metrics"),
    "workloads.lifecycle": (WorkloadEvent, "workload_to_view"),
    "perf.anomalies": (Anomaly, "entity_to_anomalies"),
    "perf.insights": (Insight, "entity_to_insights"),
    "perf.alerts": (Alert, "fingerprint_to_alert"),
    "perf.recommendations": (Recommendation, "recommendation_to_view"),
    # Realised vs predicted lives on its recommendation (same key, same partition).
    "perf.outcomes": (RecommendationOutcome, "recommendation_to_view"),
    "perf.alert_actions": (AlertAction, "silence_to_action"),
    "perf.slo": (SloStatus, "slo_to_status"),
    "perf.budgets": (TenantBudgetStatus, "tenant_to_budget"),
}

#: How much history each value keeps (windows in a series, alert transitions, ...).
SERIES_KEEP = 60
HISTORY_KEEP = 20
#: Metrics kept in a series point (the ones the dashboard charts and the leaderboard uses).
SERIES_METRICS = ("gpu_util_pct", "gpu_temp_c", "net_rtt_ms", "power_w", "sm_clock_mhz")


def _dump(record: Any) -> Value:
    return dict(record.model_dump(mode="json"))


def apply_provider_info(state: Value | None, info: ProviderInfo) -> Value:
    """The catalogue entry of a provider: the newest by ``ts_ms`` wins."""
    if state is not None and state["ts_ms"] >= info.ts_ms:
        return state
    return _dump(info)


def metric_point(window: MetricWindow) -> MetricPoint:
    """The compact series point of a window.

    >>> from schemas import MetricStats
    >>> s = MetricStats(count=2, mean=70.0, min=60.0, max=80.0, p50=70.0, p95=80.0, p99=80.0)
    >>> w = MetricWindow(entity_type="provider", entity_id="p1", window_start_ms=1_700_000_000_000,
    ...                  window_end_ms=1_700_000_060_000, count=2, metrics={"gpu_temp_c": s})
    >>> metric_point(w).p95
    {'gpu_temp_c': 80.0}
    """
    picked = {name: s for name, s in window.metrics.items() if name in SERIES_METRICS}
    return MetricPoint(
        window_start_ms=window.window_start_ms,
        window_end_ms=window.window_end_ms,
        count=window.count,
        availability=window.availability,
        perf_per_dollar=window.perf_per_dollar,
        mean={name: s.mean for name, s in picked.items()},
        p95={name: s.p95 for name, s in picked.items()},
    )


def apply_metric_window(
    state: Value | None, key: str, window: MetricWindow, keep: int = SERIES_KEEP
) -> Value:
    """Latest window of an entity and the series of its last ``keep`` windows (by start)."""
    series = [] if state is None else list(state["series"])
    point = metric_point(window).model_dump(mode="json")
    series = [p for p in series if p["window_start_ms"] != window.window_start_ms] + [point]
    series.sort(key=lambda p: p["window_start_ms"])
    latest = _dump(window)
    if state is not None and state["latest"]["window_start_ms"] > window.window_start_ms:
        latest = state["latest"]
    view = {"entity_key": key, "latest": latest, "series": series[-keep:]}
    return EntityMetrics.model_validate(view).model_dump(mode="json")


def apply_workload_event(state: Value | None, event: WorkloadEvent) -> Value:
    """A workload's newest event; the spec of its submission; the provider it runs on."""
    if state is not None and state["latest"]["ts_ms"] > event.ts_ms:
        if event.spec is not None and state.get("spec") is None:
            return {**state, "spec": _dump(event.spec)}
        return state
    spec = _dump(event.spec) if event.spec is not None else (state or {}).get("spec")
    provider = event.provider_id or (state or {}).get("provider_id")
    view = {"workload_id": event.workload_id, "latest": event, "spec": spec}
    return WorkloadView.model_validate({**view, "provider_id": provider}).model_dump(mode="json")


def apply_recent(
    state: list[Value] | None, record: Anomaly | Insight, keep: int = HISTORY_KEEP
) -> list[Value]:
    """The last ``keep`` anomalies or insights of an entity, oldest first, no duplicates."""
    items = list(state or [])
    dumped = _dump(record)
    if dumped in items:
        return items
    items.append(dumped)
    items.sort(key=lambda item: item["ts_ms"])
    return items[-keep:]


def _alert_order(alert: Value) -> tuple[int, int, int]:
    resolved = alert["status"] == AlertStatus.RESOLVED.value
    return (alert["starts_at_ms"], int(resolved), alert.get("ends_at_ms") or 0)


def apply_alert(state: Value | None, alert: Alert, keep: int = HISTORY_KEEP) -> Value:
    """An alert's newest transition and its last ``keep`` transitions.

    A new firing (a later ``starts_at_ms``) clears the previous acknowledgement.
    """
    history = [] if state is None else list(state["history"])
    dumped = _dump(alert)
    if dumped not in history:
        history.append(dumped)
    history.sort(key=_alert_order)
    history = history[-keep:]
    latest = history[-1]
    ack = None if state is None else state.get("acknowledgement")
    if state is not None and latest["starts_at_ms"] > state["latest"]["starts_at_ms"]:
        ack = None
    return AlertView(
        fingerprint=alert.fingerprint, latest=latest, history=history, acknowledgement=ack
    ).model_dump(mode="json")


def apply_acknowledgement(state: Value | None, action: AlertAction) -> Value | None:
    """Record an acknowledgement on the alert it names (``None`` if the alert is unknown)."""
    if state is None or action.kind is not AlertActionKind.ACKNOWLEDGE:
        return state
    ack = Acknowledgement(actor=action.actor, ts_ms=action.ts_ms, comment=action.comment)
    return {**state, "acknowledgement": ack.model_dump(mode="json")}


def apply_recommendation(
    state: Value | None, rec: Recommendation, keep: int = HISTORY_KEEP
) -> Value:
    """A recommendation's newest record (by ``ts_ms``) and its last ``keep`` records."""
    history = [] if state is None else list(state["history"])
    dumped = _dump(rec)
    if dumped not in history:
        history.append(dumped)
    history.sort(key=lambda r: r["ts_ms"])
    history = history[-keep:]
    return RecommendationView(
        recommendation_id=rec.recommendation_id,
        latest=history[-1],
        history=history,
        outcome=None if state is None else state.get("outcome"),
    ).model_dump(mode="json")


def approvals_limiter(views: Iterable[Value]) -> ProviderRateLimiter:
    """The rate limiter holding every approval recorded in recommendation views.

    Policy approvals (the approvals role's) and operator approvals alike count against the
    providers they touch (target, and source of a move), at their time: the same grants
    the approvals role's limiter holds, read from ``perf.recommendations``.

    >>> r = Recommendation(recommendation_id="r1", ts_ms=1_700_000_000_000, status="approved",
    ...                    kind="migrate", workload_id="w1", provider_id="p1",
    ...                    from_provider_id="p0", expected_throughput=1.0,
    ...                    cost_usd_per_hour=1.0, perf_per_dollar_gain=0.1, sla_risk=0.1,
    ...                    confidence=0.9, rationale="", expires_at_ms=1_700_000_900_000)
    >>> limiter = approvals_limiter([apply_recommendation(None, r)])
    >>> [limiter.count(p, 1_700_000_001_000, 60_000) for p in ("p0", "p1", "p2")]
    [1, 1, 0]
    """
    grants: set[tuple[int, tuple[str, ...]]] = set()
    for view in views:
        for record in view["history"]:
            if record["status"] == RecommendationStatus.APPROVED.value:
                touched = (record["provider_id"], record.get("from_provider_id"))
                grants.add((record["ts_ms"], tuple(p for p in touched if p)))
    limiter = ProviderRateLimiter()
    for ts_ms, providers in sorted(grants):
        limiter.try_acquire(providers, ts_ms, limit=0, interval_ms=1)
    return limiter


def apply_outcome(state: Value | None, outcome: RecommendationOutcome) -> Value | None:
    """Put the realised-vs-predicted ``outcome`` on its recommendation (the newest wins).

    ``None`` when the recommendation is unknown: the scheduler writes the ``applied`` record
    before the outcome, on the same partition, so the recommendation is there first.
    """
    if state is None:
        return None
    current = state.get("outcome")
    if current is not None and current["ts_ms"] > outcome.ts_ms:
        return state
    return {**state, "outcome": _dump(outcome)}


def decide(
    current: Recommendation,
    status: RecommendationStatus,
    *,
    actor: str,
    reason: str,
    now_ms: int,
) -> Recommendation:
    """The new record an operator's approval or rejection writes to ``perf.recommendations``.

    Only a proposed, unexpired recommendation can be decided (``ValueError`` otherwise,
    with the reason). The new record's time is never before the current one's, so it
    always becomes the latest.

    >>> r = Recommendation(recommendation_id="r1", ts_ms=1_700_000_000_000, status="proposed",
    ...                    kind="place", workload_id="w1", provider_id="p1",
    ...                    expected_throughput=1.0, cost_usd_per_hour=1.0,
    ...                    perf_per_dollar_gain=0.1, sla_risk=0.1, confidence=0.9,
    ...                    rationale="", expires_at_ms=1_700_000_900_000)
    >>> d = decide(r, RecommendationStatus.APPROVED, actor="ops", reason="ok",
    ...            now_ms=1_700_000_001_000)
    >>> d.status.value, d.actor, d.ts_ms
    ('approved', 'ops', 1700000001000)
    """
    if status not in (RecommendationStatus.APPROVED, RecommendationStatus.REJECTED):
        raise ValueError(f"an operator can only approve or reject, not {status.value}")
    if current.status is not RecommendationStatus.PROPOSED:
        raise ValueError(
            f"recommendation {current.recommendation_id} is {current.status.value}, "
            "only a proposed one can be approved or rejected"
        )
    if now_ms >= current.expires_at_ms:
        raise ValueError(f"recommendation {current.recommendation_id} has expired")
    ts_ms = max(now_ms, current.ts_ms + 1)
    return current.model_copy(
        update={"status": status, "actor": actor, "reason": reason, "ts_ms": ts_ms}
    )


def apply_silence(state: Value | None, action: AlertAction) -> Value | None:
    """Silences by id: a silence record replaces an older one with the same id."""
    if action.kind is not AlertActionKind.SILENCE:
        return state
    if state is not None and state["ts_ms"] > action.ts_ms:
        return state
    return _dump(action)


def silences_matching(
    silences: Iterable[Value], labels: Mapping[str, str], now_ms: int
) -> list[str]:
    """Ids of the silences active at ``now_ms`` whose matchers all match ``labels``."""
    found = []
    for value in silences:
        silence = AlertAction.model_validate(value)
        if silence.matches(dict(labels), now_ms):
            found.append(silence.action_id)
    return sorted(found)


def _gpu_prior(gpu_model: str) -> float | None:
    model = GPU_MODELS.get(gpu_model)
    if model is None:
        return None
    return (model.training + model.fine_tuning + model.inference + model.rendering) / 4


def _provider_row(info: Value, metrics: Value | None) -> LeaderboardRow:
    latest = metrics["latest"] if metrics else None
    availability = latest.get("availability") if latest else None
    util = None
    if latest and "gpu_util_pct" in latest["metrics"]:
        util = latest["metrics"]["gpu_util_pct"]["mean"]
    measured = latest.get("perf_per_dollar") if latest else None
    prior = _gpu_prior(info["gpu_model"])
    price = info["price_usd_per_gpu_hour"]
    if measured is not None:
        ppd, source = float(measured), "window"
    elif prior is not None and price > 0:
        ppd, source = prior * (1.0 if availability is None else availability) / price, "gpu_prior"
    else:
        ppd, source = None, "unknown"
    return LeaderboardRow(
        cohort=info["gpu_model"],
        rank=0,
        provider_id=info["provider_id"],
        region=info["region"],
        price_usd_per_gpu_hour=price,
        perf_per_dollar=None if ppd is None else round(ppd, 6),
        perf_per_dollar_source=source,  # type: ignore[arg-type]
        availability=availability,
        gpu_util_pct=util,
    )


def leaderboard(
    infos: Mapping[str, Value], metrics: Mapping[str, Value], cohort: str | None = None
) -> list[LeaderboardRow]:
    """Providers ranked within their cohort (GPU model) by performance per dollar.

    ``infos`` maps provider id to catalogue values, ``metrics`` maps entity key
    (``provider:<id>``) to metric values. Providers without a figure rank last; offline
    providers are left out. Cohorts come in name order, rank 1 is the best.
    """
    rows: dict[str, list[LeaderboardRow]] = {}
    for pid, info in infos.items():
        if info["status"] == ProviderStatus.OFFLINE.value:
            continue
        if cohort is not None and info["gpu_model"] != cohort:
            continue
        row = _provider_row(info, metrics.get(f"provider:{pid}"))
        rows.setdefault(row.cohort, []).append(row)
    ranked = []
    for name in sorted(rows):
        ordered = sorted(
            rows[name],
            key=lambda r: (r.perf_per_dollar is None, -(r.perf_per_dollar or 0.0), r.provider_id),
        )
        ranked += [r.model_copy(update={"rank": i + 1}) for i, r in enumerate(ordered)]
    return ranked


def fleet_summary(
    infos: Mapping[str, Value],
    metrics: Mapping[str, Value],
    alerts: Iterable[Value],
    recommendations: Iterable[Value],
    anomalies: Iterable[list[Value]],
    now_ms: int,
) -> FleetSummary:
    """Fleet health in numbers: providers, utilisation, firing alerts, pending actions."""
    provider_metrics = [m["latest"] for k, m in metrics.items() if k.startswith("provider:")]
    utils = [
        m["metrics"]["gpu_util_pct"]["mean"]
        for m in provider_metrics
        if "gpu_util_pct" in m["metrics"]
    ]
    avail = [m["availability"] for m in provider_metrics if m.get("availability") is not None]
    hour_ago = now_ms - 3600 * 1000
    return FleetSummary(
        providers=len(infos),
        providers_online=sum(i["status"] == ProviderStatus.ONLINE.value for i in infos.values()),
        providers_with_metrics=len(provider_metrics),
        mean_gpu_util_pct=round(sum(utils) / len(utils), 3) if utils else None,
        mean_availability=round(sum(avail) / len(avail), 6) if avail else None,
        firing_alerts=sum(a["latest"]["status"] == AlertStatus.FIRING.value for a in alerts),
        pending_recommendations=sum(
            r["latest"]["status"] == RecommendationStatus.PROPOSED.value for r in recommendations
        ),
        anomalies_last_hour=sum(1 for items in anomalies for a in items if a["ts_ms"] >= hour_ago),
    )


__all__ = [
    "HISTORY_KEEP",
    "SERIES_KEEP",
    "TABLES",
    "apply_acknowledgement",
    "apply_alert",
    "apply_metric_window",
    "apply_outcome",
    "apply_provider_info",
    "apply_recent",
    "apply_recommendation",
    "apply_silence",
    "apply_workload_event",
    "decide",
    "fleet_summary",
    "leaderboard",
    "metric_point",
    "silences_matching",
]
