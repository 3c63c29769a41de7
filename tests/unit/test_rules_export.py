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
from alerts.rule_files import load_rules
from alerts.rules import DEFAULT_RULES_PATH, ThresholdRule
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


def _promtool_test(tmp_path: Path, rules: list[ThresholdRule], test: dict[str, object]) -> None:
    (tmp_path / "rules.yml").write_text(dump_yaml(prometheus_rules(list(rules), window_ms=60_000)))
    (tmp_path / "test.yml").write_text(
        yaml.safe_dump({"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": [test]})
    )
    result = subprocess.run(
        [promtool(), "test", "rules", "test.yml"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _shipped(name: str) -> ThresholdRule:
    [rule] = [r for r in load_rules(RULES_DIR) if r.name == name]
    assert isinstance(rule, ThresholdRule)
    return rule


def test_prometheus_evaluates_the_price_jump_like_we_do(tmp_path: Path) -> None:
    """``change_over`` as ``x / x offset 15m``: fires on the jump, resolves when it ends."""
    rule = _shipped("WorkloadPriceJump")
    costs = [1.0] * 20 + [3.0] * 5 + [1.0] * 10
    history: tuple[tuple[int, float], ...] = ()
    ours = []
    for minute, cost in enumerate(costs):
        history, value = rule.changed(history, minute * 60_000, cost)
        ours.append(value is not None and rule.is_breach(value))
    assert [m for m, breach in enumerate(ours) if breach] == [20, 21, 22, 23, 24]
    labels = {"entity_type": "workload", "entity_id": "w1", "severity": "info", "route": "cost"}
    firing = [{"exp_labels": labels, "exp_annotations": rule.render("w1", 3.0)}]
    _promtool_test(
        tmp_path,
        [rule],
        {
            "interval": "1m",
            "input_series": [
                {
                    "series": 'computeperf_window_cost_accrued_usd{stat="mean", '
                    'entity_type="workload", entity_id="w1"}',
                    "values": " ".join(f"{c:g}" for c in costs),
                }
            ],
            "alert_rule_test": [
                {"eval_time": "19m", "alertname": rule.name, "exp_alerts": []},
                {"eval_time": "20m", "alertname": rule.name, "exp_alerts": firing},
                {"eval_time": "24m", "alertname": rule.name, "exp_alerts": firing},
                {"eval_time": "25m", "alertname": rule.name, "exp_alerts": []},
            ],
        },
    )


def test_prometheus_evaluates_the_utilisation_spread_like_we_do(tmp_path: Path) -> None:
    """``minus`` as a difference of two recorded series, with hysteresis and keep_firing_for."""
    rule = _shipped("GpuUtilisationErratic")
    p95 = [52, 52, 75, 60, 52, 52, 52, 52, 52, 52, 52, 52, 52]
    p50 = [50] * len(p95)
    assert [p - q > rule.threshold for p, q in zip(p95, p50, strict=True)][:5] == [
        False,
        False,
        True,
        False,  # 10 points: not above the threshold, but in the hysteresis band (> 6)
        False,
    ]
    labels = {"entity_type": "provider", "entity_id": "p1", "severity": "warning"}
    labels["route"] = "provider"

    def firing(value: float) -> list[dict[str, object]]:
        return [{"exp_labels": labels, "exp_annotations": rule.render("p1", value)}]

    def series(stat: str, values: list[int]) -> dict[str, str]:
        name = f'computeperf_window_gpu_util_pct{{stat="{stat}", entity_type="provider", '
        return {"series": name + 'entity_id="p1"}', "values": " ".join(map(str, values))}

    _promtool_test(
        tmp_path,
        [rule],
        {
            "interval": "1m",
            "input_series": [series("p95", p95), series("p50", p50)],
            "alert_rule_test": [
                {"eval_time": "1m", "alertname": rule.name, "exp_alerts": []},
                {"eval_time": "2m", "alertname": rule.name, "exp_alerts": firing(25)},
                {"eval_time": "3m", "alertname": rule.name, "exp_alerts": firing(10)},
                {"eval_time": "12m", "alertname": rule.name, "exp_alerts": []},
            ],
        },
    )
