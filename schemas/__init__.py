"""Wire-format records shared by every computeperf component.

Every message that crosses a Kafka topic is one of the frozen pydantic models
re-exported here.  Producers serialise with :func:`encode`; consumers parse with
:func:`decode`, which turns every kind of bad input into a :class:`DecodeError`
whose ``error_type`` says which dead-letter bucket it belongs in.
:data:`TOPIC_RECORDS` maps each logical topic name to its record type.

This package depends on pydantic and the standard library only, so the
simulators, models and stream processors can all share it cheaply.
"""

from schemas.alert_actions import AlertAction, AlertActionKind
from schemas.alerts import Alert, AlertStatus, Severity, alert_fingerprint
from schemas.base import Id, Record
from schemas.budgets import TenantBudgetStatus
from schemas.catalog import ProviderInfo, ProviderStatus
from schemas.codec import TOPIC_RECORDS, DecodeError, decode, encode, record_key
from schemas.dlq import DeadLetter
from schemas.insights import Anomaly, BottleneckKind, Insight, RootCauseScope
from schemas.lifecycle import SLA, WorkloadEvent, WorkloadEventKind, WorkloadSpec
from schemas.metrics import EntityType, MetricStats, MetricWindow
from schemas.outcomes import RecommendationOutcome
from schemas.recommendations import (
    FeedbackOutcome,
    Recommendation,
    RecommendationKind,
    RecommendationStatus,
    SchedulerFeedback,
)
from schemas.reports import Report, ReportPeriod
from schemas.slo import SloStatus
from schemas.telemetry import ProviderSample, WorkloadSample, WorkloadType

__all__ = [
    "SLA",
    "TOPIC_RECORDS",
    "Alert",
    "AlertAction",
    "AlertActionKind",
    "AlertStatus",
    "Anomaly",
    "BottleneckKind",
    "DeadLetter",
    "DecodeError",
    "EntityType",
    "FeedbackOutcome",
    "Id",
    "Insight",
    "MetricStats",
    "MetricWindow",
    "ProviderInfo",
    "ProviderSample",
    "ProviderStatus",
    "Recommendation",
    "RecommendationKind",
    "RecommendationOutcome",
    "RecommendationStatus",
    "Record",
    "Report",
    "ReportPeriod",
    "RootCauseScope",
    "SchedulerFeedback",
    "Severity",
    "SloStatus",
    "TenantBudgetStatus",
    "WorkloadEvent",
    "WorkloadEventKind",
    "WorkloadSample",
    "WorkloadSpec",
    "WorkloadType",
    "alert_fingerprint",
    "decode",
    "encode",
    "record_key",
]
