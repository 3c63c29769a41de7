"""``computeperf evaluate placement|prediction``: JSON shape and value ranges on tiny inputs."""

from __future__ import annotations

import json

import click
import pytest
from click.testing import CliRunner

from cli.evaluate import evaluate_group, parse_sizes


def test_placement_json_has_the_issue_keys_and_sane_values() -> None:
    result = CliRunner().invoke(
        evaluate_group,
        ["placement", "--sizes", "20,30x5", "--repeats", "1", "--time-limit-s", "0.2", "--json"],
    )
    assert result.exit_code == 0, result.output
    assert "solving 20 providers" in result.stderr
    doc = json.loads(result.stdout)
    assert [(i["providers"], i["pending"]) for i in doc["instances"]] == [(20, 2), (30, 5)]
    for inst in doc["instances"]:
        for key in (
            "providers",
            "pending",
            "gap_to_bound",
            "perf_per_dollar_vs_cheapest",
            "perf_per_dollar_vs_greedy",
            "solve_p50_s",
            "solve_p95_s",
        ):
            assert key in inst
        assert 0.0 <= inst["gap_to_bound"] <= 1.0
        for ratio in ("perf_per_dollar_vs_cheapest", "perf_per_dollar_vs_greedy"):
            assert inst[ratio] is None or inst[ratio] > 0.0
        assert 0.0 < inst["solve_p50_s"] <= inst["solve_p95_s"] < 5.0


def test_placement_text_output() -> None:
    result = CliRunner().invoke(
        evaluate_group, ["placement", "--sizes", "10", "--repeats", "1", "--time-limit-s", "0.1"]
    )
    assert result.exit_code == 0, result.output
    assert "10 providers" in result.stdout and "solve p50" in result.stdout


def test_prediction_json_keys_and_ranges() -> None:
    result = CliRunner().invoke(
        evaluate_group,
        [
            "prediction",
            "--train-runs",
            "1",
            "--calibration-runs",
            "1",
            "--test-runs",
            "1",
            "--hours",
            "2",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert {"mape", "baseline_mape", "interval_coverage", "nominal_coverage"} <= set(doc)
    assert doc["nominal_coverage"] == pytest.approx(0.9)
    assert 0.0 <= doc["interval_coverage"] <= 1.0
    assert 0.0 < doc["mape"] < doc["baseline_mape"]
    assert 0.0 < doc["latency_mape"] < 1.0 and 0.0 <= doc["latency_interval_coverage"] <= 1.0
    assert doc["latency_test_examples"] > 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [("100", [(100, 10)]), ("5", [(5, 1)]), ("100x7, 1000", [(100, 7), (1000, 100)])],
)
def test_parse_sizes(text: str, expected: list[tuple[int, int]]) -> None:
    assert parse_sizes(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "0", "10x0", "10xx"])
def test_parse_sizes_rejects(text: str) -> None:
    with pytest.raises(click.BadParameter):
        parse_sizes(text)
