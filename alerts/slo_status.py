"""The SLO status records an entity's burn-rate trackers give after a window.

:func:`alerts.burn_windows.observe_burn_window` turns an entity's state into a new one;
:func:`slo_statuses` reads, for every SLO whose tracker that window changed, what an
operator wants to know: compliance and error budget over the SLO period (the longest
window of its rules, rolling), and the burn rate over every window of its rules, as
the rules see them (same guards). SLOs whose tracker the window left alone (a replay, a
window without the SLI's metric) give nothing, so a status is published only on change.

Examples
--------
>>> from alerts.burn_windows import observe_burn_window
>>> from alerts.sla import burn_rate_rules
>>> from schemas import MetricStats
>>> rules = burn_rate_rules("Tput", 0.99, sli="throughput", target=100)
>>> def window(i, mean):
...     s = MetricStats(count=1, mean=mean, min=mean, max=mean, p50=mean, p95=mean, p99=mean)
...     start = 10**12 + i * 60_000
...     return MetricWindow(entity_type="workload", entity_id="w1", window_start_ms=start,
...                         window_end_ms=start + 60_000, count=1, metrics={"throughput": s})
>>> state = None
>>> for i in range(30):  # 20 good minutes, then 10 bad ones
...     before = state
...     state, _ = observe_burn_window(rules, state, window(i, 50 if i >= 20 else 120))
>>> [status] = slo_statuses(rules, before, state, window(29, 50))
>>> status.good_events, status.total_events, round(status.compliance, 4)
(20, 30, 0.6667)
>>> round(status.error_budget_remaining, 2), status.burn_rate, status.burn_rates["5m"]
(-32.33, 16.666667, 100.0)
>>> slo_statuses(rules, state, state, window(29, 50))  # nothing changed
[]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from alerts.burn_buckets import BurnBuckets
from alerts.burn_windows import load_tracker, slo_groups, slo_key
from alerts.durations import format_duration
from alerts.signal_rules import BurnRateRule
from alerts.sla import error_budget
from schemas import MetricWindow, SloStatus

__all__ = ["slo_status", "slo_statuses"]


def slo_status(
    group: Sequence[BurnRateRule], tracker: BurnBuckets, window: MetricWindow
) -> SloStatus:
    """The status of one SLO (its rules and tracker) at the end of *window*."""
    head = group[0]
    now_ms = window.window_end_ms
    period_ms = max(r.long_window_ms for r in group)
    good, total = tracker.counts(period_ms, now_ms)
    budget = error_budget(good, total, head.objective)
    windows_ms = sorted({w for r in group for w in (r.long_window_ms, r.short_window_ms)})
    # Rounded: the figures are for people and the compacted topic, not for more arithmetic.
    rates = {format_duration(w): round(tracker.burn_rate(w, now_ms), 6) for w in windows_ms}
    headline_ms = min(r.long_window_ms for r in group)
    return SloStatus(
        entity_type=window.entity_type,
        entity_id=window.entity_id,
        slo_key=slo_key(head),
        name=head.name,
        objective=head.objective,
        sli=head.sli,
        target=head.target,
        period_ms=period_ms,
        good_events=good,
        total_events=total,
        min_events=head.min_events,
        compliance=budget.compliance,
        error_budget_remaining=budget.budget_remaining,
        burn_rates=rates,
        burn_rate=rates[format_duration(headline_ms)],
        window_end_ms=now_ms,
    )


def slo_statuses(
    rules: Sequence[BurnRateRule],
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    window: MetricWindow,
) -> list[SloStatus]:
    """Statuses of the SLOs whose tracker changed from *before* to *after* with *window*.

    *before* and *after* are an entity's states around
    :func:`alerts.burn_windows.observe_burn_window` of *window*.
    """
    if after is None or after is before:
        return []
    old = (before or {}).get("s", {})
    new = after.get("s", {})
    size_ms = window.window_end_ms - window.window_start_ms
    applicable = [r for r in rules if r.entity_type == window.entity_type]
    statuses = []
    for key, group in slo_groups(applicable).items():
        state = new.get(key)
        if state is None or state == old.get(key):
            continue
        statuses.append(slo_status(group, load_tracker(group, state, size_ms), window))
    return statuses
