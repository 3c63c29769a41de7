"""The shared alert lifecycle (for, keep_firing_for, flapping) and the new rule kinds."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.durations import format_duration, parse_duration_ms
from alerts.lifecycle import AlertState, Observation, Phase, advance
from alerts.rule_base import RuleBase
from alerts.rule_files import load_rules, parse_rules
from alerts.rules import RuleError
from alerts.signal_rules import AnomalyRule, BudgetRule, BurnRateRule
from schemas import AlertStatus

MIN = 60_000


def obs(i: int, breach: bool, healthy: bool | None = None) -> Observation:
    return Observation(
        i * MIN,
        (i + 1) * MIN,
        1.0 if breach else 0.0,
        breach,
        (not breach if healthy is None else healthy),
    )


def run(rule: RuleBase, conditions: list[bool]) -> list[tuple[int, AlertStatus]]:
    state, out = AlertState(), []
    for i, breach in enumerate(conditions):
        state, status = advance(rule, state, obs(i, breach))
        if status is not None:
            out.append((i, status))
    return out


rules_strategy = st.builds(
    lambda for_min, keep_min, windows, flap: RuleBase(
        name="R",
        severity="warning",
        for_ms=for_min * MIN,
        keep_firing_for_ms=keep_min * MIN,
        for_windows=windows,
        flap=(
            {"max_firings": flap, "within_ms": 30 * MIN, "stable_for_ms": 10 * MIN}
            if flap
            else None
        ),
    ),
    st.integers(0, 5),
    st.integers(0, 5),
    st.integers(1, 4),
    st.sampled_from([0, 2, 3]),
)


@settings(max_examples=150, deadline=None)
@given(rule=rules_strategy, conditions=st.lists(st.booleans(), max_size=60))
def test_property_no_firing_before_for_elapsed(rule: RuleBase, conditions: list[bool]) -> None:
    for i, status in run(rule, conditions):
        if status is AlertStatus.FIRING:
            streak = 0
            for b in reversed(conditions[: i + 1]):
                if not b:
                    break
                streak += 1
            assert streak >= rule.for_windows
            assert streak * MIN >= rule.for_ms


@settings(max_examples=150, deadline=None)
@given(rule=rules_strategy, conditions=st.lists(st.booleans(), max_size=60))
def test_property_firing_and_resolved_alternate(rule: RuleBase, conditions: list[bool]) -> None:
    statuses = [s for _, s in run(rule, conditions)]
    # One fingerprint never fires twice without a resolution in between.
    assert all(a is not b for a, b in pairwise(statuses))
    assert not statuses or statuses[0] is AlertStatus.FIRING


@settings(max_examples=150, deadline=None)
@given(rule=rules_strategy, conditions=st.lists(st.booleans(), min_size=1, max_size=60))
def test_property_every_firing_resolves_once_the_condition_clears(
    rule: RuleBase, conditions: list[bool]
) -> None:
    # Healthy long enough for keep_firing_for, the flap stable period and resolve_windows.
    clear = [False] * 20
    statuses = [s for _, s in run(rule, conditions + clear)]
    assert not statuses or statuses[-1] is AlertStatus.RESOLVED


def test_for_duration_and_keep_firing_for() -> None:
    rule = RuleBase(name="R", severity="warning", **{"for": "3m", "keep_firing_for": "2m"})
    assert run(rule, [True, True, True, False, True, False]) == [(2, AlertStatus.FIRING)]
    assert run(rule, [True, True, True, False, False]) == [
        (2, AlertStatus.FIRING),
        (4, AlertStatus.RESOLVED),
    ]


def test_flapping_holds_the_alert_until_stable() -> None:
    rule = RuleBase(
        name="R",
        severity="warning",
        flap={"max_firings": 2, "within": "30m", "stable_for": "5m"},
    )
    # fire, resolve, fire again (2nd firing within 30 min) -> the next clear enters
    # flapping: no resolve until 5 healthy minutes, the re-breach at 5 sends nothing.
    conditions = [True, False, True, False, True, False, False, False, False, False]
    state, trace = AlertState(), []
    for i, breach in enumerate(conditions):
        state, status = advance(rule, state, obs(i, breach))
        trace.append((state.phase.value[0], status and status.value))
    assert [s for s in trace if s[1]] == [
        ("f", "firing"),
        ("i", "resolved"),
        ("f", "firing"),
        ("i", "resolved"),
    ]
    assert trace[3] == ("f", None) and trace[5][0] == "f" and trace[3:9].count(("f", None)) == 6
    assert state.phase is Phase.INACTIVE


def test_durations() -> None:
    assert parse_duration_ms("1d6h") == 30 * 3_600_000
    assert format_duration(parse_duration_ms("6h30m")) == "6h30m"
    for bad in ("", "-5m", "5 m", "1y", True, -1):
        with pytest.raises(ValueError, match="duration"):
            parse_duration_ms(bad)


def test_anomaly_rule_hysteresis_and_quiet() -> None:
    rule = AnomalyRule(name="A", severity="warning", min_score=0.9, resolve_score=0.6)
    state, status = advance(rule, AlertState(), rule.observe(10**12, 0.95))
    assert status is AlertStatus.FIRING
    state, status = advance(rule, state, rule.observe(10**12 + 1, 0.7))
    assert status is None and state.phase is Phase.FIRING
    assert advance(rule, state, rule.quiet(10**12 + 2))[1] is AlertStatus.RESOLVED


def test_burn_rate_rows_have_distinct_fingerprints() -> None:
    rows = [
        BurnRateRule(
            name="SloBurn",
            severity="page",
            objective=0.99,
            factor=f,
            long_window=lw,
            short_window=sw,
        )
        for f, lw, sw in ((14.4, "1h", "5m"), (6, "6h", "30m"))
    ]
    assert rows[0].fingerprint("w1") != rows[1].fingerprint("w1")
    page = rows[0]
    assert page.observe(10**12, long_burn=15, short_burn=15).breach
    assert not page.observe(10**12, long_burn=15, short_burn=10).breach
    assert page.observe(10**12, long_burn=15, short_burn=10).healthy


def test_budget_rule_breach_and_hysteresis() -> None:
    rule = BudgetRule(name="B", severity="warning", warn_before="12h")
    assert rule.observe(10**12, 11.9).breach and not rule.observe(10**12, 12.1).breach
    assert not rule.observe(10**12, 17).healthy and rule.observe(10**12, 19).healthy
    assert rule.observe(10**12, float("inf")).value == 1e9


@pytest.mark.parametrize(
    ("raw", "field", "fragment"),
    [
        ({"kind": "nope"}, "kind", "is not one of"),
        ({"kind": "anomaly", "min_score": 2}, "min_score", "less than or equal"),
        ({"kind": "anomaly", "min_score": 0.5, "resolve_score": 0.8}, "<rule>", "resolve_score"),
        (
            {
                "kind": "burn_rate",
                "objective": 0.99,
                "factor": 1,
                "long_window": "1h",
                "short_window": "1h",
            },
            "<rule>",
            "shorter",
        ),
        (
            {
                "kind": "burn_rate",
                "objective": 1.5,
                "factor": 1,
                "long_window": "1h",
                "short_window": "5m",
            },
            "objective",
            "less than 1",
        ),
        ({"kind": "budget", "warn_before": "soon"}, "warn_before", "duration"),
        ({"kind": "budget", "warn_before": 12}, "warn_before", "needs a unit"),
        ({"kind": "anomaly", "min_score": 0.5, "for": "5 minutes"}, "for", "duration"),
        (
            {
                "kind": "anomaly",
                "min_score": 0.5,
                "flap": {"max_firings": 1, "within": "1h", "stable_for": "5m"},
            },
            "flap.max_firings",
            "greater than or equal",
        ),
    ],
)
def test_new_kinds_validation_names_rule_and_field(
    raw: dict[str, object], field: str, fragment: str
) -> None:
    with pytest.raises(RuleError) as err:
        parse_rules({"rules": [{"name": "Bad", "severity": "warning", **raw}]}, source="x.yaml")
    assert err.value.field == field
    assert str(err.value).startswith("x.yaml: rules[0] (Bad): ")
    assert fragment in str(err.value)


def test_mixed_rules_file(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(
        "rules:\n"
        "  - {name: Hot, metric: gpu_temp_c.p95, op: '>', threshold: 85, severity: warning,"
        " for: 2m, keep_firing_for: 5m}\n"
        "  - {name: Odd, kind: anomaly, min_score: 0.9, severity: warning}\n"
        "  - {name: Burn, kind: burn_rate, objective: 0.99, factor: 14.4, long_window: 1h,"
        " short_window: 5m, severity: page, min_events: 20}\n"
        "  - {name: Spend, kind: budget, warn_before: 12h, severity: warning}\n"
    )
    rules = load_rules(path)
    assert [r.kind for r in rules] == ["threshold", "anomaly", "burn_rate", "budget"]
    assert rules[0].for_ms == 120_000 and rules[0].keep_firing_for_ms == 300_000
