"""Inhibition, silences and grouping: the path from a transition to an operator."""

from __future__ import annotations

from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.grouping import Grouper
from alerts.inhibition import DEFAULT_INHIBIT_RULES, Dispatcher
from alerts.silences import Silence
from schemas import Alert, AlertStatus, alert_fingerprint

T0 = 1_700_000_000_000

# (alertname, severity, entity_type, entity_id, provider_id of a workload)
CATALOG = [
    ("ProviderDown", "critical", "provider", "p1", None),
    ("GpuHot", "warning", "provider", "p1", None),
    ("GpuHot", "warning", "provider", "p2", None),
    ("Errors", "critical", "provider", "p2", None),
    ("SloBurn", "page", "workload", "w1", "p1"),
    ("Slow", "warning", "workload", "w1", "p1"),
    ("Slow", "warning", "workload", "w2", "p2"),
]


def make(i: int, status: AlertStatus) -> Alert:
    name, severity, etype, eid, provider = CATALOG[i]
    labels = {"alertname": name, "severity": severity, "entity_type": etype, "entity_id": eid}
    if provider:
        labels["provider_id"] = provider
    return Alert(
        fingerprint=alert_fingerprint(labels),
        status=status,
        labels=labels,
        starts_at_ms=T0,
        ends_at_ms=T0 + 1 if status is AlertStatus.RESOLVED else None,
        severity=severity,
    )


def inhibited(alert: Alert, firing: dict[str, Alert]) -> bool:
    """Oracle: is *alert* inhibited by any of the currently firing alerts?"""
    return any(
        rule.inhibits(src.labels, alert.labels)
        for src in firing.values()
        if src.fingerprint != alert.fingerprint
        for rule in DEFAULT_INHIBIT_RULES
    )


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, len(CATALOG) - 1), max_size=40))
def test_property_inhibited_alerts_are_never_emitted(toggles: list[int]) -> None:
    dispatcher = Dispatcher()
    firing: dict[str, Alert] = {}  # what the rules say fires, the oracle's view
    emitted: list[Alert] = []
    # Each toggle flips one alert; at the end everything resolves.
    order = toggles + [i for i in range(len(CATALOG))]
    for step, i in enumerate(order):
        alert = make(i, AlertStatus.FIRING)
        if alert.fingerprint in firing:
            alert = make(i, AlertStatus.RESOLVED)
            del firing[alert.fingerprint]
        elif step >= len(toggles):
            continue  # final sweep only resolves
        else:
            firing[alert.fingerprint] = alert
        out = dispatcher.process(alert, T0 + step)
        for a in out:
            if a.status is AlertStatus.FIRING:
                assert a.fingerprint in firing
                assert not inhibited(a, firing), a.labels
        emitted.extend(out)
    by_fp: dict[str, list[AlertStatus]] = {}
    for a in emitted:
        by_fp.setdefault(a.fingerprint, []).append(a.status)
    for statuses in by_fp.values():
        assert statuses[0] is AlertStatus.FIRING
        assert all(a is not b for a, b in pairwise(statuses))  # no duplicate firing
        assert statuses[-1] is AlertStatus.RESOLVED  # everything told to fire was resolved
    assert dispatcher.held == []


def test_provider_outage_inhibits_its_workloads_only() -> None:
    d = Dispatcher()
    assert d.process(make(0, AlertStatus.FIRING), T0) == [make(0, AlertStatus.FIRING)]
    assert d.process(make(4, AlertStatus.FIRING), T0) == []  # w1 runs on p1
    assert d.process(make(6, AlertStatus.FIRING), T0) == [make(6, AlertStatus.FIRING)]  # w2/p2
    # w1's page resolves while still inhibited: nobody was told, nobody is told.
    assert d.process(make(4, AlertStatus.RESOLVED), T0 + 1) == []


def test_silence_holds_until_expiry_and_then_releases() -> None:
    silence = Silence(matchers={"entity_id": "p2"}, starts_at_ms=T0, ends_at_ms=T0 + 600_000)
    d = Dispatcher(silences=[silence])
    hot = make(2, AlertStatus.FIRING)
    assert d.process(hot, T0 + 1) == []
    assert d.tick(T0 + 599_999) == []
    assert d.tick(T0 + 600_000) == [hot]
    assert d.silences == []
    assert d.process(make(2, AlertStatus.RESOLVED), T0 + 700_000) == [make(2, AlertStatus.RESOLVED)]


def test_grouping_wait_interval_repeat() -> None:
    g = Grouper(
        group_by=("alertname",),
        group_wait_ms=30_000,
        group_interval_ms=300_000,
        repeat_interval_ms=3_600_000,
    )
    g.add(make(1, AlertStatus.FIRING), T0)  # GpuHot p1
    g.add(make(2, AlertStatus.FIRING), T0 + 5_000)  # GpuHot p2, same group
    g.add(make(5, AlertStatus.FIRING), T0 + 5_000)  # Slow w1, another group
    assert g.flush(T0 + 29_999) == []
    first = g.flush(T0 + 35_000)
    assert sorted((n.group_key[0][1], n.firing) for n in first) == [("GpuHot", 2), ("Slow", 1)]
    g.add(make(1, AlertStatus.RESOLVED), T0 + 60_000)
    assert g.flush(T0 + 300_000) == []  # changed, but group_interval not over
    second = g.flush(T0 + 335_000)
    assert [(n.group_key[0][1], len(n.alerts), n.firing) for n in second] == [("GpuHot", 2, 1)]
    assert g.flush(T0 + 35_000 + 3_599_999) == []
    repeat = g.flush(T0 + 35_000 + 3_600_000)  # Slow unchanged: repeated
    assert [n.group_key[0][1] for n in repeat] == ["Slow"]
    # the same firing transition twice is not a change
    g.add(make(5, AlertStatus.FIRING), T0 + 3_700_000)
    assert g.flush(T0 + 3_900_000) == []


def test_release_delay_keeps_the_tail_of_an_outage_quiet() -> None:
    d = Dispatcher(release_delay_ms=600_000)
    d.process(make(0, AlertStatus.FIRING), T0)  # provider p1 down
    assert d.process(make(4, AlertStatus.FIRING), T0 + 60_000) == []  # its workload pages
    assert d.process(make(0, AlertStatus.RESOLVED), T0 + 120_000) == [make(0, AlertStatus.RESOLVED)]
    assert d.tick(T0 + 120_000 + 599_999) == []  # not suppressed any more, but too soon
    assert d.process(make(4, AlertStatus.RESOLVED), T0 + 500_000) == []  # never told
    # a workload alert that outlives the delay is released
    d.process(make(0, AlertStatus.FIRING), T0 + 10**6)
    d.process(make(5, AlertStatus.FIRING), T0 + 10**6)
    d.process(make(0, AlertStatus.RESOLVED), T0 + 10**6 + 1)
    assert d.tick(T0 + 10**6 + 1 + 600_000) == [make(5, AlertStatus.FIRING)]
