"""Throughput prediction: quality on held-out runs, intervals, persistence, edge cases."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from evaluation.prediction import baseline_predictions, simulated_examples
from models.prediction import (
    MODEL_FORMAT_VERSION,
    ModelVersionError,
    PerformancePredictor,
    _conformal_quantile,
)
from models.prediction_features import (
    Example,
    FeatureSpec,
    ProviderHealth,
    default_feature_spec,
    examples_from_records,
    featurize,
)
from schemas import ProviderInfo, ProviderSample, WorkloadSample
from sim import MarketplaceSim

SPEC = default_feature_spec()
SIZE = {"providers": 8, "workloads": 16, "hours": 6.0}


@pytest.fixture(scope="module")
def data() -> dict[str, list[Example]]:
    runs = [simulated_examples(SPEC, seed, **SIZE) for seed in (101, 102, 103, 104, 105)]
    return {
        "train": runs[0] + runs[1] + runs[2],
        "calibration": runs[3],
        "test": simulated_examples(SPEC, 106, **SIZE) + simulated_examples(SPEC, 107, **SIZE),
    }


@pytest.fixture(scope="module")
def model(data: dict[str, list[Example]]) -> PerformancePredictor:
    return PerformancePredictor(SPEC, seed=0, max_iter=150).fit(data["train"], data["calibration"])


def _mape(truth: np.ndarray, pred: np.ndarray) -> float:
    return float(np.mean(np.abs(pred - truth) / truth))


def _fresh(model: PerformancePredictor, tmp_path: Path) -> PerformancePredictor:
    # A copy with empty online state: save/load is the public way to clone.
    path = tmp_path / "fresh.model"
    model.save(path)
    return PerformancePredictor.load(path)


def test_beats_cohort_mean_baseline_on_held_out_runs(
    model: PerformancePredictor, data: dict[str, list[Example]], tmp_path: Path
) -> None:
    test = data["test"]
    truth = np.array([e.value for e in test])
    preds = _fresh(model, tmp_path).predict_sequential(test)
    ours = _mape(truth, np.array([p.value for p in preds]))
    baseline = _mape(truth, baseline_predictions(data["train"] + data["calibration"], test))
    assert ours < 0.5 * baseline, (ours, baseline)
    assert ours < 0.25


def test_online_correction_improves_on_the_batch_model(
    model: PerformancePredictor, data: dict[str, list[Example]], tmp_path: Path
) -> None:
    test = data["test"]
    truth = np.array([e.value for e in test])
    batch = model.predict_batch_only(np.array([e.x for e in test]))
    online = np.array([p.value for p in _fresh(model, tmp_path).predict_sequential(test)])
    assert _mape(truth, online) < _mape(truth, batch)


def test_new_placements_use_provider_history_only(
    model: PerformancePredictor, data: dict[str, list[Example]], tmp_path: Path
) -> None:
    test = data["test"]
    truth = np.array([e.value for e in test])
    fresh = _fresh(model, tmp_path)
    new = fresh.predict_sequential(test, use_workload_history=False)
    fresh.reset_online()
    running = fresh.predict_sequential(test)
    mape_new = _mape(truth, np.array([p.value for p in new]))
    mape_running = _mape(truth, np.array([p.value for p in running]))
    assert mape_running < mape_new
    # New placements are less certain, so their intervals are wider.
    width = [(p.high - p.low) / p.value for p in new]
    width_running = [(p.high - p.low) / p.value for p in running[len(running) // 2 :]]
    assert np.median(width) > np.median(width_running)
    inside = [p.low <= e.value <= p.high for p, e in zip(new, test, strict=True)]
    assert 0.75 <= sum(inside) / len(inside) <= 0.99


def test_intervals_cover_roughly_the_nominal_rate(
    model: PerformancePredictor, data: dict[str, list[Example]], tmp_path: Path
) -> None:
    test = data["test"]
    preds = _fresh(model, tmp_path).predict_sequential(test)
    inside = [p.low <= e.value <= p.high for p, e in zip(preds, test, strict=True)]
    coverage = sum(inside) / len(inside)
    # Nominal 90 %; two small held-out runs with autocorrelated errors: generous bounds.
    assert 0.75 <= coverage <= 0.99, coverage
    assert all(p.low < p.value < p.high for p in preds)


def test_save_load_round_trip_gives_identical_predictions(
    model: PerformancePredictor, data: dict[str, list[Example]], tmp_path: Path
) -> None:
    first = _fresh(model, tmp_path)
    first.predict_sequential(data["test"][:200])  # online state is saved too
    path = tmp_path / "model.bin"
    first.save(path)
    second = PerformancePredictor.load(path, expected_spec=SPEC)
    rest = data["test"][200:600]
    assert first.predict_sequential(rest) == second.predict_sequential(rest)


def _rewrite_header(path: Path, **changes: object) -> None:
    magic, header, payload = path.read_bytes().split(b"\n", 2)
    fields = json.loads(header)
    fields.update(changes)
    path.write_bytes(magic + b"\n" + json.dumps(fields).encode() + b"\n" + payload)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"format_version": MODEL_FORMAT_VERSION + 1}, "format version"),
        ({"sklearn_version": "0.0.1"}, "scikit-learn"),
        ({"spec_digest": "0" * 16}, "digest"),
    ],
)
def test_incompatible_model_file_is_refused(
    model: PerformancePredictor, tmp_path: Path, changes: dict[str, object], message: str
) -> None:
    path = tmp_path / "model.bin"
    model.save(path)
    _rewrite_header(path, **changes)
    with pytest.raises(ModelVersionError, match=message):
        PerformancePredictor.load(path)


def test_other_feature_spec_or_foreign_file_is_refused(
    model: PerformancePredictor, tmp_path: Path
) -> None:
    path = tmp_path / "model.bin"
    model.save(path)
    other = FeatureSpec(gpu_models=("L4 24GB",), regions=("us-east",))
    with pytest.raises(ModelVersionError, match="feature spec"):
        PerformancePredictor.load(path, expected_spec=other)
    (tmp_path / "junk.bin").write_bytes(b"not a model")
    with pytest.raises(ModelVersionError, match="not a computeperf"):
        PerformancePredictor.load(tmp_path / "junk.bin")


def test_unfitted_and_bad_arguments() -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        PerformancePredictor(SPEC).predict_one((0.0,) * len(SPEC.feature_names), "p", "training")
    with pytest.raises(ValueError, match="alpha"):
        PerformancePredictor(SPEC, alpha=1.5)
    with pytest.raises(ValueError, match="non-empty"):
        PerformancePredictor(SPEC).fit([], [])


def test_same_seed_same_predictions(data: dict[str, list[Example]]) -> None:
    train, cal = data["train"][:1500], data["calibration"][:500]
    a = PerformancePredictor(SPEC, seed=4, max_iter=30).fit(train, cal)
    b = PerformancePredictor(SPEC, seed=4, max_iter=30).fit(train, cal)
    assert a.predict_sequential(data["test"][:300]) == b.predict_sequential(data["test"][:300])


def test_predict_many_equals_predict_one_per_row(
    model: PerformancePredictor, data: dict[str, list[Example]], tmp_path: Path
) -> None:
    fresh = _fresh(model, tmp_path)
    for e in data["test"][:50]:
        fresh.learn_one(e.x, e.key, e.value)  # some provider history to apply
    rows = data["test"][50:90]
    many = fresh.predict_many(
        np.array([e.x for e in rows]), [e.key for e in rows], [e.group for e in rows]
    )
    one = [fresh.predict_one(e.x, e.key, e.group) for e in rows]
    for a, b in zip(many, one, strict=True):
        assert (a.value, a.low, a.high) == pytest.approx((b.value, b.low, b.high))
    assert fresh.predict_many(np.zeros((0, len(SPEC.feature_names))), [], []) == []


def test_learn_one_moves_the_prediction_towards_the_truth(
    model: PerformancePredictor, data: dict[str, list[Example]], tmp_path: Path
) -> None:
    fresh = _fresh(model, tmp_path)
    e = data["test"][0]
    before = fresh.predict_one(e.x, "host-x", e.group).value
    for _ in range(50):
        fresh.learn_one(e.x, "host-x", before * 1.3)
    after = fresh.predict_one(e.x, "host-x", e.group).value
    assert after == pytest.approx(before * 1.3, rel=0.03)
    assert fresh.predict_one(e.x, "other", e.group).value == pytest.approx(before)
    # A running workload's own recent residuals override its provider's.
    for _ in range(10):
        fresh.learn_one(e.x, "host-x", before * 0.8, workload_id="wl-a")
    own = fresh.predict_one(e.x, "host-x", e.group, workload_id="wl-a")
    assert before * 0.8 < own.value < before * 0.86  # mostly its own, a bit its host
    assert own.high - own.low < fresh.predict_one(e.x, "host-x", e.group).high
    fresh.learn_one(e.x, "host-x", 0.0)  # ignored: log of zero has no meaning


# ---------------------------------------------------------------- conformal quantile table
@pytest.mark.parametrize(
    ("scores", "alpha", "expected"),
    [
        ([], 0.1, math.inf),
        ([0.5], 0.1, math.inf),  # one score cannot give a 90 % bound
        ([float(i) for i in range(1, 10)], 0.1, 9.0),  # ceil(10 * 0.9) = 9th
        ([float(i) for i in range(1, 20)], 0.1, 18.0),  # ceil(20 * 0.9) = 18th
        ([3.0, 1.0, 2.0], 0.5, 2.0),
    ],
)
def test_conformal_quantile(scores: list[float], alpha: float, expected: float) -> None:
    assert _conformal_quantile(scores, alpha) == expected


# ---------------------------------------------------------------- features
def test_featurize_unknown_model_and_missing_telemetry_are_nan_or_zero() -> None:
    provider = ProviderInfo(
        provider_id="p-1",
        ts_ms=1_700_000_000_000,
        region="mars-north",
        gpu_model="Imaginary 7GB",
        gpu_count=2,
        vram_gb_per_gpu=7.0,
        price_usd_per_gpu_hour=1.0,
        status="online",
    )
    x = dict(
        zip(
            SPEC.feature_names,
            featurize(SPEC, "inference", 1, 5.0, provider, None, 0),
            strict=True,
        )
    )
    assert math.isnan(x["log_prior"]) and math.isnan(x["recent_rtt_ms"])
    assert all(v == 0.0 for k, v in x.items() if k.startswith(("gpu=", "region=")))
    assert x["type=inference"] == 1.0 and x["provider_gpu_count"] == 2.0
    health = ProviderHealth(rtt_ms=12.0, clock_ratio=0.5, errors=3.0)
    row = featurize(SPEC, "training", 4, 5.0, None, health, 0)
    y = dict(zip(SPEC.feature_names, row, strict=True))
    assert y["log2_gpus"] == 2.0 and y["recent_clock_ratio"] == 0.5
    assert math.isnan(y["provider_vram_gb"])


def test_examples_use_only_older_provider_samples() -> None:
    sim = MarketplaceSim(seed=9, providers=2, workloads=2, interval_ms=1000)
    records = list(sim.records(1_700_000_000_000, 1_700_000_003_000))
    examples = examples_from_records(SPEC, records)
    assert len(examples) == 6  # 2 workloads x 3 intervals
    rtt = SPEC.feature_names.index("recent_rtt_ms")
    firsts = [e for e in examples if e.ts_ms == 1_700_000_000_000]
    assert all(math.isnan(e.x[rtt]) for e in firsts)  # nothing older than the first interval
    samples = {
        (r.record.provider_id, r.record.ts_ms): r.record.net_rtt_ms
        for r in records
        if isinstance(r.record, ProviderSample)
    }
    for e in examples:
        if e.ts_ms > 1_700_000_000_000:
            assert e.x[rtt] == samples[(e.key, e.ts_ms - 1000)]


def test_examples_skip_samples_without_spec_or_provider() -> None:
    sample = WorkloadSample(
        workload_id="wl-x",
        ts_ms=1_700_000_000_000,
        seq=0,
        provider_id="p-x",
        tenant_id="t",
        workload_type="training",
        throughput=10.0,
        throughput_unit="samples/s",
        gpu_util_pct=90.0,
        requests=0,
        errors=0,
        cost_accrued_usd=0.0,
    )
    assert examples_from_records(SPEC, [sample]) == []
    assert examples_from_records(SPEC, []) == []


# ---------------------------------------------------------------- latency (serving workloads)
@pytest.fixture(scope="module")
def latency_data() -> dict[str, list[Example]]:
    def runs(*seeds: int) -> list[Example]:
        return [e for s in seeds for e in simulated_examples(SPEC, s, target="latency_ms", **SIZE)]

    return {"train": runs(201, 202, 203, 204), "calibration": runs(205, 206), "test": runs(207)}


def test_latency_examples_are_serving_workloads_with_their_latency() -> None:
    sim = MarketplaceSim(seed=9, providers=4, workloads=8)
    records = list(sim.records(1_700_000_000_000, 1_700_000_000_000 + 600_000))
    examples = examples_from_records(SPEC, records, "latency_ms")
    latencies = {
        (r.record.workload_id, r.record.ts_ms): r.record.latency_ms
        for r in records
        if isinstance(r.record, WorkloadSample) and r.record.latency_ms is not None
    }
    assert examples and len(examples) == len(latencies)
    assert {e.group for e in examples} == {"inference"}
    assert all(e.value == latencies[(e.workload_id, e.ts_ms)] for e in examples)
    with pytest.raises(ValueError, match="target"):
        examples_from_records(SPEC, records, "step_time")


def test_latency_predictor_beats_cohort_mean_and_covers(
    latency_data: dict[str, list[Example]], tmp_path: Path
) -> None:
    model = PerformancePredictor(SPEC, target="latency_ms", seed=0, max_iter=100)
    model.fit(latency_data["train"], latency_data["calibration"])
    test = latency_data["test"]
    truth = np.array([e.value for e in test])
    preds = model.predict_sequential(test)
    ours = _mape(truth, np.array([p.value for p in preds]))
    baseline = _mape(truth, baseline_predictions(latency_data["train"], test))
    assert ours < baseline, (ours, baseline)
    coverage = np.mean([p.low <= t <= p.high for p, t in zip(preds, truth, strict=True)])
    assert 0.75 <= coverage <= 1.0, coverage
    # The target travels with the saved model, and a latency model is not a throughput one.
    path = tmp_path / "latency.model"
    model.save(path)
    assert PerformancePredictor.load(path, expected_target="latency_ms").target == "latency_ms"
    with pytest.raises(ModelVersionError, match="throughput"):
        PerformancePredictor.load(path, expected_target="throughput")
    with pytest.raises(ValueError, match="target"):
        PerformancePredictor(SPEC, target="joy")
