"""``computeperf evaluate closed-loop``: JSON shape, text output and bad input."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from cli.evaluate.closed_loop import closed_loop_command

SMALL = ["--seed", "2", "--providers", "10", "--hours", "2"]


def test_json_has_the_issue_keys_for_both_arms() -> None:
    result = CliRunner().invoke(closed_loop_command, [*SMALL, "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    for arm in ("engine", "cheapest_first"):
        for key in ("perf_per_dollar", "sla_violation_minutes", "cost_usd", "actions"):
            assert isinstance(doc[arm][key], int | float), (arm, key)
    assert doc["engine"]["accuracy"]["validated"] >= 0
    gain = doc["engine"]["perf_per_dollar"] / doc["cheapest_first"]["perf_per_dollar"] - 1
    assert abs(doc["perf_per_dollar_gain"] - gain) < 1e-9
    assert "simulating 2 h" in result.stderr and "scenario p2p" in result.stderr  # the default
    for key in (
        "oracle_perf_per_dollar_gain",
        "hindsight_perf_per_dollar_gain",
        "share_of_hindsight_gain",
        "sla_violation_reduction",
    ):
        assert key in doc
    hindsight = (
        doc["hindsight_oracle"]["perf_per_dollar"] / doc["cheapest_first"]["perf_per_dollar"]
    )
    assert abs(doc["hindsight_perf_per_dollar_gain"] - (hindsight - 1)) < 1e-9
    assert doc["scenario"]["name"] == "p2p"
    assert all(doc[arm]["lost_a100_gpu_hours"] >= 0 for arm in ("engine", "greedy_best_fit"))


def test_scenario_by_name_or_path_and_unknown_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(closed_loop_command, [*SMALL, "--scenario", "stressed", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["scenario"]["name"] == "stressed" and doc["scenario"]["load"] == 0.92
    own = tmp_path / "mine.yaml"
    own.write_text("name: mine\ndescription: test\ngpu_load: 0.3\n")
    result = CliRunner().invoke(closed_loop_command, [*SMALL, "--scenario", str(own), "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["scenario"]["load"] == 0.3
    result = CliRunner().invoke(closed_loop_command, [*SMALL, "--scenario", "nowhere"])
    assert result.exit_code == 2 and "not a scenario name" in result.output


def test_text_output_names_both_arms() -> None:
    result = CliRunner().invoke(closed_loop_command, SMALL)
    assert result.exit_code == 0, result.output
    assert "engine" in result.stdout and "cheapest_first" in result.stdout
    assert "n/a (no predictions)" in result.stdout


def test_bad_policy_file_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text("policies: [{mode: whenever}]")
    result = CliRunner().invoke(closed_loop_command, [*SMALL, "--policies", str(bad)])
    assert result.exit_code == 2 and "mode" in result.output
    result = CliRunner().invoke(closed_loop_command, [*SMALL[:2], "--hours", "0"])
    assert result.exit_code == 2
