"""JSON encoding and defensive decoding of records, and the topic-to-record map.

:func:`decode` never lets a pydantic or JSON error escape: everything a bad
message can do wrong becomes a :class:`DecodeError` whose ``error_type`` is the
dead-letter category (``"json"``, ``"validation"`` or ``"future"``).
"""

from typing import TypeVar

from pydantic import ValidationError

from schemas.alert_actions import AlertAction
from schemas.alerts import Alert
from schemas.base import Record
from schemas.budgets import TenantBudgetStatus
from schemas.catalog import ProviderInfo
from schemas.dlq import DeadLetter
from schemas.insights import Anomaly, Insight
from schemas.lifecycle import WorkloadEvent
from schemas.metrics import MetricWindow
from schemas.outcomes import RecommendationOutcome
from schemas.recommendations import Recommendation, SchedulerFeedback
from schemas.reports import Report
from schemas.slo import SloStatus
from schemas.telemetry import ProviderSample, WorkloadSample

__all__ = ["TOPIC_RECORDS", "DecodeError", "decode", "encode", "record_key"]

R = TypeVar("R", bound=Record)

# Enough to diagnose a bad message without flooding logs or DLQ records.
_MAX_REPORTED_ERRORS = 5

TOPIC_RECORDS: dict[str, type[Record]] = {
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


class DecodeError(ValueError):
    """A message could not be turned into a valid record.

    Parameters
    ----------
    reason : str
        Short human-readable explanation; also the exception message.
    error_type : str
        Category: ``"json"``, ``"validation"`` or ``"future"``.

    Examples
    --------
    >>> err = DecodeError("seq: Input should be a valid integer", "validation")
    >>> err.error_type, str(err)
    ('validation', 'seq: Input should be a valid integer')
    """

    def __init__(self, reason: str, error_type: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.error_type = error_type

    def __reduce__(self) -> tuple[type["DecodeError"], tuple[str, str]]:
        # The default pickling replays only ``args`` and would lose error_type.
        return (type(self), (self.reason, self.error_type))


def encode(record: Record) -> bytes:
    """Serialise a record to compact UTF-8 JSON.

    Examples
    --------
    >>> from schemas.lifecycle import SLA
    >>> encode(SLA(min_throughput=10.0))
    b'{"schema_version":1,"min_throughput":10.0,"max_p95_latency_ms":null,"min_availability":0.99}'
    """
    return record.model_dump_json().encode("utf-8")


def record_key(record: Record) -> str:
    """The Kafka key a record has on its topic (README's topic table).

    >>> from schemas.catalog import ProviderInfo
    >>> record_key(DeadLetter(source_topic="t", partition=0, offset=0, ts_ms=1_700_000_000_000,
    ...                       value=b"", reason="r", error_type="json"))
    ':'
    """
    if isinstance(record, SloStatus):
        return record.key
    for name in ("recommendation_id", "fingerprint", "workload_id", "provider_id", "tenant_id"):
        value = getattr(record, name, None)
        if isinstance(value, str) and value:
            return value
    if isinstance(record, AlertAction):
        return record.action_id
    entity_type = getattr(record, "entity_type", "")
    return f"{getattr(entity_type, 'value', entity_type)}:{getattr(record, 'entity_id', '')}"


def _summarise(model: type[Record], exc: ValidationError) -> str:
    errors = exc.errors(include_url=False, include_input=False)
    parts = [
        f"{'.'.join(str(p) for p in err['loc']) or model.__name__}: {err['msg']}"
        for err in errors[:_MAX_REPORTED_ERRORS]
    ]
    if len(errors) > _MAX_REPORTED_ERRORS:
        parts.append(f"... and {len(errors) - _MAX_REPORTED_ERRORS} more")
    return "; ".join(parts)


def decode(
    model: type[R], data: bytes, *, now_ms: int | None = None, max_future_ms: int = 300_000
) -> R:
    """Parse and validate JSON bytes as ``model``.

    Parameters
    ----------
    model : type[Record]
        Record class to decode into.
    data : bytes
        Raw message value.
    now_ms : int or None
        Current time, UTC epoch milliseconds.  When given, records whose event
        time (``model.EVENT_TIME_FIELD``, normally ``ts_ms``) lies more than
        ``max_future_ms`` after it are rejected.
    max_future_ms : int
        Tolerated clock skew for the far-future check.

    Returns
    -------
    Record
        The validated record, an instance of ``model``.

    Raises
    ------
    DecodeError
        With ``error_type`` ``"json"`` for malformed JSON, ``"validation"`` for
        schema violations and ``"future"`` for far-future timestamps.

    Examples
    --------
    >>> from schemas.lifecycle import SLA
    >>> decode(SLA, b'{"min_availability": 0.5}').min_availability
    0.5
    >>> decode(SLA, b'{"min_availability": 2}')
    Traceback (most recent call last):
    ...
    schemas.codec.DecodeError: min_availability: Input should be less than or equal to 1
    """
    try:
        record = model.model_validate_json(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        if any(err["type"] == "json_invalid" for err in errors):
            raise DecodeError(_summarise(model, exc), "json") from exc
        raise DecodeError(_summarise(model, exc), "validation") from exc

    field = model.EVENT_TIME_FIELD
    if now_ms is not None and field is not None:
        event_ms = getattr(record, field)
        if event_ms > now_ms + max_future_ms:
            raise DecodeError(
                f"{field} {event_ms} is more than {max_future_ms} ms in the future "
                f"(now_ms={now_ms})",
                "future",
            )
    return record
