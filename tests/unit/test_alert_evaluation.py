"""The alert engine replayed on simulated incidents (the core of `evaluate alerts`)."""

from __future__ import annotations

from alerts.rule_files import load_rules
from alerts.rules import DEFAULT_RULES_PATH, ThresholdRule
from evaluation.alert_simulation import START_MS, simulate_run
from evaluation.alerts import evaluate_alerts, replay_alerts
from schemas import AlertStatus
from sim.incidents import Incident

MIN = 60_000


def run_with(incidents: list[Incident], hours: float = 3.0):  # type: ignore[no-untyped-def]
    return simulate_run(5, days=hours / 24, providers=3, workloads=3, incidents=incidents)


def transitions(emitted):  # type: ignore[no-untyped-def]
    return [
        (e.alert.labels["alertname"], e.alert.labels["entity_id"], e.alert.status.value)
        for e in emitted
        if e.alert.labels["entity_type"] != "tenant"
    ]


def test_outage_pages_once_and_inhibits_its_workloads() -> None:
    outage = Incident("provider_outage", "prov-001", START_MS + 90 * MIN, START_MS + 105 * MIN)
    run = run_with([outage])
    engine, _ = replay_alerts(run, load_rules(DEFAULT_RULES_PATH.parent))
    assert transitions(engine.emitted) == [
        ("ProviderDown", "prov-001", "firing"),
        ("ProviderDown", "prov-001", "resolved"),
    ]
    on_p1 = {w for w, p in run.workload_provider.items() if p == "prov-001"}
    assert on_p1
    raw_pages = {
        e.alert.labels["entity_id"]
        for e in engine.raw
        if e.alert.labels["alertname"] == "WorkloadAvailabilitySlo"
        and e.alert.status is AlertStatus.FIRING
    }
    # 15 min at 100 % errors burns > 14.4x over 1 h: the workloads did page, inhibited.
    assert raw_pages == on_p1
    down = next(e for e in engine.emitted if e.alert.labels["alertname"] == "ProviderDown")
    assert 2 * MIN <= down.at_ms - outage.start_ms <= 4 * MIN


def test_hysteresis_is_what_prevents_flapping() -> None:
    thermal = Incident("thermal_throttling", "prov-002", START_MS + 60 * MIN, START_MS + 75 * MIN)
    run = run_with([thermal], hours=2)
    rules = load_rules(DEFAULT_RULES_PATH)
    engine, _ = replay_alerts(run, rules)
    assert transitions(engine.emitted) == [
        ("GpuTemperatureHigh", "prov-002", "firing"),
        ("GpuTemperatureHigh", "prov-002", "resolved"),
    ]
    # The same rule without hysteresis and a threshold inside the noise flaps: the
    # figures can fail.
    rule = rules[0]
    assert isinstance(rule, ThresholdRule)
    noisy = rule.model_copy(update={"threshold": 62.0, "resolve_threshold": None, "for_windows": 1})
    engine, _ = replay_alerts(run, [noisy])
    fired = [t for t in transitions(engine.emitted) if t[2] == "firing"]
    assert len(fired) > 3


def test_figures_on_a_short_random_run() -> None:
    figures = evaluate_alerts(seed=1, days=0.25, providers=4, workloads=4)
    assert figures["incidents"] >= 1
    assert figures["incidents_alerted"] == figures["incidents"]
    assert figures["duplicate_alerts"] == 0
    assert figures["flaps"] == 0
    assert figures["alerts_without_incident"] == 0
    assert figures["budget_alert_lead_hours"] is None or figures["budget_alert_lead_hours"] >= 0
    assert figures["median_time_to_fire_s"] is not None and figures["median_time_to_fire_s"] > 0
    without_outage_rule = [
        r for r in load_rules(DEFAULT_RULES_PATH.parent) if r.name != "ProviderDown"
    ]
    weaker = evaluate_alerts(seed=1, days=0.25, providers=4, workloads=4, rules=without_outage_rule)
    outages = figures["incidents_by_kind"]["provider_outage"]["incidents"]
    assert outages >= 1
    assert weaker["incidents_alerted"] == figures["incidents_alerted"] - outages
