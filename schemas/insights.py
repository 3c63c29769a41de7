"""Detector output: scored anomalies and root-cause insights derived from them."""

from enum import StrEnum

from schemas.base import Id, NonEmptyStr, Record, TsMs, UnitFloat
from schemas.metrics import EntityType

__all__ = ["Anomaly", "BottleneckKind", "Insight", "RootCauseScope"]


class Anomaly(Record):
    """An anomaly flagged by a detector for one entity.

    Attributes
    ----------
    entity_type : EntityType
        Kind of entity.
    entity_id : str
        The entity.
    ts_ms : int
        Time of the anomalous observation, UTC epoch milliseconds.
    score : float
        Anomaly score in [0, 1]; higher is more anomalous.
    detector : str
        Name of the detector that raised it.
    contributing_features : dict[str, float]
        Per-feature contribution to the score.
    expected, observed : dict[str, float]
        Baseline and actual values of the relevant metrics.

    Examples
    --------
    >>> a = Anomaly(entity_type="provider", entity_id="prov-1", ts_ms=1_700_000_000_000,
    ...             score=0.93, detector="hst", observed={"gpu_temp_c": 92.0})
    >>> a.observed["gpu_temp_c"], a.expected
    (92.0, {})
    """

    entity_type: EntityType
    entity_id: NonEmptyStr
    ts_ms: TsMs
    score: UnitFloat
    detector: NonEmptyStr
    contributing_features: dict[str, float] = {}
    expected: dict[str, float] = {}
    observed: dict[str, float] = {}


class RootCauseScope(StrEnum):
    """Where the root cause of a problem is believed to lie.

    Examples
    --------
    >>> RootCauseScope.UNKNOWN.value
    'unknown'
    """

    WORKLOAD = "workload"
    PROVIDER = "provider"
    REGION = "region"
    UNKNOWN = "unknown"


class BottleneckKind(StrEnum):
    """What limits a workload in a window (the ``kind`` of a bottleneck ``Insight``).

    Examples
    --------
    >>> BottleneckKind("cpu_starved") is BottleneckKind.CPU_STARVED
    True
    """

    GPU_BOUND = "gpu_bound"
    MEMORY_BOUND = "memory_bound"
    NETWORK_IO_BOUND = "network_io_bound"
    CPU_STARVED = "cpu_starved"
    THERMAL_THROTTLING = "thermal_throttling"
    UNDER_UTILISED = "under_utilised"


class Insight(Record):
    """A diagnosed explanation (e.g. a bottleneck class) for an entity's behaviour.

    Attributes
    ----------
    insight_id : Id
        Unique id of the insight.
    entity_type : EntityType
        Kind of entity.
    entity_id : str
        The entity.
    ts_ms : int
        Diagnosis time, UTC epoch milliseconds.
    kind : str
        Diagnosis class, e.g. ``"thermal_throttling"`` or ``"network_bound"``.
    scope : RootCauseScope
        Where the cause lies.
    evidence : dict[str, float | str]
        Facts supporting the diagnosis.
    confidence : float
        Confidence in [0, 1].
    summary : str
        Human-readable one-liner.

    Examples
    --------
    >>> i = Insight(insight_id="ins-1", entity_type="workload", entity_id="wl-1",
    ...             ts_ms=1_700_000_000_000, kind="network_bound", scope="provider",
    ...             evidence={"net_rtt_ms": 85.0, "region": "eu-west"}, confidence=0.8)
    >>> i.scope is RootCauseScope.PROVIDER
    True
    """

    insight_id: Id
    entity_type: EntityType
    entity_id: NonEmptyStr
    ts_ms: TsMs
    kind: NonEmptyStr
    scope: RootCauseScope
    evidence: dict[str, float | str] = {}
    confidence: UnitFloat
    summary: str = ""
