"""The small simulated marketplace run shared by the integration tests (``bench/scenario.py``,
where the fault harness uses it too) and its numpy oracle (``evaluation/faults.py``)."""

from __future__ import annotations

from bench.scenario import WINDOW_MS, Scenario, thermal_scenario
from evaluation.faults import oracle_mismatch
from schemas import MetricWindow, ProviderSample

__all__ = ["WINDOW_MS", "Scenario", "assert_window_matches_oracle", "thermal_scenario"]


def assert_window_matches_oracle(window: MetricWindow, samples: list[ProviderSample]) -> None:
    """Count equals the samples produced for the window; statistics match numpy on them."""
    mismatch = oracle_mismatch(window, samples)
    assert mismatch is None, mismatch
