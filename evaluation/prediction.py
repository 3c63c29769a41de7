"""Training data from simulated marketplace runs, and the held-out figures of the predictor.

Like :mod:`evaluation.placement`, this reads the simulator's pure core (:mod:`sim`
imports only :mod:`schemas` and numpy): the GPU catalogue gives the feature spec's prior
and each :class:`~sim.MarketplaceSim` run gives examples, with random incidents
(throttling, network degradation, contention, outages) as realistic noise. Each run gets
its own id prefix, so providers of different runs never share an online correction.

On this tiny fixed input (6 h runs of 8 providers) the predictor already beats the cohort
mean by far:

>>> r = evaluate_prediction(seed=3, train_runs=2, calibration_runs=1, test_runs=1,
...                         providers=8, workloads=16, hours=6)
>>> print(f"MAPE {r['mape']:.1%} vs baseline {r['baseline_mape']:.1%}, "
...       f"coverage {r['interval_coverage']:.0%}")
MAPE 4.0% vs baseline 102.1%, coverage 91%
>>> print(f"latency MAPE {r['latency_mape']:.1%} vs baseline {r['latency_baseline_mape']:.1%}")
latency MAPE 5.3% vs baseline 8.6%

A predictor fitted on simulated runs:

>>> from models.prediction import PerformancePredictor
>>> from models.prediction_features import default_feature_spec
>>> spec = default_feature_spec()
>>> train = simulated_examples(spec, seed=10, providers=8, workloads=16, hours=4)
>>> cal = simulated_examples(spec, seed=11, providers=8, workloads=16, hours=4)
>>> model = PerformancePredictor(spec, seed=0).fit(train, cal)
>>> p = model.predict_one(cal[0].x, cal[0].key, cal[0].group)
>>> p.low < p.value < p.high
True
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from models.prediction import PerformancePredictor
from models.prediction_features import (
    Example,
    FeatureSpec,
    default_feature_spec,
    examples_from_records,
)
from sim.marketplace import MarketplaceSim

__all__ = [
    "baseline_predictions",
    "evaluate_prediction",
    "simulated_examples",
    "simulated_records",
]

_START_MS = 1_700_000_000_000
_FIGURE_KEYS = (
    "mape",
    "baseline_mape",
    "mape_batch_only",
    "mape_new_placement",
    "interval_coverage",
    "interval_coverage_new_placement",
    "nominal_coverage",
    "median_interval_width",
)
_HOUR_MS = 3_600_000


def simulated_records(
    seed: int,
    *,
    providers: int = 16,
    workloads: int = 32,
    hours: float = 24.0,
    interval_ms: int = 120_000,
    incidents_per_hour: float = 0.5,
) -> list[object]:
    """Records of one simulated run (its own fleet, workloads and incidents)."""
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
    return list(sim.records(start_ms, start_ms + int(hours * _HOUR_MS)))


def simulated_examples(
    spec: FeatureSpec,
    seed: int,
    *,
    target: str = "throughput",
    providers: int = 16,
    workloads: int = 32,
    hours: float = 24.0,
    interval_ms: int = 120_000,
    incidents_per_hour: float = 0.5,
) -> list[Example]:
    """Examples of ``target`` from one simulated run (see :func:`simulated_records`)."""
    records = simulated_records(
        seed,
        providers=providers,
        workloads=workloads,
        hours=hours,
        interval_ms=interval_ms,
        incidents_per_hour=incidents_per_hour,
    )
    return examples_from_records(spec, records, target)


def baseline_predictions(train: Sequence[Example], test: Sequence[Example]) -> np.ndarray:
    """Cohort-mean baseline: mean training value per (GPU model, workload type).

    Cohorts unseen in training fall back to the workload type's mean, then the overall one.
    """
    cohort: dict[tuple[str, str], list[float]] = defaultdict(list)
    by_type: dict[str, list[float]] = defaultdict(list)
    for e in train:
        cohort[(e.gpu_model, e.workload_type)].append(e.value)
        by_type[e.workload_type].append(e.value)
    overall = float(np.mean([e.value for e in train]))
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
    The same figures for the latency of serving workloads carry a ``latency_`` prefix
    (a second predictor, same runs, same code).
    """
    spec = default_feature_spec()
    base = 1000 * seed
    n_runs = train_runs + calibration_runs + test_runs
    runs = [
        simulated_records(base + k, providers=providers, workloads=workloads, hours=hours)
        for k in range(n_runs)
    ]
    figures: dict[str, float | int] = {}
    for target, prefix in (("throughput", ""), ("latency_ms", "latency_")):
        per_run = [examples_from_records(spec, run, target) for run in runs]
        train = [e for run in per_run[:train_runs] for e in run]
        calibration = [
            e for run in per_run[train_runs : train_runs + calibration_runs] for e in run
        ]
        test = [e for run in per_run[train_runs + calibration_runs :] for e in run]
        if not (train and calibration and test):
            # E.g. no serving workload in a tiny run: no latency to learn or test.
            figures.update({prefix + k: math.nan for k in _FIGURE_KEYS})
            figures[prefix + "test_examples"] = len(test)
            continue
        model = PerformancePredictor(spec, target=target, alpha=alpha, seed=seed)
        model.fit(train, calibration)
        found = _figures(model, train, calibration, test)
        figures.update({prefix + k: v for k, v in found.items()})
    return figures


def _figures(
    model: PerformancePredictor,
    train: Sequence[Example],
    calibration: Sequence[Example],
    test: Sequence[Example],
) -> dict[str, float | int]:
    truth = np.asarray([e.value for e in test], dtype=np.float64)
    batch_only = model.predict_batch_only(np.asarray([e.x for e in test], dtype=np.float64))
    # As placements not made yet (provider history only), then as running workloads.
    model.reset_online()
    new = model.predict_sequential(test, use_workload_history=False)
    model.reset_online()
    preds = model.predict_sequential(test)
    point = np.asarray([p.value for p in preds])
    low = np.asarray([p.low for p in preds])
    high = np.asarray([p.high for p in preds])
    baseline = baseline_predictions([*train, *calibration], test)
    return {
        "mape": _mape(truth, point),
        "baseline_mape": _mape(truth, baseline),
        "mape_batch_only": _mape(truth, batch_only),
        "mape_new_placement": _mape(truth, np.asarray([p.value for p in new])),
        "interval_coverage": float(np.mean((low <= truth) & (truth <= high))),
        "interval_coverage_new_placement": float(
            np.mean([p.low <= t <= p.high for p, t in zip(new, truth.tolist(), strict=True)])
        ),
        "nominal_coverage": 1.0 - model.alpha,
        "median_interval_width": float(np.median((high - low) / point)),
        "train_examples": len(train),
        "calibration_examples": len(calibration),
        "test_examples": len(test),
    }


def _mape(truth: np.ndarray, pred: np.ndarray) -> float:
    return float(np.mean(np.abs(pred - truth) / truth))
