"""SLOs, error budgets and multi-window, multi-burn-rate alerting (SRE workbook, ch. 5).

An SLO counts *events* (here: closed metric windows of a workload or tenant, plus windows
that should exist but do not, e.g. during an outage) as good or bad:

- ``availability``: the window exists and its ``availability`` (when reported) is ≥ 0.999;
- ``throughput``: mean ``throughput`` ≥ target;
- ``latency_p95``: p95 ``latency_ms`` ≤ target.

The burn rate over a window is the bad fraction divided by the error budget
``1 - objective``: burning at 1x spends exactly the budget over the SLO period. The
workbook's table (:data:`SRE_BURN_RATE_TABLE`) pages at 14.4x over 1 h *and* 5 min, and at
6x over 6 h and 30 min, and opens a ticket at 1x over 3 d and 6 h.

Low-traffic guard: rates divide by ``max(total, min_events)``, so an entity serving three
jobs in an hour does not page on one failure (1/20 instead of 1/3 with ``min_events=20``),
while the 3-day window still accumulates enough events to open a ticket on a slow burn.

History guard: a window longer than the history seen so far (a new workload, a restarted
tracker) counts the unseen part as good at the observed rate — no history is no evidence
of burning — so a workload two hours old does not open a 3-day ticket on a two-minute
blip, and every row fires exactly when the table predicts (:func:`predicted_detection_ms`).

Examples
--------
>>> tracker = BurnRateTracker(objective=0.99, windows_ms=(3_600_000, 300_000))
>>> for minute in range(60):
...     tracker.observe(minute * 60_000, good=0 if minute >= 50 else 1, total=1)
>>> now = 59 * 60_000
>>> round(tracker.burn_rate(3_600_000, now), 1), round(tracker.burn_rate(300_000, now), 1)
(16.7, 100.0)
>>> error_budget(good=995, total=1000, objective=0.99)
ErrorBudget(compliance=0.995, budget_remaining=0.5)
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Final, NamedTuple

from alerts.lifecycle import Observation
from alerts.signal_rules import BurnRateRule, SliKind
from schemas import MetricWindow, Severity

__all__ = [
    "SRE_BURN_RATE_TABLE",
    "BurnCounter",
    "BurnRateTracker",
    "ErrorBudget",
    "burn_observation",
    "burn_rate_rules",
    "error_budget",
    "predicted_detection_ms",
    "window_is_good",
]

_H: Final[int] = 3_600_000

#: (factor, long window ms, short window ms, severity) — the SRE workbook's table.
SRE_BURN_RATE_TABLE: Final[tuple[tuple[float, int, int, Severity], ...]] = (
    (14.4, _H, 5 * 60_000, Severity.PAGE),
    (6.0, 6 * _H, 30 * 60_000, Severity.PAGE),
    (1.0, 72 * _H, 6 * _H, Severity.TICKET),
)


class ErrorBudget(NamedTuple):
    """Compliance (good / total) and the fraction of the error budget left (may be < 0)."""

    compliance: float
    budget_remaining: float


def error_budget(good: int, total: int, objective: float) -> ErrorBudget:
    """Compliance and remaining error budget of *good* out of *total* events.

    Examples
    --------
    >>> error_budget(good=0, total=0, objective=0.999)
    ErrorBudget(compliance=1.0, budget_remaining=1.0)
    >>> error_budget(good=97, total=100, objective=0.99).budget_remaining
    -2.0
    """
    if not 0 < objective < 1:
        raise ValueError(f"objective must be in (0, 1), got {objective}")
    if total <= 0:
        return ErrorBudget(1.0, 1.0)
    bad = total - good
    allowed = (1 - objective) * total
    return ErrorBudget(good / total, round(1 - bad / allowed, 12))


def window_is_good(sli: SliKind, target: float | None, window: MetricWindow) -> bool | None:
    """Whether *window* is a good event for the SLI; ``None`` when it has no such data.

    Examples
    --------
    >>> from schemas import MetricStats
    >>> s = MetricStats(count=6, mean=900, min=800, max=1000, p50=900, p95=990, p99=1000)
    >>> w = MetricWindow(entity_type="workload", entity_id="w1", window_start_ms=10**12,
    ...                  window_end_ms=10**12 + 60_000, count=6, metrics={"throughput": s})
    >>> window_is_good("throughput", 1000, w), window_is_good("latency_p95", 100, w)
    (False, None)
    >>> window_is_good("availability", None, w)
    True
    """
    if sli == "availability":
        return window.count > 0 and (window.availability is None or window.availability >= 0.999)
    assert target is not None  # BurnRateRule validation requires it for these SLIs
    if sli == "throughput":
        stats = window.metrics.get("throughput")
        return None if stats is None or stats.count == 0 else stats.mean >= target
    stats = window.metrics.get("latency_ms")
    return None if stats is None or stats.count == 0 else stats.p95 <= target


class BurnCounter:
    """What every burn-rate tracker shares: totals, the start of its history, and burn
    rates with both guards of the module docstring, from the ``counts`` a subclass keeps.

    Low traffic: the denominator is at least ``min_events``. Short history: seen since
    ``first_ts_ms`` (plus one ``bucket_ms``), the unseen part of the window counts at the
    observed rate.

    Examples
    --------
    >>> t = BurnRateTracker(objective=0.99, windows_ms=(3_600_000,), min_events=20)
    >>> t.observe(0, good=0, total=1)
    >>> round(t.burn_rate(3_600_000, 3_600_000 - 1), 2)  # 1/20 of a 1 % budget
    5.0
    >>> round(t.burn_rate(3_600_000, 0), 2)  # a minute seen: 1/60 of it
    1.67
    """

    def __init__(self, objective: float, min_events: int = 0, bucket_ms: int = 60_000) -> None:
        if not 0 < objective < 1:
            raise ValueError(f"objective must be in (0, 1), got {objective}")
        self.objective = objective
        self.min_events = min_events
        self.bucket_ms = bucket_ms
        self.good_total = 0
        self.total = 0
        self.first_ts_ms: int | None = None

    def _count(self, ts_ms: int, good: int, total: int) -> None:
        """Check and add one observation to the totals (subclasses add it to windows)."""
        if not 0 <= good <= total:
            raise ValueError(f"need 0 <= good <= total, got {good}, {total}")
        self.good_total += good
        self.total += total
        if self.first_ts_ms is None:
            self.first_ts_ms = ts_ms

    def counts(self, window_ms: int, now_ms: int) -> tuple[int, int]:
        """(good, total) over ``(now_ms - window_ms, now_ms]``."""
        raise NotImplementedError

    def burn_rate(self, window_ms: int, now_ms: int) -> float:
        """Bad fraction over the window (guarded denominator) divided by the budget."""
        good, total = self.counts(window_ms, now_ms)
        seen_ms = now_ms - (now_ms if self.first_ts_ms is None else self.first_ts_ms)
        seen_ms += self.bucket_ms
        scaled = total * window_ms / seen_ms if seen_ms < window_ms else total
        denominator = max(scaled, self.min_events)
        if denominator == 0:
            return 0.0
        return (total - good) / denominator / (1 - self.objective)

    def budget(self) -> ErrorBudget:
        """Compliance and budget remaining over everything observed."""
        return error_budget(self.good_total, self.total, self.objective)


class BurnRateTracker(BurnCounter):
    """Sliding good/total counts over several windows, O(1) per observation.

    Parameters
    ----------
    objective : float
        SLO target in (0, 1).
    windows_ms : iterable of int
        The windows to keep sums for (every long and short window of the rules).
    min_events : int
        Low-traffic guard: the denominator is at least this.
    bucket_ms : int
        Span one observation covers (the history guard's unit).
    """

    def __init__(
        self,
        objective: float,
        windows_ms: Iterable[int],
        min_events: int = 0,
        bucket_ms: int = 60_000,
    ) -> None:
        super().__init__(objective, min_events, bucket_ms)
        self._events: dict[int, deque[tuple[int, int, int]]] = {w: deque() for w in windows_ms}
        self._sums: dict[int, list[int]] = {w: [0, 0] for w in self._events}

    def observe(self, ts_ms: int, good: int, total: int) -> None:
        """Add *good* of *total* events at ``ts_ms`` (non-decreasing times)."""
        self._count(ts_ms, good, total)
        for window, events in self._events.items():
            events.append((ts_ms, good, total))
            sums = self._sums[window]
            sums[0] += good
            sums[1] += total
            self._evict(window, ts_ms)

    def _evict(self, window: int, now_ms: int) -> None:
        events, sums = self._events[window], self._sums[window]
        while events and events[0][0] <= now_ms - window:
            _, good, total = events.popleft()
            sums[0] -= good
            sums[1] -= total

    def counts(self, window_ms: int, now_ms: int) -> tuple[int, int]:
        """(good, total) over ``(now_ms - window_ms, now_ms]``."""
        self._evict(window_ms, now_ms)
        good, total = self._sums[window_ms]
        return good, total


def burn_rate_rules(
    name: str,
    objective: float,
    *,
    sli: SliKind = "availability",
    target: float | None = None,
    min_events: int = 0,
    entity_type: str = "workload",
) -> list[BurnRateRule]:
    """The three rules of :data:`SRE_BURN_RATE_TABLE` for one SLO.

    Examples
    --------
    >>> [(r.factor, r.severity.value, r.alert_labels("w")["slo_window"])
    ...  for r in burn_rate_rules("CheckoutSlo", 0.99)]
    [(14.4, 'page', '1h'), (6.0, 'page', '6h'), (1.0, 'ticket', '3d')]
    """
    return [
        BurnRateRule.model_validate(
            {
                "name": name,
                "severity": severity,
                "entity_type": entity_type,
                "objective": objective,
                "sli": sli,
                "target": target,
                "factor": factor,
                "long_window": long_ms,
                "short_window": short_ms,
                "min_events": min_events,
                "annotations": {
                    "summary": f"{{entity_id}} burns its {name} error budget at "
                    f"{{value:.1f}}x (>= {{threshold:g}}x)",
                },
            }
        )
        for factor, long_ms, short_ms, severity in SRE_BURN_RATE_TABLE
    ]


def predicted_detection_ms(
    factor: float, long_window_ms: int, objective: float, error_rate: float
) -> float | None:
    """When the SRE table says a row fires after a clean past turns to *error_rate*.

    The long window's burn rate grows as ``error_rate * t / long / (1 - objective)``
    and reaches *factor* at ``t = factor * (1 - objective) * long / error_rate``; the
    short window (shorter) is over the factor by then. ``None`` if it never fires.

    Examples
    --------
    >>> round(predicted_detection_ms(14.4, 3_600_000, 0.99, 1.0))  # full outage: 8.64 min
    518400
    >>> predicted_detection_ms(14.4, 3_600_000, 0.99, 0.1) is None  # burns at 10x only
    True
    """
    if error_rate <= 0 or error_rate / (1 - objective) < factor:
        return None
    return factor * (1 - objective) * long_window_ms / error_rate


def burn_observation(rule: BurnRateRule, tracker: BurnCounter, now_ms: int) -> Observation:
    """The observation *rule* makes of *tracker* at ``now_ms`` (feed it to the lifecycle).

    Examples
    --------
    >>> rule = burn_rate_rules("Slo", 0.99)[0]
    >>> t = BurnRateTracker(0.99, (rule.long_window_ms, rule.short_window_ms))
    >>> t.observe(10**12, good=0, total=1)
    >>> burn_observation(rule, t, 10**12).breach  # 1 bad minute of a clean-looking hour
    False
    >>> for minute in range(1, 10):
    ...     t.observe(10**12 + minute * 60_000, good=0, total=1)
    >>> burn_observation(rule, t, 10**12 + 9 * 60_000).breach  # 10 of 60: 16.7x
    True
    """
    return rule.observe(
        now_ms,
        long_burn=tracker.burn_rate(rule.long_window_ms, now_ms),
        short_burn=tracker.burn_rate(rule.short_window_ms, now_ms),
    )
