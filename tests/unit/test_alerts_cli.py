"""``computeperf evaluate alerts`` and ``alerts history`` command plumbing."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cli.alerts import _parse_time_ms, alerts_command

KEYS = {
    "incidents",
    "incidents_alerted",
    "duplicate_alerts",
    "alerts_without_incident",
    "flaps",
    "median_time_to_fire_s",
    "budget_alert_lead_hours",
    "sla_burn_alerts_fired",
    "sla_burn_alerts_predicted",
}


def test_evaluate_alerts_json_is_one_document_with_the_issue_keys() -> None:
    result = CliRunner().invoke(
        alerts_command,
        ["--seed", "1", "--days", "0.25", "--providers", "4", "--workloads", "4", "--json"],
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert set(figures) >= KEYS
    assert figures["seed"] == 1 and figures["incidents_alerted"] <= figures["incidents"]
    assert "simulating" in result.stderr


def test_evaluate_alerts_bad_rules_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "r.yaml"
    bad.write_text("rules:\n  - {name: X, kind: budget, warn_before: 12, severity: warning}\n")
    result = CliRunner().invoke(alerts_command, ["--rules", str(bad), "--days", "0.1"])
    assert result.exit_code == 2
    assert "rules[0] (X): warn_before" in result.stderr


def test_parse_time() -> None:
    assert _parse_time_ms("2026-11-27T00:00:00Z") == 1_795_737_600_000
    assert _parse_time_ms("1795737600000") == 1_795_737_600_000
    assert _parse_time_ms("2026-11-27T01:00:00+01:00") == 1_795_737_600_000
    assert _parse_time_ms(None) is None
    with pytest.raises(click.BadParameter, match="neither ISO 8601 nor epoch ms"):
        _parse_time_ms("yesterday")
