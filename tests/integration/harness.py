"""Helpers for integration tests: worker processes, producing and draining topics.

The shared ones live in ``bench/harness.py`` (the fault harness of ``computeperf evaluate
faults`` runs on them too) and are re-exported here; ``run_cli`` is the tests' own.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench.harness import (
    decode_all,
    drain,
    drain_windows,
    fresh_settings,
    miscounted,
    produce,
    start_worker,
    wait_for,
)
from config.settings import Settings
from streams.workers import settings_env

__all__ = [
    "decode_all",
    "drain",
    "drain_windows",
    "fresh_settings",
    "miscounted",
    "produce",
    "run_cli",
    "start_worker",
    "wait_for",
]


def run_cli(args: list[str], settings: Settings, tmp: Path, timeout_s: float = 300) -> str:
    """Run ``computeperf ARGS`` under ``settings``; its stderr goes to ``tmp/<command>.stderr``.

    Returns stdout; fails the test with the end of stderr when the command fails.
    """
    done = subprocess.run(
        [sys.executable, "-m", "cli", *args],
        env=settings_env(settings),
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    (tmp / f"{args[0]}.stderr").write_text(done.stderr)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout
