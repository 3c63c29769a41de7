"""Issue 17: the alert engine forgets entities that went silent, so churn stays bounded.

The engine runs with the shipped rule set over an in-memory table that applies its
writes and deletes the way the adapter does (``agents/alerting.py``).
"""

from __future__ import annotations

from typing import Any

from alerts.engine import AlertEngine, AlertWrites
from alerts.rule_files import load_rules
from schemas import Alert, EntityType, MetricStats, MetricWindow
from streams.app import DEFAULT_RULES

T0 = 1_700_000_000_000
MINUTE = 60_000


class Tables:
    """The alert-state and burn-tracker tables, with the adapter's write order."""

    def __init__(self) -> None:
        self.states: dict[str, Any] = {}
        self.burns: dict[str, Any] = {}

    def apply(self, out: AlertWrites) -> list[Alert]:
        self.states.update((k, v) for k, v, _ in out.states)
        self.burns.update((k, v) for k, v, _ in out.burn_trackers)
        for key, _ in out.forgotten_states:
            del self.states[key]
        for key, _ in out.forgotten_burn_trackers:
            del self.burns[key]
        return out.alerts


def engine_over(tables: Tables, forget_after_ms: int | None) -> AlertEngine:
    return AlertEngine(
        load_rules(DEFAULT_RULES),
        states=tables.states,
        burn_trackers=tables.burns,
        forget_after_ms=forget_after_ms,
    )


def provider_window(entity_id: str, end_ms: int, temp_c: float = 60.0) -> MetricWindow:
    stats = MetricStats(count=6, mean=temp_c, min=temp_c, max=temp_c, p50=temp_c, p95=temp_c,
                        p99=temp_c)  # fmt: skip
    return MetricWindow(
        entity_type=EntityType.PROVIDER,
        entity_id=entity_id,
        window_start_ms=end_ms - MINUTE,
        window_end_ms=end_ms,
        count=6,
        metrics={"gpu_temp_c": stats},
    )


def workload_window(entity_id: str, end_ms: int) -> MetricWindow:
    return MetricWindow(
        entity_type=EntityType.WORKLOAD,
        entity_id=entity_id,
        window_start_ms=end_ms - MINUTE,
        window_end_ms=end_ms,
        count=6,
        metrics={},
        availability=1.0,
    )


def keys_of(tables: Tables, entity_id: str) -> list[str]:
    return [
        k
        for k, v in tables.states.items()
        if entity_id in k or (isinstance(v, dict) and entity_id in str(v.get("alert", "")))
    ]


def test_a_hot_provider_that_leaves_is_resolved_as_forgotten_and_leaves_nothing() -> None:
    tables = Tables()
    engine = engine_over(tables, forget_after_ms=30 * MINUTE)
    alerts: list[Alert] = []
    for m in range(1, 4):  # hot for three windows: GpuTemperatureHigh fires (2 windows)
        alerts += tables.apply(engine.on_window(provider_window("hot", T0 + m * MINUTE, 95.0), 0))
    assert [(a.labels["alertname"], a.status.value) for a in alerts] == [
        ("GpuTemperatureHigh", "firing")
    ]
    assert keys_of(tables, "hot")
    # It goes silent; a neighbour on the same partition keeps the clock going.
    for m in range(4, 40):
        alerts += tables.apply(engine.on_window(provider_window("calm", T0 + m * MINUTE), 0))
    told = [(a.labels["alertname"], a.labels["entity_id"], a.status.value) for a in alerts]
    assert told == [
        ("GpuTemperatureHigh", "hot", "firing"),
        ("ProviderDown", "hot", "firing"),
        ("GpuTemperatureHigh", "hot", "resolved"),
        ("ProviderDown", "hot", "resolved"),
    ]
    resolved = alerts[2:]
    assert all("forgotten" in a.annotations for a in resolved)
    assert all(a.ends_at_ms == T0 + 33 * MINUTE for a in resolved)  # 30 min after 3
    assert keys_of(tables, "hot") == []
    assert keys_of(tables, "calm")  # the one still sending is kept


def test_a_workloads_burn_tracker_goes_with_it() -> None:
    tables = Tables()
    engine = engine_over(tables, forget_after_ms=10 * MINUTE)
    for m in range(1, 4):
        tables.apply(engine.on_window(workload_window("job", T0 + m * MINUTE), 0))
    assert "workload:job" in tables.burns
    for m in range(4, 20):
        tables.apply(engine.on_window(workload_window("other", T0 + m * MINUTE), 0))
    assert "workload:job" not in tables.burns
    assert "workload:other" in tables.burns
    assert keys_of(tables, "job") == []


def test_churn_keeps_the_tables_bounded_and_without_forgetting_they_grow() -> None:
    def churn(forget_after_ms: int | None) -> tuple[int, int]:
        """Table sizes after one and after two hours of 20 providers, 2 replaced a minute."""
        tables, sizes = Tables(), []
        engine = engine_over(tables, forget_after_ms=forget_after_ms)
        ids = [f"p0-{slot}" for slot in range(20)]
        for m in range(1, 121):
            for slot in (2 * m % 20, (2 * m + 1) % 20):
                ids[slot] = f"p{m}-{slot}"
            for entity in ids:
                tables.apply(engine.on_window(provider_window(entity, T0 + m * MINUTE), 0))
            if m in (60, 120):
                sizes.append(len(tables.states) + len(tables.burns))
        return sizes[0], sizes[1]

    hour, two_hours = churn(forget_after_ms=10 * MINUTE)
    assert two_hours == hour, (hour, two_hours)
    hour, two_hours = churn(forget_after_ms=None)
    assert two_hours > hour + 100, (hour, two_hours)  # 120 more ids kept, each with state


def test_a_short_eviction_still_lets_provider_down_fire_first() -> None:
    tables = Tables()
    engine = engine_over(tables, forget_after_ms=MINUTE)  # shorter than ProviderDown's 2m
    alerts: list[Alert] = []
    alerts += tables.apply(engine.on_window(provider_window("gone", T0), 0))
    for m in range(1, 6):
        alerts += tables.apply(engine.on_window(provider_window("calm", T0 + m * MINUTE), 0))
    told = [(a.labels["alertname"], a.status.value, a.ends_at_ms) for a in alerts]
    assert told == [
        ("ProviderDown", "firing", None),
        ("ProviderDown", "resolved", T0 + 3 * MINUTE),
    ]


def test_a_restarted_engine_forgets_what_went_silent_while_it_was_down() -> None:
    tables = Tables()
    first = engine_over(tables, forget_after_ms=10 * MINUTE)
    for m in range(1, 3):
        for entity in ("left", "stays"):
            tables.apply(first.on_window(provider_window(entity, T0 + m * MINUTE), 0))
    assert keys_of(tables, "left")
    restarted = engine_over(tables, forget_after_ms=10 * MINUTE)  # same table, new process
    alerts: list[Alert] = []
    for m in range(3, 20):
        alerts += tables.apply(restarted.on_window(provider_window("stays", T0 + m * MINUTE), 0))
    assert keys_of(tables, "left") == []
    assert [(a.labels["entity_id"], a.status.value) for a in alerts] == [
        ("left", "firing"),
        ("left", "resolved"),
    ]
