"""No window lost on repeated SIGKILLs; two workers in one group emit what one worker does."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bench.worker_kills import kill_worker_repeatedly
from evaluation.faults import compare_windows
from schemas import MetricWindow
from tests.integration.harness import (
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
# The kill run needs no such margin: a worker's idle clock starts only once it is up and
# the broker confirms nothing is left to read, and the next slice is produced as soon as a
# restarted worker is ready; a shorter one closes the run's last windows 12 s sooner.
KILLS_IDLE_CLOSE_S = 8.0


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


def test_sigkill_five_times_mid_run_loses_no_window(
    kafka_bootstrap: str,
    tmp_path: Path,
    reference: tuple[Scenario, dict[str, MetricWindow]],
    report_figure: Callable[[str, float, str], None],
) -> None:
    """The worker SIGKILLed at 5 seeded random moments of one run, restarted each time on
    the backlog it left (``bench/worker_kills.py``, as ``evaluate faults`` runs it)."""
    scenario, expected = reference
    settings = fresh_settings(
        kafka_bootstrap,
        tmp_path / "crash",
        idle_close_s=KILLS_IDLE_CLOSE_S,
        agents=ROLES,
        session_timeout_s=6.0,
    )
    started = time.monotonic()
    run = kill_worker_repeatedly(settings, scenario, tmp_path, kills=5, seed=17)
    report_figure("five_kills_run_s", time.monotonic() - started, "s")
    assert run.kills == 5
    # Against numpy on the produced samples, and against the uninterrupted run.
    faults = compare_windows(scenario.expected_windows(settings.window_ms), run.windows)
    assert (faults.lost, faults.double_counted) == (0, 0), faults.examples
    got = {w.key: w for w in run.windows}
    assert got == expected
    assert run.crashes == 0


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
