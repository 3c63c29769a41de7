"""Declarative threshold alert rules and their YAML loader.

A :class:`ThresholdRule` says *what* to watch ("provider ``gpu_temp_c.p95`` above 85 for
two windows") and *how* to label the resulting alert. It holds no per-entity state: the
state machine lives in :mod:`alerts.state`, so one rule can be evaluated for any number of
entities and the rule file can be reloaded without touching stored state.

Rules files are read by :mod:`alerts.rule_files`.

Examples
--------
>>> from schemas import Severity
>>> rule = ThresholdRule(
...     name="GpuTemperatureHigh", metric="gpu_temp_c.p95", op=">", threshold=85,
...     for_windows=2, resolve_threshold=80, severity=Severity.WARNING,
... )
>>> rule.is_breach(86.0), rule.is_breach(85.0)
(True, False)
>>> rule.is_healthy(80.0), rule.is_healthy(82.0)
(True, False)
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final, Literal, Self

from pydantic import Field, ValidationInfo, field_validator, model_validator

from alerts.rule_base import (
    LABEL_NAME,
    RESERVED_LABELS,
    RuleBase,
    duration_field,
)
from alerts.signal_rules import AbsenceRule, AnomalyRule, BudgetRule, BurnRateRule
from schemas import MetricWindow

__all__ = [
    "DEFAULT_RULES_PATH",
    "RESERVED_LABELS",
    "RULE_KINDS",
    "STATS",
    "TOP_LEVEL_METRICS",
    "Op",
    "Rule",
    "RuleError",
    "ThresholdRule",
]

Op = Literal[">", ">=", "<", "<="]

#: Statistics a ``"<metric>.<stat>"`` path may select from a :class:`schemas.MetricStats`.
STATS: Final[frozenset[str]] = frozenset({"count", "mean", "min", "max", "p50", "p95", "p99"})

#: Scalar :class:`schemas.MetricWindow` fields a rule may watch directly (no dot).
TOP_LEVEL_METRICS: Final[frozenset[str]] = frozenset(
    {"availability", "error_rate", "perf_per_dollar", "count"}
)

#: The rules shipped with the package.
DEFAULT_RULES_PATH: Final[Path] = Path(__file__).with_name("rules") / "default.yaml"

_OPS: Final[dict[str, Callable[[float, float], bool]]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
_METRIC_NAME: Final[re.Pattern[str]] = LABEL_NAME


class RuleError(ValueError):
    """An invalid rule or rules file.

    The message always names the file (when there is one), the rule index and the field,
    e.g. ``"rules.yaml: rules[1] (GpuHot): op: Input should be '>', '>=', '<' or '<='"``,
    so an operator can fix the file without reading a traceback.

    Parameters
    ----------
    message : str
        The full human-readable message.
    path : Path or None
        The rules file, if the error came from one.
    index : int or None
        Zero-based index of the offending rule in the ``rules`` list.
    field : str or None
        Dotted name of the first offending field, e.g. ``"resolve_threshold"``.

    Examples
    --------
    >>> err = RuleError("r.yaml: rules[0]: op: bad", path=Path("r.yaml"), index=0, field="op")
    >>> isinstance(err, ValueError), err.field
    (True, 'op')
    """

    def __init__(
        self,
        message: str,
        *,
        path: Path | None = None,
        index: int | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.path = path
        self.index = index
        self.field = field


class ThresholdRule(RuleBase):
    """Fire when one window metric crosses a fixed threshold for several windows.

    Parameters
    ----------
    name : str
        The ``alertname`` label, e.g. ``"GpuTemperatureHigh"``.
    entity_type : EntityType
        Only windows of this entity type are evaluated (default ``provider``).
    metric : str
        Path into a :class:`schemas.MetricWindow`: ``"<metric>.<stat>"`` with *stat* one of
        :data:`STATS` (e.g. ``"gpu_temp_c.p95"``), or a scalar field from
        :data:`TOP_LEVEL_METRICS` (e.g. ``"error_rate"``).
    minus : str or None
        Another path of the same window to subtract: the rule watches ``metric - minus``
        (a spread such as ``gpu_util_pct.p95`` minus ``gpu_util_pct.p50``).
    change_over : duration or None
        Watch how the value changed: against the entity's window ending ``change_over``
        earlier (the newest at or before then, no older than twice that; none: no data),
        as ``change`` — ``delta`` (now - then, PromQL ``x - x offset d``) or ``ratio``
        (now / then, ``x / x offset d``; a zero then is no data).
    op : {">", ">=", "<", "<="}
        A window *breaches* when ``value <op> threshold``.
    threshold : float
        The firing threshold.
    for_windows : int
        Consecutive breaching windows needed to fire; ``1`` fires on the first.
    resolve_threshold : float or None
        Hysteresis: while firing, a window is *healthy* only when
        ``not (value <op> resolve_threshold)``. ``None`` means the same as *threshold*.
        It must lie on the healthy side of *threshold* (``<=`` it for ``>``/``>=`` rules,
        ``>=`` it for ``<``/``<=`` rules).
    resolve_windows : int
        Consecutive healthy windows needed to resolve a firing alert.
    for, keep_firing_for, flap
        Durations and flap policy shared by every rule kind (:class:`RuleBase`).
    severity : Severity
        Copied to the alert and to its ``severity`` label.
    labels : dict of str to str
        Extra labels (e.g. ``team``); may not use the names in :data:`RESERVED_LABELS`.
    annotations : dict of str to str
        Templates such as ``summary``/``description``/``runbook_url``. ``{entity_id}``,
        ``{value}`` and ``{threshold}`` are substituted, with optional format specs
        (``{value:.1f}``); literal braces are written ``{{``/``}}``.

    Examples
    --------
    >>> from schemas import Severity
    >>> rule = ThresholdRule(
    ...     name="LowAvailability", metric="availability", op="<", threshold=0.99,
    ...     severity=Severity.CRITICAL, annotations={"summary": "{entity_id} at {value:.1%}"},
    ... )
    >>> rule.effective_resolve_threshold
    0.99
    >>> rule.render("gpu-7", 0.9)["summary"]
    'gpu-7 at 90.0%'
    >>> ThresholdRule(name="Bad", metric="error_rate", op=">", threshold=0.1,
    ...               resolve_threshold=0.2, severity=Severity.INFO)
    Traceback (most recent call last):
      ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for ThresholdRule
    resolve_threshold
      Value error, resolve_threshold 0.2 must be <= threshold 0.1 for op '>' ...
    """

    kind: Literal["threshold"] = "threshold"
    metric: str
    minus: str | None = None
    change_over_ms: int | None = Field(default=None, alias="change_over", gt=0)
    change: Literal["delta", "ratio"] | None = None
    op: Op
    threshold: float
    resolve_threshold: float | None = None

    @field_validator("change_over_ms", mode="before")
    @classmethod
    def _parse_change_over(cls, value: Any) -> Any:
        return duration_field(value)

    @model_validator(mode="after")
    def _check_change(self) -> Self:
        if (self.change is None) != (self.change_over_ms is None):
            raise ValueError(
                "change and change_over go together (e.g. change_over: 15m, change: ratio)"
            )
        return self

    @field_validator("minus")
    @classmethod
    def _check_minus(cls, minus: str | None) -> str | None:
        return None if minus is None else cls._check_metric(minus)

    @field_validator("metric")
    @classmethod
    def _check_metric(cls, metric: str) -> str:
        if "." not in metric:
            if metric not in TOP_LEVEL_METRICS:
                raise ValueError(
                    f"metric {metric!r} must be '<metric>.<stat>' or one of "
                    f"{sorted(TOP_LEVEL_METRICS)}"
                )
            return metric
        name, stat = metric.rsplit(".", 1)
        if not _METRIC_NAME.fullmatch(name):
            raise ValueError(
                f"metric name {name!r} in {metric!r} must match {_METRIC_NAME.pattern}"
            )
        if stat not in STATS:
            raise ValueError(f"stat {stat!r} in {metric!r} must be one of {sorted(STATS)}")
        return metric

    @field_validator("op", mode="before")
    @classmethod
    def _hint_unquoted_op(cls, op: object) -> object:
        # In YAML an unquoted ``op: >`` is a folded block scalar and loads as "" (or as the
        # following lines), which would otherwise produce a baffling literal_error.
        if op == "" or (isinstance(op, str) and op.endswith("\n")):
            raise ValueError('empty; in YAML quote it, e.g. op: ">" (a bare > starts a block)')
        return op

    @field_validator("resolve_threshold")
    @classmethod
    def _check_resolve_threshold(cls, value: float | None, info: ValidationInfo) -> float | None:
        op, threshold = info.data.get("op"), info.data.get("threshold")
        if value is None or op is None or threshold is None:
            return value  # nothing to compare, or op/threshold already reported as invalid
        # Hysteresis only makes sense if resolving needs the value to move *further* into
        # the healthy region than merely un-breaching; the other side would resolve an
        # alert while the value still breaches.
        if op in (">", ">=") and value > threshold:
            raise ValueError(
                f"resolve_threshold {value} must be <= threshold {threshold} for op {op!r} "
                "(the healthy side is below the threshold)"
            )
        if op in ("<", "<=") and value < threshold:
            raise ValueError(
                f"resolve_threshold {value} must be >= threshold {threshold} for op {op!r} "
                "(the healthy side is above the threshold)"
            )
        return value

    @property
    def effective_resolve_threshold(self) -> float:
        """The threshold a firing alert must clear to count a window as healthy."""
        return self.threshold if self.resolve_threshold is None else self.resolve_threshold

    def value(self, window: MetricWindow) -> float | None:
        """Read this rule's metric from *window*; ``None`` means "no data".

        A metric absent from ``window.metrics``, a stats entry with ``count == 0`` (its
        statistics are placeholders, not observations) or a ``None`` top-level field all
        count as no data.

        Examples
        --------
        >>> from schemas import MetricStats, MetricWindow, Severity
        >>> stats = MetricStats(count=3, mean=80, min=70, max=90, p50=80, p95=89, p99=90)
        >>> w = MetricWindow(entity_type="provider", entity_id="p1", window_start_ms=10**12,
        ...                  window_end_ms=10**12 + 60_000, count=3,
        ...                  metrics={"gpu_temp_c": stats})
        >>> ThresholdRule(name="T", metric="gpu_temp_c.p95", op=">", threshold=85,
        ...               severity=Severity.WARNING).value(w)
        89.0
        >>> ThresholdRule(name="E", metric="error_rate", op=">", threshold=0.1,
        ...               severity=Severity.WARNING).value(w) is None
        True
        """
        value = _read(window, self.metric)
        if value is None or self.minus is None:
            return value
        other = _read(window, self.minus)
        return None if other is None else value - other

    def changed(
        self, history: Sequence[Sequence[float]], end_ms: int, value: float | None
    ) -> tuple[tuple[tuple[int, float], ...], float | None]:
        """The ``change_over`` value at ``end_ms`` and the entity's history after it.

        *history* is ``(window end, value)`` of the entity's earlier windows (kept in its
        alert state); the result keeps those the next windows can still compare with.
        Rules without ``change_over`` return *value* and an empty history.

        Examples
        --------
        >>> rule = ThresholdRule(name="PriceUp", metric="cost_accrued_usd.mean", op=">",
        ...                      threshold=1.5, change_over="2m", change="ratio",
        ...                      severity="info")
        >>> history, out = (), []
        >>> for minute, cost in enumerate([1.0, 1.0, 1.0, 3.0, 3.0, 3.0]):
        ...     history, value = rule.changed(history, (minute + 1) * 60_000, cost)
        ...     out.append(value)
        >>> out  # no window two minutes back at first; then now / then
        [None, None, 1.0, 3.0, 3.0, 1.0]
        """
        if self.change_over_ms is None:
            return (), value
        over = self.change_over_ms
        kept = tuple(
            (int(end), float(v)) for end, v in history if end_ms - 2 * over <= end < end_ms
        )
        before = [v for end, v in kept if end <= end_ms - over]
        changed: float | None = None
        if value is not None and before:
            then = before[-1]
            if self.change == "delta":
                changed = value - then
            elif then != 0:
                changed = value / then
        if value is not None:
            kept = (*kept, (end_ms, value))
        return kept, changed

    def is_breach(self, value: float) -> bool:
        """Whether *value* breaches the firing threshold (``value <op> threshold``)."""
        return _OPS[self.op](value, self.threshold)

    def is_healthy(self, value: float) -> bool:
        """Whether *value* counts towards resolving: ``not (value <op> resolve_threshold)``.

        Defined as the negation of the breach test so that, without hysteresis, every
        window is exactly one of breaching or healthy.
        """
        return not _OPS[self.op](value, self.effective_resolve_threshold)

    @property
    def display_threshold(self) -> float:
        """``{threshold}`` in annotations is the firing threshold."""
        return self.threshold


def _read(window: MetricWindow, path: str) -> float | None:
    """The value of a metric path in *window* (see :meth:`ThresholdRule.value`)."""
    if "." not in path:
        top: float | int | None = getattr(window, path)
        return None if top is None else float(top)
    name, stat = path.rsplit(".", 1)
    stats = window.metrics.get(name)
    if stats is None or (stats.count == 0 and stat != "count"):
        return None
    return float(getattr(stats, stat))


#: Every rule kind, by the ``kind`` field of a rules file (default ``threshold``).
RULE_KINDS: Final[dict[str, type[RuleBase]]] = {
    "threshold": ThresholdRule,
    "anomaly": AnomalyRule,
    "burn_rate": BurnRateRule,
    "budget": BudgetRule,
    "absent": AbsenceRule,
}

Rule = ThresholdRule | AnomalyRule | BurnRateRule | BudgetRule | AbsenceRule
