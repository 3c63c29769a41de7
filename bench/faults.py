"""``computeperf evaluate faults``: the fault runs of issue 17 on a 3-node KRaft cluster.

A temporary cluster (``infra/kafka/broker.py``, three nodes, every topic with three
replicas and ``min.insync.replicas=2``) hosts three runs, each with its own topics and
consumer group:

a. **broker kill** (``bench/broker_kill.py``): 960 samples (8 providers, 120 s) at 30/s
   through a ``windows`` worker; the node leading most input partitions SIGKILLed 8 s in,
   restarted 10 s later; the worker is not restarted.
b. **worker kills** (``bench/worker_kills.py``): another 960 samples through a
   ``windows,alerts`` worker SIGKILLed ``kills`` times at seeded random moments,
   restarted each time; its windows and alerts against an uninterrupted run's.
c. **fuzz** (``bench/fuzz.py``): ``fuzz_bad`` hostile records among ``fuzz_valid`` valid
   ones into the telemetry topics, against a ``windows,analysis`` worker.

The figures and targets are :mod:`evaluation.faults`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.broker_kill import kill_busiest_leader
from bench.fuzz import FuzzOutcome, fuzz_worker
from bench.harness import fresh_settings, start_worker
from bench.scenario import thermal_scenario
from bench.worker_kills import kill_worker_repeatedly, uninterrupted_run
from config.settings import Settings
from evaluation.faults import (
    FaultFigures,
    WindowFaults,
    agent_crashes,
    alerts_lost,
    compare_windows,
)
from evaluation.fuzz import TELEMETRY
from infra.kafka.broker import Cluster, start_cluster
from streams.workers import WorkerProcess

__all__ = ["STAGES", "run_faults"]

#: Steps :func:`run_faults` reports through ``advance`` (for a progress bar).
STAGES = 5
BROKERS = 3


@dataclass(frozen=True)
class StageFigures:
    """What one run contributes: its windows, lost alerts and worker crashes."""

    windows: WindowFaults
    alerts_lost: int = 0
    crashes: int = 0


def run_faults(
    data_dir: Path,
    *,
    seed: int = 17,
    kills: int = 5,
    fuzz_bad: int = 10_000,
    fuzz_valid: int = 10_000,
    advance: Callable[[float], None] = lambda n: None,
    say: Callable[[str], None] = lambda line: None,
) -> FaultFigures:
    """Start the cluster, run (a), (b) and (c) on it, stop it; the figures."""
    cluster = start_cluster(brokers=BROKERS, data_dir=data_dir / "kafka")
    advance(1)
    say(f"cluster of {BROKERS} nodes up at {cluster.bootstrap_servers}")
    try:
        broker, resume_s = broker_kill_stage(cluster, data_dir / "broker-kill", say)
        advance(1)
        workers = worker_kills_stage(cluster, data_dir / "worker-kills", seed, kills, say)
        advance(2)
        fuzz, fuzz_crashes = fuzz_stage(cluster, data_dir / "fuzz", seed, fuzz_bad, fuzz_valid)
        say(f"(c) fuzz: {fuzz.summary()}")
        advance(1)
    finally:
        cluster.stop()
    return FaultFigures(
        broker_kills=1,
        worker_kills=kills,
        windows_expected=broker.windows.expected + workers.windows.expected,
        windows_lost=broker.windows.lost + workers.windows.lost,
        windows_double_counted=broker.windows.double_counted + workers.windows.double_counted,
        alerts_lost=workers.alerts_lost,
        resume_after_broker_kill_s=math.nan if resume_s is None else resume_s,
        fuzz_records=fuzz.fuzz_records,
        fuzz_dead_lettered=fuzz.fuzz_dead_lettered,
        valid_records_lost=fuzz.valid_records_lost,
        worker_crashes=broker.crashes + workers.crashes + fuzz_crashes,
    )


def cluster_settings(cluster: Cluster, tmp: Path, **overrides: object) -> Settings:
    """Fresh topics and group on ``cluster``, every topic with three replicas."""
    return fresh_settings(cluster.bootstrap_servers, tmp, replication_factor=BROKERS, **overrides)


def crashes_of(worker: WorkerProcess, alive: bool) -> int:
    """Agent crashes in the worker's log, plus one if it exited unasked."""
    return (not alive) + agent_crashes(worker.log.read_text(errors="replace"))


def broker_kill_stage(
    cluster: Cluster, tmp: Path, say: Callable[[str], None]
) -> tuple[StageFigures, float | None]:
    """Run (a); its figures and the seconds from the kill to processing resumed."""
    # Idle partitions close their windows after 25 s without a record: longer than the
    # pause of production while leaders move, so no sample is made late by the fault.
    settings = cluster_settings(cluster, tmp, agents="windows", idle_close_s=25.0)
    scenario = thermal_scenario(providers=8, span_s=120, seed=21)
    worker = start_worker(settings, tmp).wait_ready()
    try:
        run = kill_busiest_leader(cluster, worker, scenario)
    finally:
        worker.stop()
    faults = compare_windows(scenario.expected_windows(settings.window_ms), run.windows)
    resumed = "never" if run.resume_s is None else f"after {run.resume_s:.1f} s"
    say(
        f"(a) node {run.victim} (leading {run.victim_led} of {settings.partitions} input "
        f"partitions) killed: processing resumed {resumed}, {faults.lost} windows lost, "
        f"{faults.double_counted} double counted {list(faults.examples[:3])}"
    )
    return StageFigures(faults, 0, crashes_of(worker, run.worker_alive)), run.resume_s


def worker_kills_stage(
    cluster: Cluster, tmp: Path, seed: int, kills: int, say: Callable[[str], None]
) -> StageFigures:
    """Run (b): the uninterrupted run first, then the same scenario with ``kills`` kills."""
    scenario = thermal_scenario(providers=8, span_s=120, seed=22)
    # A worker's idle clock starts only once it is up and the broker confirms nothing is
    # left to read, and the next slice is produced as soon as a restarted worker is ready:
    # 8 s closes the run's last windows soon, and no window of a restart's pause.
    overrides: dict[str, object] = {
        "agents": "windows,alerts",
        "idle_close_s": 8.0,
        "session_timeout_s": 6.0,
    }
    reference = uninterrupted_run(
        cluster_settings(cluster, tmp / "uninterrupted", **overrides), scenario, tmp
    )
    say(
        f"(b) uninterrupted run: {len({w.key for w in reference.windows})} windows, "
        f"{len(reference.alerts)} alert records"
    )
    settings = cluster_settings(cluster, tmp / "killed", **overrides)
    run = kill_worker_repeatedly(
        settings, scenario, tmp, kills=kills, seed=seed, expected_alerts=reference.alerts
    )
    faults = compare_windows(scenario.expected_windows(settings.window_ms), run.windows)
    lost = alerts_lost(reference.alerts, run.alerts)
    say(
        f"(b) worker killed {run.kills} times (after {run.kill_delays_s} s): {faults.lost} "
        f"windows lost, {faults.double_counted} double counted {list(faults.examples[:3])}, "
        f"{lost} alert transitions lost of {len(reference.alerts)}"
    )
    return StageFigures(faults, lost, reference.crashes + run.crashes)


def fuzz_stage(
    cluster: Cluster, tmp: Path, seed: int, bad: int, valid: int
) -> tuple[FuzzOutcome, int]:
    """Run (c): hostile and valid records into the telemetry topics; the outcome, crashes."""
    settings = cluster_settings(cluster, tmp, agents="windows,analysis", idle_close_s=5.0)
    run = fuzz_worker(
        settings, tmp, topics=tuple(TELEMETRY), bad=bad, valid=valid, seed=seed, timeout_s=300
    )
    return run.outcome, crashes_of(run.worker, run.alive)
