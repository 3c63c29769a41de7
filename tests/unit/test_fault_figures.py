"""``evaluation/faults.py``: windows lost or double counted, alerts lost, crashes, targets.

The windows are summarised by the pipeline's own code (``WindowAccumulator``,
``summarize_window``) from simulated samples and judged against numpy on those samples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytest

from bench.scenario import WINDOW_MS, thermal_scenario
from evaluation.faults import (
    FaultFigures,
    agent_crashes,
    alerts_lost,
    compare_windows,
    targets_missed,
)
from models.summaries import summarize_window
from models.windows import WindowAccumulator
from schemas import Alert, EntityType, MetricWindow, ProviderSample

SCENARIO = thermal_scenario(providers=2, span_s=30, seed=3)
EXPECTED = SCENARIO.expected_windows()


def window_of(key: str, samples: Sequence[ProviderSample]) -> MetricWindow:
    acc = WindowAccumulator()
    for s in samples:
        acc.add({name: float(getattr(s, name)) for name in ProviderSample.NUMERIC_FIELDS})
    _, provider, start, _ = key.split(":")
    return summarize_window(EntityType.PROVIDER, provider, int(start), WINDOW_MS, acc)


def exact() -> list[MetricWindow]:
    return [window_of(key, samples) for key, samples in EXPECTED.items()]


def test_exact_windows_emitted_twice_are_neither_lost_nor_double_counted() -> None:
    faults = compare_windows(EXPECTED, exact() + exact())
    assert (faults.expected, faults.lost, faults.double_counted) == (len(EXPECTED), 0, 0)


def test_a_window_missing_or_short_of_a_sample_is_lost() -> None:
    keys = sorted(EXPECTED)
    emitted = [window_of(k, EXPECTED[k][1:] if k == keys[1] else EXPECTED[k]) for k in keys[1:]]
    faults = compare_windows(EXPECTED, emitted)
    assert (faults.lost, faults.double_counted) == (2, 0), faults.examples


def test_a_sample_counted_twice_or_in_place_of_another_is_double_counted() -> None:
    keys = sorted(EXPECTED)
    twice, swapped = keys[0], keys[1]
    changed = {
        twice: window_of(twice, [*EXPECTED[twice], EXPECTED[twice][0]]),
        # Same count, but one sample stands in for another: the statistics give it away.
        swapped: window_of(swapped, [EXPECTED[swapped][0], *EXPECTED[swapped][:-1]]),
    }
    emitted = [changed.get(w.key, w) for w in exact()]
    faults = compare_windows(EXPECTED, emitted)
    assert (faults.lost, faults.double_counted) == (0, 2), faults.examples


def test_a_window_emitted_twice_with_different_contents_is_double_counted() -> None:
    window = exact()[0]
    name = sorted(window.metrics)[0]
    stats = window.metrics[name].model_copy(update={"p50": window.metrics[name].p50 + 1})
    other = window.model_copy(update={"metrics": {**window.metrics, name: stats}})
    faults = compare_windows(EXPECTED, [*exact(), other])
    assert (faults.lost, faults.double_counted) == (0, 1), faults.examples


def alert(status: str, start_ms: int) -> Alert:
    labels = {"alertname": "GpuTemperatureHigh", "provider_id": "prov-001"}
    return Alert(
        fingerprint="0af3",
        status=status,
        labels=labels,
        starts_at_ms=start_ms,
        ends_at_ms=start_ms + 60_000 if status == "resolved" else None,
        severity="warning",
    )


def test_alert_transitions_repeated_are_not_lost_missing_ones_are() -> None:
    expected = [alert("firing", 1_800_000_000_000), alert("resolved", 1_800_000_000_000)]
    assert alerts_lost(expected, [*expected, *expected]) == 0
    assert alerts_lost(expected, expected[:1]) == 1
    # A transition with another start is another transition.
    assert alerts_lost(expected[:1], [alert("firing", 1_800_000_005_000)]) == 1


@pytest.mark.parametrize(
    ("log", "crashes"),
    [
        ("", 0),
        ("[^--Agent]: Crashed reason=MessageSizeTooLargeError('too large')\n", 1),
        ("[^--Agent]: Restarting on rebalance\n[^--Agent]: Crashed reason=CancelledError()\n", 0),
        ("Crashed reason=KeyError('x')\nCrashed reason=ValueError()\n", 2),
    ],
)
def test_agent_crashes_counts_crashes_not_rebalance_restarts(log: str, crashes: int) -> None:
    assert agent_crashes(log) == crashes


def test_every_target_is_checked() -> None:
    met = FaultFigures(
        broker_kills=1,
        worker_kills=5,
        windows_expected=384,
        resume_after_broker_kill_s=30.0,
        fuzz_records=10_000,
        fuzz_dead_lettered=10_000,
    )
    assert targets_missed(met) == []
    for name, value in [
        ("windows_lost", 1),
        ("windows_double_counted", 1),
        ("alerts_lost", 1),
        ("valid_records_lost", 1),
        ("worker_crashes", 1),
        ("fuzz_dead_lettered", 9_999),
        ("resume_after_broker_kill_s", 30.1),
        ("resume_after_broker_kill_s", math.nan),
    ]:
        missed = FaultFigures(**{**met.__dict__, name: value})
        assert targets_missed(missed) == [name], name
    few = FaultFigures(**{**met.__dict__, "fuzz_records": 9_999, "fuzz_dead_lettered": 9_999})
    assert targets_missed(few) == ["fuzz_records"]


def test_figures_print_in_the_issue_order_with_null_for_no_resume() -> None:
    figures = FaultFigures(resume_after_broker_kill_s=math.nan).as_dict()
    assert list(figures) == [
        "broker_kills",
        "worker_kills",
        "windows_expected",
        "windows_lost",
        "windows_double_counted",
        "alerts_lost",
        "resume_after_broker_kill_s",
        "fuzz_records",
        "fuzz_dead_lettered",
        "valid_records_lost",
        "worker_crashes",
        "targets_missed",
    ]
    assert figures["resume_after_broker_kill_s"] is None
