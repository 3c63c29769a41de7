"""Windowed metric aggregates per entity (provider, workload, tenant, cohort, region)."""

from enum import StrEnum
from typing import ClassVar, Self

from pydantic import model_validator

from schemas.base import NonEmptyStr, NonNegFloat, NonNegInt, Record, TsMs, UnitFloat

__all__ = ["EntityType", "MetricStats", "MetricWindow"]


class EntityType(StrEnum):
    """What a metric window, anomaly or insight is about.

    Examples
    --------
    >>> f"{EntityType.PROVIDER}"
    'provider'
    """

    PROVIDER = "provider"
    WORKLOAD = "workload"
    TENANT = "tenant"
    COHORT = "cohort"
    REGION = "region"


class MetricStats(Record):
    """Summary statistics of one metric over a window.

    Quantiles come from sketches with bounded relative error, so they are not
    required to lie exactly within ``[min, max]``.

    Attributes
    ----------
    count : int
        Number of observations summarised.
    mean, min, max, p50, p95, p99 : float
        The statistics.

    Examples
    --------
    >>> MetricStats(count=3, mean=2.0, min=1.0, max=3.0, p50=2.0, p95=3.0, p99=3.0).p95
    3.0
    """

    count: NonNegInt
    mean: float
    min: float
    max: float
    p50: float
    p95: float
    p99: float


class MetricWindow(Record):
    """Aggregated metrics of one entity over ``[window_start_ms, window_end_ms)``.

    Attributes
    ----------
    entity_type : EntityType
        Kind of entity.
    entity_id : str
        The entity (provider id, workload id, region name, cohort name, ...).
    window_start_ms, window_end_ms : int
        Window bounds, UTC epoch milliseconds; end is strictly after start.
    count : int
        Samples that fell in the window.
    metrics : dict[str, MetricStats]
        Statistics per metric name (see ``ProviderSample.NUMERIC_FIELDS``).
    availability : float or None
        Fraction of the window the entity was available, in [0, 1].
    error_rate : float or None
        Errors per request (or per sample) in the window.
    perf_per_dollar : float or None
        Throughput per USD spent in the window.

    Examples
    --------
    >>> w = MetricWindow(entity_type="provider", entity_id="prov-1",
    ...                  window_start_ms=1_700_000_000_000, window_end_ms=1_700_000_060_000,
    ...                  count=0, metrics={})
    >>> w.key
    'provider:prov-1:1700000000000:60000'
    """

    # A window is only emitted once it has closed, so its start is the time to
    # compare against "now".
    EVENT_TIME_FIELD: ClassVar[str | None] = "window_start_ms"

    entity_type: EntityType
    entity_id: NonEmptyStr
    window_start_ms: TsMs
    window_end_ms: TsMs
    count: NonNegInt
    metrics: dict[str, MetricStats]
    availability: UnitFloat | None = None
    error_rate: NonNegFloat | None = None
    perf_per_dollar: NonNegFloat | None = None

    @model_validator(mode="after")
    def _check_bounds(self) -> Self:
        if self.window_end_ms <= self.window_start_ms:
            raise ValueError(
                f"window_end_ms ({self.window_end_ms}) must be after "
                f"window_start_ms ({self.window_start_ms})"
            )
        return self

    @property
    def key(self) -> str:
        """Stable identity of the window: ``type:id:start_ms:size_ms``."""
        size_ms = self.window_end_ms - self.window_start_ms
        return f"{self.entity_type}:{self.entity_id}:{self.window_start_ms}:{size_ms}"
