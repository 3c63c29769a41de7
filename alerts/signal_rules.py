"""Rule kinds over derived signals: anomaly scores, SLO burn rates and budget projections.

Each kind reduces its input to an :class:`alerts.lifecycle.Observation`; the lifecycle
(``for``, ``keep_firing_for``, hysteresis, flapping) is shared with threshold rules.

Examples
--------
>>> rule = AnomalyRule(name="ProviderAnomalous", severity="warning", min_score=0.9)
>>> rule.observe(10**12, 0.95)
Observation(start_ms=1000000000000, end_ms=1000000000000, value=0.95, breach=True, healthy=False)
>>> page = BurnRateRule(name="SloBurn", severity="page", objective=0.99, sli="availability",
...                     factor=14.4, long_window="1h", short_window="5m")
>>> page.observe(10**12, long_burn=20.0, short_burn=16.0).breach
True
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import Field, field_validator, model_validator

from alerts.durations import format_duration
from alerts.lifecycle import Observation
from alerts.rule_base import RuleBase, duration_field
from schemas import EntityType

__all__ = ["AbsenceRule", "AnomalyRule", "BudgetRule", "BurnRateRule", "SliKind"]

SliKind = Literal["availability", "throughput", "latency_p95"]


class AnomalyRule(RuleBase):
    """Fire on anomaly scores from ``perf.anomalies``.

    A score ``>= min_score`` breaches; while firing, a score ``< resolve_score`` (default
    *min_score*) or a quiet heartbeat (no anomaly for a closed window) is healthy. Use
    ``keep_firing_for`` so that a gap between two anomalies of one incident does not
    resolve it.

    Examples
    --------
    >>> r = AnomalyRule(name="A", severity="warning", min_score=0.9, resolve_score=0.5)
    >>> r.observe(10**12, 0.7).healthy, r.quiet(10**12 + 1).healthy
    (False, True)
    """

    kind: Literal["anomaly"] = "anomaly"
    min_score: float = Field(gt=0, le=1)
    resolve_score: float | None = Field(default=None, ge=0, le=1)
    detector: str | None = None

    @model_validator(mode="after")
    def _check_resolve(self) -> Self:
        if self.resolve_score is not None and self.resolve_score > self.min_score:
            raise ValueError(
                f"resolve_score {self.resolve_score} must be <= min_score {self.min_score}"
            )
        return self

    @property
    def display_threshold(self) -> float:
        """``{threshold}`` renders the minimum score."""
        return self.min_score

    def observe(self, ts_ms: int, score: float) -> Observation:
        """The observation of one anomaly score at ``ts_ms``."""
        resolve = self.min_score if self.resolve_score is None else self.resolve_score
        return Observation(ts_ms, ts_ms, score, score >= self.min_score, score < resolve)

    def quiet(self, end_ms: int) -> Observation:
        """A healthy heartbeat: the entity's window ending at ``end_ms`` had no anomaly."""
        return Observation(end_ms, end_ms, 0.0, False, True)


class BurnRateRule(RuleBase):
    """One row of the SRE workbook's multi-window, multi-burn-rate table.

    Breach when the error-budget burn rate over *both* ``long_window`` and
    ``short_window`` is at least ``factor``; healthy once the short window drops below it
    (the short window is what makes the alert resolve quickly, as in the workbook).

    Parameters
    ----------
    objective : float
        The SLO target, e.g. ``0.99`` (budget = 1 - objective).
    sli : {"availability", "throughput", "latency_p95"}
        What a good event is (see :mod:`alerts.sla`).
    target : float or None
        Throughput floor or p95 latency ceiling (ms) for those SLIs.
    factor : float
        Burn-rate threshold (14.4, 6, 1 in the workbook).
    long_window, short_window : duration
        Windows (``1h``/``5m``, ``6h``/``30m``, ``3d``/``6h`` in the workbook).
    min_events : int
        Low-traffic guard: rates use at least this many events as denominator, so one
        failure among three events does not page (see :mod:`alerts.sla`).

    Examples
    --------
    >>> BurnRateRule(name="B", severity="page", objective=0.99, factor=6, sli="availability",
    ...              long_window="5m", short_window="1h")
    Traceback (most recent call last):
      ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for BurnRateRule
      Value error, short_window (1h) must be shorter than long_window (5m) ...
    """

    kind: Literal["burn_rate"] = "burn_rate"
    entity_type: EntityType = EntityType.WORKLOAD
    objective: float = Field(gt=0, lt=1)
    sli: SliKind = "availability"
    target: float | None = None
    factor: float = Field(gt=0)
    long_window_ms: int = Field(alias="long_window", gt=0)
    short_window_ms: int = Field(alias="short_window", gt=0)
    min_events: int = Field(default=0, ge=0)

    @field_validator("long_window_ms", "short_window_ms", mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Any:
        return duration_field(value)

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.short_window_ms >= self.long_window_ms:
            raise ValueError(
                f"short_window ({format_duration(self.short_window_ms)}) must be "
                f"shorter than long_window ({format_duration(self.long_window_ms)})"
            )
        if self.sli != "availability" and self.target is None:
            raise ValueError(f"sli {self.sli!r} needs a target")
        return self

    @property
    def display_threshold(self) -> float:
        """``{threshold}`` renders the burn-rate factor."""
        return self.factor

    def alert_labels(self, entity_id: str) -> dict[str, str]:
        """Rule labels plus ``slo_window`` (the long window), so the rows of one table differ.

        Examples
        --------
        >>> BurnRateRule(name="B", severity="ticket", objective=0.99, factor=1,
        ...              long_window="3d", short_window="6h").alert_labels("w1")["slo_window"]
        '3d'
        """
        return {
            **super().alert_labels(entity_id),
            "slo_window": format_duration(self.long_window_ms),
        }

    def observe(self, ts_ms: int, *, long_burn: float, short_burn: float) -> Observation:
        """The observation of both windows' burn rates at ``ts_ms``."""
        breach = long_burn >= self.factor and short_burn >= self.factor
        return Observation(ts_ms, ts_ms, long_burn, breach, short_burn < self.factor)


class BudgetRule(RuleBase):
    """Fire when a tenant's spend is projected to exhaust its budget within ``warn_before``.

    The value is the hours left until the projected exhaustion (``inf`` when not within
    the budget period). Healthy again only beyond ``resolve_before`` (default
    ``1.5 x warn_before``): hysteresis against a projection that wobbles around the line.

    Examples
    --------
    >>> r = BudgetRule(name="BudgetExhaustion", severity="warning", warn_before="12h")
    >>> [r.observe(10**12, h).breach for h in (6.0, 13.0)], r.observe(10**12, 15.0).healthy
    ([True, False], False)
    """

    kind: Literal["budget"] = "budget"
    entity_type: EntityType = EntityType.TENANT
    warn_before_ms: int = Field(alias="warn_before", gt=0)
    resolve_before_ms: int | None = Field(default=None, alias="resolve_before", gt=0)

    @field_validator("warn_before_ms", "resolve_before_ms", mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Any:
        return duration_field(value)

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.resolve_before_ms is not None and self.resolve_before_ms < self.warn_before_ms:
            raise ValueError("resolve_before must be >= warn_before")
        return self

    @property
    def display_threshold(self) -> float:
        """``{threshold}`` renders ``warn_before`` in hours."""
        return self.warn_before_ms / 3_600_000

    def observe(self, ts_ms: int, hours_to_exhaustion: float) -> Observation:
        """The observation of one projection made at ``ts_ms``."""
        resolve_ms = self.resolve_before_ms or int(self.warn_before_ms * 1.5)
        left_ms = hours_to_exhaustion * 3_600_000
        value = min(hours_to_exhaustion, 1e9)  # JSON and annotations have no infinity
        return Observation(
            ts_ms, ts_ms, value, left_ms <= self.warn_before_ms, left_ms > resolve_ms
        )


class AbsenceRule(RuleBase):
    """Fire when an entity's windows stop arriving (an outage: no telemetry, no window).

    Evaluated on every tick of the fleet's clock (a window closing for any entity of the
    partition, or the evaluation's own clock): breach once the entity's last window ended
    ``after`` or more before ``now``; healthy as soon as it is fresh again.

    Examples
    --------
    >>> r = AbsenceRule(name="ProviderDown", severity="critical", after="3m")
    >>> [r.observe(10**12 + m * 60_000, last_seen_end_ms=10**12).breach for m in (2, 3)]
    [False, True]
    """

    kind: Literal["absent"] = "absent"
    after_ms: int = Field(alias="after", gt=0)

    @field_validator("after_ms", mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Any:
        return duration_field(value)

    @property
    def display_threshold(self) -> float:
        """``{threshold}`` renders ``after`` in minutes."""
        return self.after_ms / 60_000

    def observe(self, now_ms: int, last_seen_end_ms: int) -> Observation:
        """The observation at ``now_ms`` of an entity last seen at ``last_seen_end_ms``."""
        silent_ms = now_ms - last_seen_end_ms
        breach = silent_ms >= self.after_ms
        return Observation(now_ms, now_ms, silent_ms / 60_000, breach, not breach)
