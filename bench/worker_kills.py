"""Fault run (b) of issue 17: one worker SIGKILLed again and again during one run.

The scenario's telemetry is produced in ``kills + 1`` slices; after each of the first
``kills`` slices the worker is SIGKILLed at a seeded random moment while it works through
it, and a new one started once the group has noticed (after the session timeout, as a
supervisor restarting a crashed process would) and ready. The last slice goes to the last
worker, which is stopped cleanly once every window is out. Shared by ``computeperf
evaluate faults`` and ``tests/integration/test_scale_and_recovery.py``.

>>> kill_delays(3, seed=17, within_s=(0.2, 2.0))
[1.1, 1.7, 1.9]
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.harness import decode_all, drain, drain_window_records, produce, start_worker
from bench.scenario import Scenario
from config.settings import Settings
from evaluation.faults import agent_crashes, alert_transition
from schemas import Alert, MetricWindow
from streams.workers import WorkerProcess

__all__ = ["WorkerKillsRun", "kill_delays", "kill_worker_repeatedly", "uninterrupted_run"]


@dataclass
class WorkerKillsRun:
    """What came out of a run, and what the workers did besides."""

    windows: list[MetricWindow]  # every record on perf.metrics, repeats included
    alerts: list[Alert] = field(default_factory=list)  # every record on perf.alerts
    kills: int = 0
    #: Agent crashes in the workers' logs plus workers that exited without being killed.
    crashes: int = 0
    kill_delays_s: list[float] = field(default_factory=list)


def kill_delays(kills: int, *, seed: int, within_s: tuple[float, float]) -> list[float]:
    """Seconds after each slice is produced to wait before SIGKILL (0.1 s steps)."""
    rng = random.Random(seed)
    return [round(rng.uniform(*within_s), 1) for _ in range(kills)]


def kill_worker_repeatedly(
    settings: Settings,
    scenario: Scenario,
    tmp: Path,
    *,
    kills: int = 5,
    seed: int = 17,
    within_s: tuple[float, float] = (0.2, 2.0),
    expected_alerts: list[Alert] | None = None,
    drain_timeout_s: float = 120.0,
) -> WorkerKillsRun:
    """Run ``scenario`` through workers SIGKILLed ``kills`` times; every output record."""
    messages = scenario.messages()
    size = -(-len(messages) // (kills + 1))
    slices = [messages[at : at + size] for at in range(0, len(messages), size)]
    delays = kill_delays(kills, seed=seed, within_s=within_s)
    workers = [start_worker(settings, tmp, "worker-0").wait_ready()]
    exits = 0
    try:
        for i, delay in enumerate(delays):
            asyncio.run(produce(settings, slices[i]))
            time.sleep(delay)
            worker = workers[-1]
            exits += worker.process is None or worker.process.poll() is not None
            worker.kill()
            # The group drops the dead member after its session timeout; a worker joining
            # before that waits for it (or, on a loaded machine, for much longer).
            time.sleep(settings.session_timeout_s + 1)
            workers.append(start_worker(settings, tmp, f"worker-{i + 1}").wait_ready())
        for rest in slices[kills:]:
            asyncio.run(produce(settings, rest))
        windows, alerts = read_outputs(settings, scenario, expected_alerts, drain_timeout_s)
        last = workers[-1]
        exits += last.process is None or last.process.poll() is not None
    finally:
        workers[-1].stop()
    crashes = exits + sum(agent_crashes(w.log.read_text(errors="replace")) for w in workers)
    return WorkerKillsRun(windows, alerts, len(delays), crashes, delays)


def uninterrupted_run(
    settings: Settings, scenario: Scenario, tmp: Path, drain_timeout_s: float = 120.0
) -> WorkerKillsRun:
    """The same scenario through one worker never killed: the outputs to compare with.

    Its alerts are read once the worker has consumed every window it emitted.
    """
    worker = start_worker(settings, tmp, "uninterrupted").wait_ready()
    try:
        asyncio.run(produce(settings, scenario.messages()))
        windows, _ = read_outputs(settings, scenario, None, drain_timeout_s)
        emitted = len({w.key for w in windows})
        deadline = time.monotonic() + drain_timeout_s
        while time.monotonic() < deadline and consumed_windows(worker) < emitted:
            time.sleep(0.5)
        alerts = decode_all(
            Alert, asyncio.run(drain(settings, "perf.alerts", until=lambda r: False, timeout_s=2))
        )
        alive = worker.process is not None and worker.process.poll() is None
    finally:
        worker.stop()
    crashes = (not alive) + agent_crashes(worker.log.read_text(errors="replace"))
    return WorkerKillsRun(windows, alerts, crashes=crashes)


def consumed_windows(worker: WorkerProcess) -> float:
    """Windows the worker's alert agent has read from ``perf.metrics``."""
    return worker.metric("computeperf_events_in_total", topic="perf.metrics")


def read_outputs(
    settings: Settings,
    scenario: Scenario,
    expected_alerts: list[Alert] | None,
    timeout_s: float,
) -> tuple[list[MetricWindow], list[Alert]]:
    """Every window record once all of the scenario's windows are out, and every alert
    record once the transitions of ``expected_alerts`` are all there (or time ran out)."""
    windows = drain_window_records(
        settings, len(scenario.expected_windows(settings.window_ms)), timeout_s
    )
    if expected_alerts is None:
        return windows, []
    wanted = {alert_transition(a) for a in expected_alerts}
    alerts = asyncio.run(
        drain(
            settings,
            "perf.alerts",
            until=lambda r: wanted <= {alert_transition(a) for a in decode_all(Alert, r)},
            timeout_s=30 if wanted else 2,
        )
    )
    return windows, decode_all(Alert, alerts)
