"""SLA figures from the first minute (issue 18): partial windows and the low-traffic guard.

A workload's first window is cut by its start and its last by its end; neither is
downtime. Compliance and error budget of a handful of events are "not enough data" until
the rules' low-traffic guard (``min_events``) says there is, and the burn-rate pages are
guarded the same way. Rules: the shipped availability SLO (``alerts/rules/``: objective
0.99, the SRE table, ``min_events: 20``).
"""

from __future__ import annotations

from typing import Any

import pytest

from alerts.burn_windows import observe_burn_window
from alerts.rule_files import load_rules
from alerts.rules import DEFAULT_RULES_PATH
from alerts.signal_rules import BurnRateRule
from alerts.sla import burn_rate_rules
from alerts.slo_status import slo_statuses
from api.service_levels import sla_statuses
from schemas import MetricStats, MetricWindow, SloStatus

T0 = 1_700_000_000_000
MIN = 60_000
SHIPPED = [r for r in load_rules(DEFAULT_RULES_PATH.parent) if isinstance(r, BurnRateRule)]


def window(i: int, availability: float, *, throughput: float = 120.0) -> MetricWindow:
    t = throughput
    count = max(1, round(6 * availability)) if availability > 0 else 0
    return MetricWindow(
        entity_type="workload",
        entity_id="w1",
        window_start_ms=T0 + i * MIN,
        window_end_ms=T0 + (i + 1) * MIN,
        count=count,
        metrics={"throughput": MetricStats(count=count, mean=t, min=t, max=t, p50=t, p95=t, p99=t)},
        availability=availability,
    )


def run(
    rules: list[BurnRateRule], windows: list[MetricWindow]
) -> tuple[dict[str, Any] | None, list[SloStatus], list[str]]:
    """Feed *windows*; the final state, every status published and every breaching rule."""
    state: dict[str, Any] | None = None
    statuses: list[SloStatus] = []
    breaches: list[str] = []
    for w in windows:
        before = state
        state, observed = observe_burn_window(rules, state, w)
        statuses += slo_statuses(rules, before, state, w)
        breaches += [f"{r.name}/{r.factor:g}x" for r, obs in observed if obs.breach]
    return state, statuses, breaches


def test_the_shipped_rules_have_a_low_traffic_guard() -> None:
    assert SHIPPED and {r.min_events for r in SHIPPED} == {20}


def test_a_fresh_workload_with_one_partial_window_shows_no_breach_and_pages_nothing() -> None:
    _, [status], breaches = run(SHIPPED, [window(0, 0.5)])
    assert (status.good_events, status.total_events, status.min_events) == (1, 1, 20)
    assert (status.compliance, status.error_budget_remaining) == (1.0, 1.0)
    assert not status.enough_data
    assert breaches == []
    [row] = sla_statuses([status.model_dump(mode="json")], {})
    assert (row.enough_data, row.in_breach, row.total_events) == (False, False, 1)


def test_four_minutes_of_make_run_read_clean_not_minus_24() -> None:
    """The issue's figures: first window partial, three whole ones (was 0.75 and -24)."""
    _, statuses, breaches = run(SHIPPED, [window(0, 0.34)] + [window(i, 1.0) for i in (1, 2, 3)])
    last = statuses[-1]
    assert (last.good_events, last.total_events) == (4, 4)
    assert (last.compliance, last.error_budget_remaining, last.enough_data) == (1.0, 1.0, False)
    assert breaches == []


def test_a_partial_last_window_is_never_counted() -> None:
    """The workload ended inside its last window: no status, nothing counted against it."""
    whole = [window(i, 1.0) for i in range(30)]
    state, statuses, _ = run(SHIPPED, [*whole, window(30, 0.5)])
    assert len(statuses) == 30  # the partial window published nothing
    assert statuses[-1].total_events == statuses[-1].good_events == 30
    assert statuses[-1].enough_data and statuses[-1].compliance == 1.0
    assert state is not None and state["p"] == T0 + 31 * MIN  # held until the next window


@pytest.mark.parametrize("gap", [0, 2], ids=["next window", "after two missing ones"])
def test_a_partial_window_the_workload_went_on_after_is_downtime(gap: int) -> None:
    whole = [window(i, 1.0) for i in range(30)]
    _, statuses, _ = run(SHIPPED, [*whole, window(30, 0.5), window(31 + gap, 1.0)])
    last = statuses[-1]
    # The partial window and the missing ones are bad, the new window good.
    assert (last.good_events, last.total_events) == (31, 32 + gap)
    assert last.error_budget_remaining == pytest.approx(1 - (1 + gap) / (0.01 * (32 + gap)))


def test_enough_data_from_min_events_on() -> None:
    _, statuses, _ = run(SHIPPED, [window(i, 1.0) for i in range(21)])
    assert [s.enough_data for s in statuses[18:]] == [False, True, True]


def test_a_bad_window_of_a_young_workload_is_not_a_breach_nor_a_page() -> None:
    """One whole bad window among a few: budget overspent on paper, not enough data."""
    windows = [window(0, 1.0), window(1, 1.0), window(2, 0.0), window(3, 1.0)]
    _, statuses, breaches = run(SHIPPED, windows)
    last = statuses[-1]
    assert (last.good_events, last.total_events) == (3, 4)
    assert last.error_budget_remaining < 0 and not last.enough_data
    assert breaches == []
    old = window(0, 1.0).model_copy(update={"entity_id": "w-old"})
    aged = last.model_copy(update={"entity_id": "w-old", "total_events": 400, "good_events": 390})
    rows = sla_statuses([last.model_dump(mode="json"), aged.model_dump(mode="json")], {})
    assert [(r.entity_id, r.in_breach) for r in rows] == [("w-old", True), ("w1", False)]
    assert old.entity_id == "w-old"


def test_throughput_slos_measure_partial_windows() -> None:
    """A partial window's throughput is a measurement of the time the workload ran."""
    rules = burn_rate_rules("Tput", 0.99, sli="throughput", target=100)
    _, statuses, _ = run(rules, [window(0, 1.0), window(1, 0.5, throughput=50.0)])
    assert (statuses[-1].good_events, statuses[-1].total_events) == (1, 2)
