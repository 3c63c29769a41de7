"""Burn-rate rules on a stream of closed windows, with the entity's state as a small value.

One entity's state is ``{"end": last window end, "s": {slo key: BurnBuckets state}}``: one
:class:`alerts.burn_buckets.BurnBuckets` per SLO (rules with the same SLI, target,
objective and low-traffic guard share it; the rows of one SRE table are one SLO). Each
window is one event per SLO, good or bad by :func:`alerts.sla.window_is_good`; windows
that should have come between two windows of the entity but did not (an outage seen
from its end) are bad availability events. Windows ending at or before the last one are
replays: state unchanged, no observation.

Partial windows (some samples, availability below the SLI's bar) are judged on the time
the entity ran, which a window alone does not tell: the entity's *first* window is cut by
its start, so it counts as good (its samples are all it ran); a later partial window is
held (``"p"`` in the state) until the entity's next window shows it went on — then it
was downtime and counts as bad — so the partial *last* window of a workload that ended is
never counted against it. Only availability SLOs do this: a partial window's throughput
or latency is still a measurement of the time the entity ran.

Examples
--------
>>> from alerts.sla import burn_rate_rules
>>> from schemas import MetricStats
>>> rules = burn_rate_rules("Tput", 0.99, sli="throughput", target=100)
>>> def window(i, mean):
...     s = MetricStats(count=1, mean=mean, min=mean, max=mean, p50=mean, p95=mean, p99=mean)
...     start = 10**12 + i * 60_000
...     return MetricWindow(entity_type="workload", entity_id="w1", window_start_ms=start,
...                         window_end_ms=start + 60_000, count=1, metrics={"throughput": s})
>>> state, fired = None, []
>>> for i in range(30):
...     state, observed = observe_burn_window(rules, state, window(i, 50 if i >= 20 else 120))
...     fired += [(i, r.factor) for r, obs in observed if obs.breach]
>>> fired  # 14.4x over 1 h and 5 min from the 9th bad minute of 29 (15x)
[(28, 14.4), (29, 14.4)]
>>> observe_burn_window(rules, state, window(29, 50)) == (state, [])  # a replay
True

A workload's first window is cut by its start, a later one by its end:

>>> avail = burn_rate_rules("Avail", 0.99)
>>> def partial(i, availability):
...     return window(i, 120).model_copy(update={"availability": availability})
>>> state, _ = observe_burn_window(avail, None, partial(0, 0.5))
>>> state["s"]["availability|None|0.99|0"]["g"], state.get("p")  # good, nothing held
(1, None)
>>> state, _ = observe_burn_window(avail, state, partial(1, 0.5))
>>> state["s"]["availability|None|0.99|0"]["t"], state["p"] == partial(1, 0.5).window_end_ms
(1, True)
>>> state, _ = observe_burn_window(avail, state, partial(2, 1.0))  # it went on: downtime
>>> state["s"]["availability|None|0.99|0"]["g"], state["s"]["availability|None|0.99|0"]["t"]
(2, 3)
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from alerts.burn_buckets import BurnBuckets
from alerts.lifecycle import Observation
from alerts.signal_rules import BurnRateRule
from alerts.sla import burn_observation, window_is_good
from schemas import MetricWindow

__all__ = ["is_partial", "load_tracker", "observe_burn_window", "slo_groups", "slo_key"]


def slo_key(rule: BurnRateRule) -> str:
    """The SLO a rule reads (its tracker's key in the entity state).

    Examples
    --------
    >>> from alerts.sla import burn_rate_rules
    >>> {slo_key(r) for r in burn_rate_rules("A", 0.99, min_events=20)}
    {'availability|None|0.99|20'}
    """
    return f"{rule.sli}|{rule.target}|{rule.objective}|{rule.min_events}"


def slo_groups(rules: Sequence[BurnRateRule]) -> dict[str, list[BurnRateRule]]:
    """The rules by the SLO they read (:func:`slo_key`), in rule order.

    Examples
    --------
    >>> from alerts.sla import burn_rate_rules
    >>> {k: len(g) for k, g in slo_groups(burn_rate_rules("A", 0.99)).items()}
    {'availability|None|0.99|0': 3}
    """
    groups: dict[str, list[BurnRateRule]] = defaultdict(list)
    for rule in rules:
        groups[slo_key(rule)].append(rule)
    return dict(groups)


def load_tracker(
    group: Sequence[BurnRateRule], state: dict[str, Any] | None, bucket_ms: int
) -> BurnBuckets:
    """The tracker of one SLO (the rules of one :func:`slo_groups` entry) from its state.

    Examples
    --------
    >>> from alerts.sla import burn_rate_rules
    >>> load_tracker(burn_rate_rules("A", 0.99), None, 60_000).total
    0
    """
    head = group[0]
    windows_ms = {w for r in group for w in (r.long_window_ms, r.short_window_ms)}
    return BurnBuckets.from_state(
        state, head.objective, windows_ms, head.min_events, bucket_ms=bucket_ms
    )


def observe_burn_window(
    rules: Sequence[BurnRateRule], state: dict[str, Any] | None, window: MetricWindow
) -> tuple[dict[str, Any] | None, list[tuple[BurnRateRule, Observation]]]:
    """Count *window* into the entity's SLO trackers; each applicable rule's observation.

    Returns the new state (``state`` itself when nothing applies or on a replay) and
    ``(rule, observation)`` pairs for :func:`alerts.state.evaluate_burn`. The input state
    is not mutated.
    """
    applicable = [r for r in rules if r.entity_type == window.entity_type]
    last_end = (state or {}).get("end")
    if not applicable or (last_end is not None and window.window_end_ms <= last_end):
        return state, []
    size_ms = window.window_end_ms - window.window_start_ms
    longest_ms = max(r.long_window_ms for r in applicable)
    missing: range = range(0)
    if last_end is not None and window.window_start_ms > last_end:
        # Only the missing windows the longest window can still see.
        first = max(last_end + size_ms, window.window_start_ms - longest_ms + size_ms)
        missing = range(first, window.window_start_ms + 1, size_ms)
    stored = (state or {}).get("s", {})
    held: int | None = (state or {}).get("p")
    partial = is_partial(window)
    slos: dict[str, Any] = {}
    observed: list[tuple[BurnRateRule, Observation]] = []
    for key, group in slo_groups(applicable).items():
        head = group[0]
        tracker = load_tracker(group, stored.get(key), size_ms)
        if head.sli == "availability":
            if held is not None:  # the entity went on after its partial window: downtime
                tracker.observe(held, good=0, total=1)
            for end_ms in missing:
                tracker.observe(end_ms, good=0, total=1)
            if partial and last_end is None:  # cut by the entity's start: all it ran
                tracker.observe(window.window_end_ms, good=1, total=1)
            elif not partial:
                whole = window_is_good("availability", None, window)
                tracker.observe(window.window_end_ms, good=int(bool(whole)), total=1)
        else:
            good = window_is_good(head.sli, head.target, window)
            if good is not None:
                tracker.observe(window.window_end_ms, good=int(good), total=1)
        slos[key] = tracker.to_state()
        observed += [(r, burn_observation(r, tracker, window.window_end_ms)) for r in group]
    new: dict[str, Any] = {"end": window.window_end_ms, "s": slos}
    if partial and last_end is not None:
        new["p"] = window.window_end_ms
    return new, observed


def is_partial(window: MetricWindow) -> bool:
    """Whether *window* has samples but not all of them: cut by a start, an end or a gap.

    Examples
    --------
    >>> w = MetricWindow(entity_type="workload", entity_id="w1", window_start_ms=10**12,
    ...                  window_end_ms=10**12 + 60_000, count=3, metrics={}, availability=0.5)
    >>> is_partial(w), is_partial(w.model_copy(update={"availability": 1.0}))
    (True, False)
    """
    return window.count > 0 and window_is_good("availability", None, window) is False
