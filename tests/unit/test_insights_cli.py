"""``computeperf evaluate insights`` and ``computeperf bench analysis`` on small runs."""

from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.analysis import analysis_bench_command
from cli.evaluate.insights import insights_command
from evaluation.insights import _quantile_error
from schemas import RootCauseScope
from sim.causes import build_scenario
from sim.marketplace import MarketplaceSim

KEYS = {
    "bottleneck_accuracy",
    "scope_accuracy",
    "quantile_rel_error",
    "rollup_rel_error",
    "confusion_matrix",
}


def test_evaluate_insights_prints_the_figures_as_json() -> None:
    args = ["--seed", "7", "--providers", "8", "--workloads", "16", "--interval-s", "10"]
    result = CliRunner().invoke(insights_command, [*args, "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert set(figures) >= KEYS
    # The targets, pinned on this small fixed run (a regression breaks the build).
    assert figures["bottleneck_accuracy"] >= 0.9
    assert figures["scope_accuracy"] >= 0.9
    assert figures["quantile_rel_error"] <= 0.01 + 1e-9
    assert figures["rollup_rel_error"] <= 1e-9
    matrix = figures["confusion_matrix"]
    assert (
        sum(map(sum, (row.values() for row in matrix.values())))
        == figures["parameters"]["windows_scored"]
    )
    # Every injected class was seen: the evaluation is not only healthy windows.
    assert all(sum(matrix[c].values()) > 0 for c in matrix)


def test_evaluate_insights_reports_a_fleet_too_small() -> None:
    result = CliRunner().invoke(insights_command, ["--providers", "3", "--json"])
    assert result.exit_code == 2 and "3 is not in the range" in result.output


def test_scenario_is_seeded_and_scoped() -> None:
    sim = MarketplaceSim(seed=3, providers=12, workloads=36)
    a = build_scenario(sim, seed=3)
    assert a == build_scenario(sim, seed=3)
    incidents, faults, events = a
    region = events[0]
    assert region.scope is RootCauseScope.REGION
    assert {i.provider_id for i in incidents if i.start_ms == region.start_ms} == set(
        region.providers
    )
    assert len({f.workload_id for f in faults}) == 4


def test_bench_analysis_prints_the_figures() -> None:
    result = CliRunner().invoke(
        analysis_bench_command, ["--series", "2000", "--minutes", "2", "--json"]
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert set(figures) >= {"us_per_sample", "bytes_per_series", "rss_mb_100k_series"}
    assert figures["series_measured"] == 2000
    assert 0 < figures["bytes_per_series"] < figures["raw_json_bytes_per_series"]
    assert figures["us_per_sample"] > 0


@settings(max_examples=50, deadline=None, database=None)
@given(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=50),
    st.sampled_from((0.5, 0.95, 0.99)),
)
def test_quantile_error_uses_numpys_order_statistics(values: list[float], q: float) -> None:
    arr = np.asarray(values)
    lo = float(np.quantile(arr, q, method="lower"))
    hi = float(np.quantile(arr, q, method="higher"))
    ordered = np.sort(arr)
    assert _quantile_error(lo, ordered, q) == 0.0 == _quantile_error(hi, ordered, q)
    above = hi + 0.05 * abs(hi) + 1.0
    assert _quantile_error(above, ordered, q) > 0.0
