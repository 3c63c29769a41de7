"""Event-level detection figures: the metric on hand-made tables, the run on tiny parameters."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from cli.evaluate.detection import detection_bench_command, detection_command
from evaluation.detection import (
    RollingZScore,
    StaticThreshold,
    bench_detection,
    evaluate_detection,
    event_metrics,
)

METRIC_KEYS = {
    "precision",
    "recall",
    "f1",
    "median_delay_windows",
    "false_alarms_per_provider_day",
}


@pytest.mark.parametrize(
    ("alarms", "incidents", "expected"),
    [
        # Nothing at all: vacuous precision and recall, no delay.
        ({}, {}, (1.0, 1.0, None, 0, 0.0)),
        # Incident missed, no alarms.
        ({}, {"a": [(10, 12)]}, (1.0, 0.0, None, 0, 0.0)),
        # One alarm event of three windows inside the incident: delay 1.
        ({"a": [11, 12, 13]}, {"a": [(10, 12)]}, (1.0, 1.0, 1.0, 1, 0.0)),
        # Alarm 2 windows after the end still detects (delay 4); 3 windows after does not.
        ({"a": [14]}, {"a": [(10, 12)]}, (1.0, 1.0, 4.0, 1, 0.0)),
        ({"a": [15]}, {"a": [(10, 12)]}, (0.0, 0.0, None, 1, 1.0)),
        # An event 2 windows before the start is true but detects nothing.
        ({"a": [8]}, {"a": [(10, 12)]}, (1.0, 0.0, None, 1, 0.0)),
        # Alarm on the wrong provider: false, and the incident is missed.
        ({"b": [10]}, {"a": [(10, 12)]}, (0.0, 0.0, None, 1, 1.0)),
        # Two incidents (delays 0 and 2), one true event each, three false events.
        (
            {"a": [0, 1, 10, 30], "b": [7, 8, 50]},
            {"a": [(10, 12)], "b": [(5, 6)]},
            (0.4, 1.0, 1.0, 5, 3.0),
        ),
    ],
)
def test_event_metrics_table(alarms, incidents, expected):
    precision, recall, delay, events, false_per_day = expected
    m = event_metrics(alarms, incidents, provider_days=1.0)
    assert m["precision"] == pytest.approx(precision)
    assert m["recall"] == pytest.approx(recall)
    assert m["median_delay_windows"] == delay
    assert m["alarm_events"] == events
    assert m["false_alarms_per_provider_day"] == pytest.approx(false_per_day)
    if precision + recall:
        assert m["f1"] == pytest.approx(2 * precision * recall / (precision + recall))


def test_false_alarms_are_per_provider_day():
    m = event_metrics({"a": [1, 5, 9], "b": [3]}, {}, provider_days=2.0)
    assert m["false_alarm_events"] == 4
    assert m["false_alarms_per_provider_day"] == 2.0


def test_baselines():
    static = StaticThreshold(learn_windows=1)
    assert not static.alarm({"gpu_temp_c.p95": 85.0, "net_rtt_ms.p95": 10.0})
    assert static.alarm({"gpu_temp_c.p95": 85.1})
    assert not static.alarm({"net_rtt_ms.p95": 30.0})
    assert static.alarm({"net_rtt_ms.p95": 30.1})
    z = RollingZScore(window=2)
    assert [z.alarm({"a": v}) for v in (1.0, 1.0, 9.0)] == [False, False, False]  # no spread


@pytest.fixture(scope="module")
def tiny_run():
    return evaluate_detection(3, days=0.05, providers=2, window_s=60)


def test_evaluate_detection_shape_and_determinism(tiny_run):
    assert {"ensemble", "static_threshold", "rolling_zscore", "parameters"} <= set(tiny_run)
    for name in ("ensemble", "static_threshold", "rolling_zscore"):
        assert set(tiny_run[name]) >= METRIC_KEYS
        assert 0.0 <= tiny_run[name]["precision"] <= 1.0
    assert tiny_run["parameters"]["windows"] > 0
    assert evaluate_detection(3, days=0.05, providers=2, window_s=60) == tiny_run
    # Recall per scored incident kind, for every method; counts add up to the total.
    for name in ("ensemble", "static_threshold", "rolling_zscore"):
        per_kind = tiny_run["per_kind"][name]
        assert set(per_kind) <= {
            "thermal_throttling",
            "network_degradation",
            "noisy_neighbour",
            "memory_creep",
        }
        assert sum(k["incidents"] for k in per_kind.values()) == tiny_run[name]["incidents"]
        assert sum(k["detected"] for k in per_kind.values()) == tiny_run[name]["detected"]


def test_detection_cli_json(monkeypatch, tiny_run):
    import evaluation.detection as core

    monkeypatch.setattr(core, "evaluate_detection", lambda *a, **k: tiny_run)
    result = CliRunner().invoke(detection_command, ["--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["ensemble"].keys() >= METRIC_KEYS
    text = CliRunner().invoke(detection_command, [])
    assert text.exit_code == 0 and "rolling_zscore" in text.stdout


def test_bench_keys(monkeypatch):
    import evaluation.detection as core

    figures = bench_detection(warmup_windows=20, timed_windows=5)
    assert {"us_per_point", "bytes_per_entity"} <= set(figures)  # timing only, never asserted
    assert figures["bytes_per_entity"] > 0
    monkeypatch.setattr(core, "bench_detection", lambda: dict(figures))
    import models.detectors.detect_bench as detect_bench

    detect = detect_bench.bench_detect(points=400, warmup=200)
    assert detect["points_timed"] == 200 and detect["points_per_s"] > 0
    monkeypatch.setattr(detect_bench, "bench_detect", lambda: detect)
    result = CliRunner().invoke(detection_bench_command, ["--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == figures | {f"detect_{k}": v for k, v in detect.items()}
