"""Training data from simulated marketplace runs, and the held-out figures of the predictor.

Like :mod:`optimizers.evaluate`, this reads the simulator's pure core (:mod:`sim`
imports only :mod:`schemas` and numpy): the GPU catalogue gives the feature spec's prior
and each :class:`~sim.MarketplaceSim` run gives examples, with random incidents
(throttling, network degradation, contention, outages) as realistic noise. Each run gets
its own id prefix, so providers of different runs never share an online correction.

>>> spec = default_feature_spec()
>>> "H100 80GB" in spec.gpu_models and spec.gpu_prior["H100 80GB"]["training"]
2.4
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from models.prediction import ThroughputPredictor
from models.prediction_features import Example, FeatureSpec, examples_from_records
from sim.gpus import GPU_MODELS, REGIONS
from sim.marketplace import MarketplaceSim

__all__ = [
    "baseline_predictions",
    "default_feature_spec",
    "evaluate_prediction",
    "simulated_examples",
]

_START_MS = 1_700_000_000_000
_HOUR_MS = 3_600_000


def default_feature_spec() -> FeatureSpec:
    """Feature spec of the simulated marketplace (its GPU models, regions and priors)."""
    return FeatureSpec(
        gpu_models=tuple(sorted(GPU_MODELS)),
        regions=tuple(sorted(REGIONS)),
        gpu_prior={
            name: {
                "training": m.training,
                "fine_tuning": m.fine_tuning,
                "inference": m.inference,
                "rendering": m.rendering,
            }
            for name, m in GPU_MODELS.items()
        },
        region_utc_offset_h={name: float(r.utc_offset_h) for name, r in REGIONS.items()},
    )


def simulated_examples(
    spec: FeatureSpec,
    seed: int,
    *,
    providers: int = 16,
    workloads: int = 32,
    hours: float = 24.0,
    interval_ms: int = 120_000,
    incidents_per_hour: float = 0.5,
) -> list[Example]:
    """Examples of one simulated run (its own fleet, workloads and incidents)."""
    sim = MarketplaceSim(
        seed=seed,
        providers=providers,
        workloads=workloads,
        interval_ms=interval_ms,
        random_incidents=round(incidents_per_hour * hours),
        id_prefix=f"r{seed}-",
    )
    # The start hour varies with the seed so that runs see different phases of the day.
    start_ms = _START_MS + (seed % 24) * _HOUR_MS
    return examples_from_records(spec, sim.records(start_ms, start_ms + int(hours * _HOUR_MS)))


def baseline_predictions(train: Sequence[Example], test: Sequence[Example]) -> np.ndarray:
    """Cohort-mean baseline: mean training throughput per (GPU model, workload type).

    Cohorts unseen in training fall back to the workload type's mean, then the overall one.
    """
    cohort: dict[tuple[str, str], list[float]] = defaultdict(list)
    by_type: dict[str, list[float]] = defaultdict(list)
    for e in train:
        cohort[(e.gpu_model, e.workload_type)].append(e.throughput)
        by_type[e.workload_type].append(e.throughput)
    overall = float(np.mean([e.throughput for e in train]))
    cohort_mean = {k: float(np.mean(v)) for k, v in cohort.items()}
    type_mean = {k: float(np.mean(v)) for k, v in by_type.items()}
    return np.asarray(
        [
            cohort_mean.get((e.gpu_model, e.workload_type), type_mean.get(e.workload_type, overall))
            for e in test
        ],
        dtype=np.float64,
    )


def evaluate_prediction(
    seed: int,
    *,
    train_runs: int = 6,
    calibration_runs: int = 3,
    test_runs: int = 3,
    providers: int = 16,
    workloads: int = 32,
    hours: float = 24.0,
    alpha: float = 0.1,
) -> dict[str, float | int]:
    """Train, calibrate and test on disjoint simulated runs; return the figures.

    Run seeds are ``1000 * seed + k``: training, calibration and test runs have
    different fleets (GPU hosts, regions, prices), workloads and incidents. On the test
    runs the predictor runs prequentially (predict each sample, then learn it), as it
    would live. ``mape`` and ``baseline_mape`` are fractions; ``mape_batch_only`` is the
    batch model without the online correction, ``mape_new_placement`` (and its coverage)
    predicts every sample as for a workload not placed yet (provider history only).
    """
    spec = default_feature_spec()
    base = 1000 * seed
    n_runs = train_runs + calibration_runs + test_runs
    runs = [
        simulated_examples(spec, base + k, providers=providers, workloads=workloads, hours=hours)
        for k in range(n_runs)
    ]
    train = [e for run in runs[:train_runs] for e in run]
    calibration = [e for run in runs[train_runs : train_runs + calibration_runs] for e in run]
    test = [e for run in runs[train_runs + calibration_runs :] for e in run]
    model = ThroughputPredictor(spec, alpha=alpha, seed=seed).fit(train, calibration)
    truth = np.asarray([e.throughput for e in test], dtype=np.float64)
    batch_only = model.predict_batch_only(np.asarray([e.x for e in test], dtype=np.float64))
    # As placements not made yet (provider history only), then as running workloads.
    new = model.predict_sequential(test, use_workload_history=False)
    model.reset_online()
    preds = model.predict_sequential(test)
    point = np.asarray([p.throughput for p in preds])
    low = np.asarray([p.low for p in preds])
    high = np.asarray([p.high for p in preds])
    baseline = baseline_predictions([*train, *calibration], test)
    return {
        "mape": _mape(truth, point),
        "baseline_mape": _mape(truth, baseline),
        "mape_batch_only": _mape(truth, batch_only),
        "mape_new_placement": _mape(truth, np.asarray([p.throughput for p in new])),
        "interval_coverage": float(np.mean((low <= truth) & (truth <= high))),
        "interval_coverage_new_placement": float(
            np.mean([p.low <= t <= p.high for p, t in zip(new, truth.tolist(), strict=True)])
        ),
        "nominal_coverage": 1.0 - alpha,
        "median_interval_width": float(np.median((high - low) / point)),
        "train_examples": len(train),
        "calibration_examples": len(calibration),
        "test_examples": len(test),
    }


def _mape(truth: np.ndarray, pred: np.ndarray) -> float:
    return float(np.mean(np.abs(pred - truth) / truth))
