"""The SLO status of one entity (a workload, mostly): compliance, error budget, burn rates."""

from typing import Annotated, ClassVar, Literal, Self

from pydantic import Field, StringConstraints, model_validator

from schemas.base import Id, NonEmptyStr, NonNegFloat, NonNegInt, Record, TsMs, UnitFloat
from schemas.metrics import EntityType

__all__ = ["SloStatus"]

#: A window's label, as in the alert label ``slo_window`` (``5m``, ``1h``, ``3d``...).
WindowLabel = Annotated[str, StringConstraints(pattern=r"^([0-9]+(d|h|m|s|ms))+$")]


class SloStatus(Record):
    """Where an entity stands against one SLO after its latest closed window.

    Published on ``perf.slo`` (compacted, key :attr:`key`) by the alert agent each time
    a window changes the entity's SLO tracker; the API's ``GET /api/v1/sla`` shows the
    latest per key.

    Attributes
    ----------
    entity_type, entity_id
        Whose SLO this is (the burn-rate rules' ``entity_type``, ``workload`` by default).
    slo_key : str
        The SLO's identity among the entity's SLOs (SLI, target, objective, guard).
    name : str
        The name of the rules reading it (their ``alertname``).
    objective : float
        The SLO target in (0, 1); the error budget is ``1 - objective``.
    sli : {"availability", "throughput", "latency_p95"}
        What a good window is; ``target`` is its throughput floor or latency ceiling.
    period_ms : int
        The rolling SLO period: the longest window of the rules.
    good_events, total_events : int
        Good and all windows in the period (missed windows count as bad availability),
        at the tracker's bucket resolution: a period of more than 60 windows may leave
        out the oldest bucket (``alerts.burn_buckets``).
    min_events : int
        The rules' low-traffic guard: fewer events than this in the period are not
        enough data to judge compliance or budget by (:attr:`enough_data`).
    compliance : float
        ``good_events / total_events`` (1 without events).
    error_budget_remaining : float
        ``1 - bad / ((1 - objective) * total)``: 1 untouched, 0 spent, below 0 overspent.
    burn_rates : dict[str, float]
        Burn rate per rule window (``"1h"``, ``"5m"``...), as the rules see it.
    burn_rate : float
        The headline figure: the burn rate over the shortest long window (the fastest
        paging rule's, ``1h`` in the SRE workbook's table).
    window_end_ms : int
        End of the window that produced this status, UTC epoch milliseconds.

    Examples
    --------
    >>> s = SloStatus(entity_type="workload", entity_id="w1", slo_key="throughput|100.0|0.9|0",
    ...               name="Tput", objective=0.9, sli="throughput", target=100.0,
    ...               period_ms=60_000, good_events=9, total_events=12, compliance=0.75,
    ...               error_budget_remaining=-1.5, burn_rates={"1m": 2.5, "15s": 10.0},
    ...               burn_rate=2.5, window_end_ms=1_700_000_000_000)
    >>> s.key, s.enough_data
    ('workload:w1|throughput|100.0|0.9|0', True)
    >>> s.model_copy(update={"min_events": 20}).enough_data  # 12 events: too few to judge
    False
    >>> SloStatus.model_validate({**s.model_dump(), "good_events": 13})
    Traceback (most recent call last):
      ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for SloStatus
      Value error, good_events (13) must not exceed total_events (12) ...
    """

    EVENT_TIME_FIELD: ClassVar[str | None] = "window_end_ms"

    entity_type: EntityType
    entity_id: Id
    slo_key: NonEmptyStr
    name: NonEmptyStr
    objective: float = Field(gt=0.0, lt=1.0)
    sli: Literal["availability", "throughput", "latency_p95"]
    target: float | None = None
    period_ms: int = Field(gt=0)
    good_events: NonNegInt
    total_events: NonNegInt
    min_events: NonNegInt = 0
    compliance: UnitFloat
    error_budget_remaining: float = Field(le=1.0)
    burn_rates: dict[WindowLabel, NonNegFloat] = {}
    burn_rate: NonNegFloat
    window_end_ms: TsMs

    @model_validator(mode="after")
    def _check_counts(self) -> Self:
        if self.good_events > self.total_events:
            raise ValueError(
                f"good_events ({self.good_events}) must not exceed "
                f"total_events ({self.total_events})"
            )
        return self

    @property
    def key(self) -> str:
        """The record's key on ``perf.slo``: ``<entity_type>:<entity_id>|<slo_key>``."""
        return f"{self.entity_type.value}:{self.entity_id}|{self.slo_key}"

    @property
    def enough_data(self) -> bool:
        """Whether the period holds enough events (at least one, and ``min_events``)."""
        return self.total_events >= max(1, self.min_events)
