"""``computeperf rules export --format prometheus``: promtool accepts it and agrees with us.

promtool comes from the Debian package ``prometheus`` (``make system-packages``, which
``make test`` runs first). These tests fail, not skip, when it is missing.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from alerts.export import go_template, prometheus_rules
from alerts.rules import DEFAULT_RULES_PATH, ThresholdRule, load_rules
from cli.rules import dump_yaml

RULES_DIR = DEFAULT_RULES_PATH.parent
REPO = Path(__file__).resolve().parents[2]


def promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool not found: run `make system-packages` (Debian package prometheus)"
    return path


def export(tmp_path: Path, *args: str) -> Path:
    out = tmp_path / "rules.yml"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli",
            "rules",
            "export",
            "--format",
            "prometheus",
            "-o",
            str(out),
            *args,
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return out


@pytest.mark.parametrize("source", ["default", "folder"])
def test_export_passes_promtool_check_rules(tmp_path: Path, source: str) -> None:
    args = [] if source == "default" else ["--rules", str(RULES_DIR)]
    out = export(tmp_path, *args)
    check = subprocess.run(
        [promtool(), "check", "rules", str(out)], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
    rules = load_rules(DEFAULT_RULES_PATH if source == "default" else RULES_DIR)
    assert f"SUCCESS: {len(rules) + len(_records(out))} rules found" in check.stdout


def _records(path: Path) -> list[dict[str, str]]:
    doc = yaml.safe_load(path.read_text())
    return [r for g in doc["groups"] for r in g["rules"] if "record" in r]


def test_prometheus_evaluates_the_thermal_rule_like_we_do(tmp_path: Path) -> None:
    """promtool's own rule engine: fires after `for`, hysteresis keeps it, resolves at 80."""
    rule = load_rules(DEFAULT_RULES_PATH)[0]
    assert isinstance(rule, ThresholdRule)
    (tmp_path / "rules.yml").write_text(dump_yaml(prometheus_rules([rule], window_ms=60_000)))
    labels = {"entity_type": "provider", "entity_id": "p1", "severity": "warning"}

    def firing(value: float) -> list[dict[str, object]]:
        return [{"exp_labels": labels, "exp_annotations": rule.render("p1", value)}]

    # One value per closed window: 70, then 90 for two windows (fires), 82 in the
    # hysteresis band (keeps firing, although 82 < 85), 79 (resolves).
    test = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {
                        "series": 'computeperf_window_gpu_temp_c{stat="p95", '
                        'entity_type="provider", entity_id="p1"}',
                        "values": "70 90 90 82 82 79 79",
                    }
                ],
                "alert_rule_test": [
                    {"eval_time": "1m", "alertname": rule.name, "exp_alerts": []},  # pending
                    {"eval_time": "2m", "alertname": rule.name, "exp_alerts": firing(90)},
                    {"eval_time": "4m", "alertname": rule.name, "exp_alerts": firing(82)},
                    {"eval_time": "6m", "alertname": rule.name, "exp_alerts": []},
                ],
            }
        ],
    }
    (tmp_path / "test.yml").write_text(yaml.safe_dump(test))
    result = subprocess.run(
        [promtool(), "test", "rules", "test.yml"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_go_templates_table() -> None:
    assert go_template("{entity_id}: {value}", 1) == "{{ $labels.entity_id }}: {{ $value }}"
    assert go_template("{value:.2f} > {threshold:.1f}", 0.5) == ('{{ printf "%.2f" $value }} > 0.5')
    assert go_template("{{literal}}", 0) == "{literal}"


def test_invalid_rules_exit_2_with_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "rules:\n  - {name: X, metric: gpu_temp_c.p42, op: '>', threshold: 1, severity: warning}\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "cli", "rules", "export", "--rules", str(bad)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "rules[0] (X): metric" in result.stderr and "p42" in result.stderr
