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
    assert "simulating 2 h" in result.stderr


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
