"""No window lost on SIGKILL; two workers in one group emit what one worker does."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from schemas import MetricWindow
from tests.integration.harness import (
    decode_all,
    drain,
    drain_windows,
    fresh_settings,
    produce,
    start_worker,
)
from tests.integration.scenario import Scenario, thermal_scenario

pytestmark = pytest.mark.kafka

SCENARIO = dict(providers=8, span_s=150, seed=21)
# Longer than any pause between the two halves of the crash run on a loaded machine: the
# idle fallback must not close windows early there (that would make samples late, which an
# uninterrupted run does not see), only at the very end.
IDLE_CLOSE_S = 20.0


# The stage under test (the windows) with its alerts consumer: a worker with every role
# recovers a dozen more tables after a crash, which tests Faust's recovery speed on a
# loaded machine, not whether a window is lost.
ROLES = "windows,alerts"


def reference_windows(
    scenario: Scenario, kafka_bootstrap: str, tmp: Path
) -> dict[str, MetricWindow]:
    """The windows of an uninterrupted single-worker run of ``scenario``."""
    settings = fresh_settings(kafka_bootstrap, tmp / "ref", idle_close_s=IDLE_CLOSE_S, agents=ROLES)
    worker = start_worker(settings, tmp, "reference")
    try:
        asyncio.run(produce(settings, scenario.messages()))
        return drain_windows(settings, len(scenario.expected_windows(settings.window_ms)))
    finally:
        worker.stop()


@pytest.fixture(scope="module")
def reference(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Scenario, dict[str, MetricWindow]]:
    """One scenario and its uninterrupted run, shared by both tests of this module.

    The scenario's times follow the wall clock, so the tests replay this very scenario
    (not a new one made later) to be compared with its windows.
    """
    scenario = thermal_scenario(**SCENARIO)
    windows = reference_windows(scenario, kafka_bootstrap, tmp_path_factory.mktemp("reference"))
    assert len(windows) == len(scenario.expected_windows())
    return scenario, windows


def test_sigkill_mid_run_loses_no_window(
    kafka_bootstrap: str, tmp_path: Path, reference: tuple[Scenario, dict[str, MetricWindow]]
) -> None:
    scenario, expected = reference

    settings = fresh_settings(
        kafka_bootstrap, tmp_path / "crash", idle_close_s=IDLE_CLOSE_S, agents=ROLES
    )
    messages = scenario.messages()
    half = len(messages) // 2
    worker = start_worker(settings, tmp_path, "victim")
    asyncio.run(produce(settings, messages[:half]))
    asyncio.run(drain(settings, "perf.metrics", until=lambda r: len(r) >= 8, timeout_s=60))
    asyncio.run(produce(settings, messages[half:]))
    time.sleep(0.2)
    worker.kill()  # SIGKILL while the second half is being processed
    before_restart = asyncio.run(
        drain(settings, "perf.metrics", until=lambda r: False, timeout_s=2)
    )
    emitted = {w.key for w in decode_all(MetricWindow, before_restart)}
    assert len(emitted) < len(expected), "killed too late to matter"
    # The restarted worker comes back after the broker has noticed the crash (session
    # timeout), as a restarted process does. Joining while the dead member still counts
    # left partitions unconsumed for minutes on a broker loaded by the whole suite.
    time.sleep(settings.session_timeout_s + 2)

    survivor = start_worker(settings, tmp_path, "survivor")
    try:
        got = drain_windows(settings, len(expected))
        diagnostics = [
            line
            for line in survivor.metrics_text().splitlines()
            if line.startswith("computeperf_") and "_created" not in line and "bucket" not in line
        ]
        missing = sorted(expected.keys() - got.keys())
        assert not missing, "\n".join([f"{len(missing)} missing: {missing[:20]}", *diagnostics])
        assert got.keys() == expected.keys()
        assert got == expected
    finally:
        survivor.stop()


def test_two_workers_split_partitions_and_emit_the_same_windows(
    kafka_bootstrap: str, tmp_path: Path, reference: tuple[Scenario, dict[str, MetricWindow]]
) -> None:
    scenario, expected = reference

    settings = fresh_settings(
        kafka_bootstrap, tmp_path / "pair", idle_close_s=IDLE_CLOSE_S, agents=ROLES
    )
    first = start_worker(settings, tmp_path, "w1")
    second = start_worker(settings, tmp_path, "w2")
    try:
        # Wait for the group to settle so that both hold partitions before data arrives.
        time.sleep(8)
        asyncio.run(produce(settings, scenario.messages()))
        got = drain_windows(settings, len(expected))
        assert got == expected
        counts = [
            w.metric("computeperf_events_in_total", topic="telemetry.provider")
            for w in (first, second)
        ]
        assert all(c > 0 for c in counts), counts
        assert sum(counts) >= len(scenario.messages())
    finally:
        for w in (first, second):
            w.stop()
