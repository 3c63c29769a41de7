"""Request and response records of the HTTP API (the OpenAPI schemas are made from these).

Responses reuse the topic records of ``schemas/`` (``Alert``, ``Recommendation``, ...)
and wrap them with what the read model adds (history, acknowledgement, series).

>>> ItemList[LeaderboardRow](items=[]).model_dump()
{'items': []}
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from schemas import (
    Alert,
    AlertAction,
    Anomaly,
    EntityType,
    Insight,
    MetricWindow,
    ProviderInfo,
    Recommendation,
    RecommendationOutcome,
    RecommendationStatus,
    WorkloadEvent,
    WorkloadSpec,
)

T = TypeVar("T")

LABEL_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
Comment = Annotated[str, StringConstraints(max_length=2000)]


class Resource(BaseModel):
    """Base of every API body: strict about unknown fields, finite floats."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class ItemList(Resource, Generic[T]):
    """A list response: ``{"items": [...]}`` (room for paging fields later)."""

    items: list[T]


class ErrorBody(Resource):
    """Every 4xx body: ``error`` says what is wrong; ``detail`` holds pydantic's errors."""

    error: str
    detail: list[dict[str, object]] = []


class MetricPoint(Resource):
    """One closed window in a compact series: the mean and p95 of each metric."""

    window_start_ms: int
    window_end_ms: int
    count: int
    availability: float | None = None
    perf_per_dollar: float | None = None
    mean: dict[str, float] = {}
    p95: dict[str, float] = {}


class EntityMetrics(Resource):
    """An entity's latest window and the compact series of its recent windows."""

    entity_key: str
    latest: MetricWindow
    series: list[MetricPoint] = []


class ProviderView(Resource):
    """A provider: its catalogue entry (if seen) and its latest metrics (if any)."""

    provider_id: str
    info: ProviderInfo | None = None
    metrics: EntityMetrics | None = None


class LeaderboardRow(Resource):
    """A provider's place in its cohort (same GPU model), best performance per dollar first.

    ``perf_per_dollar_source`` says where the figure comes from: ``window`` (measured,
    ``MetricWindow.perf_per_dollar``) or ``gpu_prior`` (the GPU model's nominal relative
    throughput, A100 80GB = 1, times availability, per USD per GPU-hour).
    """

    cohort: str
    rank: int
    provider_id: str
    region: str
    price_usd_per_gpu_hour: float
    perf_per_dollar: float | None = None
    perf_per_dollar_source: Literal["window", "gpu_prior", "unknown"] = "unknown"
    availability: float | None = None
    gpu_util_pct: float | None = None


class WorkloadView(Resource):
    """A workload: its latest lifecycle event, its spec and where it runs."""

    workload_id: str
    latest: WorkloadEvent
    spec: WorkloadSpec | None = None
    provider_id: str | None = None


class Acknowledgement(Resource):
    """Who acknowledged an alert, when, and why."""

    actor: str
    ts_ms: int
    comment: str = ""


class AlertView(Resource):
    """An alert's latest state, its recent transitions, acknowledgement and silences."""

    fingerprint: str
    latest: Alert
    history: list[Alert] = []
    acknowledgement: Acknowledgement | None = None
    silenced_by: list[str] = []


class RecommendationView(Resource):
    """A recommendation's latest record, its recent status changes (newest last), and once
    the scheduler applied it, the realised-vs-predicted outcome of ``perf.outcomes``."""

    recommendation_id: str
    latest: Recommendation
    history: list[Recommendation] = []
    outcome: RecommendationOutcome | None = None


class SilenceRequest(Resource):
    """``POST /api/v1/alerts/silences``: silence alerts whose labels match, for a while."""

    matchers: dict[
        Annotated[str, StringConstraints(pattern=LABEL_NAME)],
        Annotated[str, StringConstraints(max_length=256)],
    ] = Field(
        min_length=1,
        max_length=16,
        # pydantic states the key rule as patternProperties only, which lets other keys
        # through in JSON Schema; these two say what the validation does.
        json_schema_extra={
            "propertyNames": {"pattern": LABEL_NAME},
            "additionalProperties": {"type": "string", "maxLength": 256},
        },
    )
    duration_s: int = Field(ge=60, le=30 * 24 * 3600)
    comment: Comment = ""


class AcknowledgeRequest(Resource):
    """``POST /api/v1/alerts/{fingerprint}/acknowledge``."""

    comment: Comment = ""


class DecisionRequest(Resource):
    """``POST /api/v1/recommendations/{id}/approve`` or ``/reject``."""

    reason: Comment = ""


class SilenceView(Resource):
    """A silence as stored on ``perf.alert_actions``, and whether it is active now."""

    silence: AlertAction
    active: bool


class PlacementOption(Resource):
    """One ranked place for a workload spec: predicted performance, cost and confidence."""

    rank: int
    provider_id: str
    region: str
    gpu_model: str
    predicted_throughput: float
    throughput_unit: str
    cost_usd_per_hour: float
    perf_per_dollar: float
    confidence: float = Field(ge=0.0, le=1.0)
    basis: str


class PlacementAnswer(Resource):
    """Answer to ``POST /api/v1/optimize/placement``: options, best first, and exclusions."""

    options: list[PlacementOption]
    excluded: dict[str, list[str]] = {}


class SlaStatus(Resource):
    """Where one entity (a workload, mostly) stands against one SLO, from ``perf.slo``.

    The figures are those of the alert agent's burn-rate trackers after the entity's
    latest window (``schemas.SloStatus``): compliance and error budget over the SLO
    period (the longest window of the SLO's rules, rolling), burn rates per rule window.
    ``workload_id`` is set for workload SLOs; ``tenant_id`` for tenant SLOs, and for a
    workload's when its submission (``workloads.lifecycle``) is known, else ``None``.
    ``enough_data`` is false while the period holds fewer events than the rules'
    low-traffic guard ``min_events`` (a fresh workload): compliance and budget are then
    not judged, and ``in_breach`` (error budget overspent) is false.
    """

    entity_type: EntityType
    entity_id: str
    workload_id: str | None = None
    tenant_id: str | None = None
    slo: str
    sli: Literal["availability", "throughput", "latency_p95"]
    target: float | None = None
    objective: float = Field(gt=0.0, lt=1.0)
    period_ms: int
    good_events: int = Field(ge=0)
    total_events: int = Field(ge=0)
    min_events: int = Field(default=0, ge=0)
    enough_data: bool = True
    compliance: float = Field(ge=0.0, le=1.0)
    error_budget_remaining: float
    in_breach: bool = False
    burn_rate: float = Field(ge=0.0)
    burn_rates: dict[str, float] = {}
    window_end_ms: int


class BudgetStatus(Resource):
    """Spend against budget of one tenant in its current period, from ``perf.budgets``.

    The figures are those of the ``budgets`` role after the tenant's newest counted
    workload window (``schemas.TenantBudgetStatus``): spend so far in the calendar
    period (UTC), the limit from the budget file, burn rate (USD/h over the trailing
    6 h), the linear forecast of the spend at the period's end and, when the forecast
    reaches the limit within the period, when (``exhaustion_ms``; ``None`` otherwise).
    """

    tenant_id: str
    period: Literal["day", "week", "month"]
    period_start_ms: int
    period_end_ms: int
    limit_usd: float = Field(gt=0.0)
    spent_usd: float = Field(ge=0.0)
    remaining_usd: float
    fraction_spent: float = Field(ge=0.0)
    burn_usd_per_h: float = Field(ge=0.0)
    forecast_usd: float = Field(ge=0.0)
    exhaustion_ms: int | None = None
    hours_to_exhaustion: float | None = Field(default=None, ge=0.0)
    as_of_ms: int


class FleetSummary(Resource):
    """Fleet health in numbers, for the dashboard's header."""

    providers: int
    providers_online: int
    providers_with_metrics: int
    mean_gpu_util_pct: float | None = None
    mean_availability: float | None = None
    firing_alerts: int
    pending_recommendations: int
    anomalies_last_hour: int


class TableSnapshot(Resource):
    """One worker's share of a read-model table (workers merge these for list routes)."""

    table: str
    values: dict[str, Any]


class Identity(Resource):
    """``GET /api/v1/whoami``: the role of the presented token."""

    role: Literal["reader", "operator"]


__all__ = [
    "AcknowledgeRequest",
    "Acknowledgement",
    "AlertView",
    "Anomaly",
    "BudgetStatus",
    "DecisionRequest",
    "EntityMetrics",
    "ErrorBody",
    "FleetSummary",
    "Identity",
    "Insight",
    "ItemList",
    "LeaderboardRow",
    "MetricPoint",
    "PlacementAnswer",
    "PlacementOption",
    "ProviderView",
    "RecommendationStatus",
    "RecommendationView",
    "SilenceRequest",
    "SilenceView",
    "SlaStatus",
    "TableSnapshot",
    "WorkloadView",
]
