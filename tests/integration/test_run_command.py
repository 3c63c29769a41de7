"""``computeperf run`` (what ``make run`` starts): data flows, and Ctrl-C leaves nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from infra.kafka.broker import free_port
from streams.workers import WorkerProcess, settings_env
from tests.integration.harness import fresh_settings

pytestmark = pytest.mark.kafka


def descendants(pid: int) -> set[int]:
    """Every process below ``pid``, from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def test_run_brings_up_worker_and_simulator_and_ctrl_c_stops_all_within_10s(
    tmp_path: Path,
) -> None:
    # As `make run` on a fresh machine: no broker answers, so `run` starts its own (here on
    # a free local port instead of 19092, to stay clear of a developer's `make run`).
    settings = fresh_settings(f"127.0.0.1:{free_port()}", tmp_path)
    env = settings_env(settings)
    run = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cli",
            "run",
            "--providers",
            "4",
            "--workloads",
            "2",
            "--quiet-sim",
            "--logs",
            str(tmp_path / "logs"),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    worker = WorkerProcess(settings, tmp_path / "unused.log")
    family: set[int] = set()
    try:
        deadline = time.monotonic() + 150
        seen: list[float] = []
        while time.monotonic() < deadline and len(seen) < 2:
            try:
                count = worker.metric("computeperf_events_in_total", topic="telemetry.provider")
            except OSError:
                count = 0.0
            if count > 0 and (not seen or count > seen[-1]):
                seen.append(count)
            time.sleep(1)
        assert len(seen) == 2 and seen[1] > seen[0] > 0, "the counter did not rise"
        family = descendants(run.pid)
        # broker, worker, planner, scheduler and simulator
        assert len(family) >= 5, family
    finally:
        sigint_at = time.monotonic()
        os.killpg(run.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        out, _ = run.communicate(timeout=60)
        while any(Path(f"/proc/{pid}").exists() for pid in family):
            if time.monotonic() - sigint_at > 30:
                break
            time.sleep(0.05)
        stop_s = time.monotonic() - sigint_at
    assert run.returncode == 0, out.decode()
    assert b"[run] stopped" in out
    assert f"[run] dashboard: http://127.0.0.1:{settings.web_port}/".encode() in out
    alive = [pid for pid in family if Path(f"/proc/{pid}").exists()]
    assert alive == [], f"left behind: {alive}"
    assert stop_s < 10.0, f"Ctrl-C took {stop_s:.1f}s:\n{out.decode()[-2000:]}"
