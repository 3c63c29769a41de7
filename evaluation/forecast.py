"""Forecast quality on simulated days: utilisation and spend against seasonal-naive.

The simulator's pure core (:class:`~sim.marketplace.MarketplaceSim`, read-only here)
runs for ``days`` with random incidents; provider ``gpu_util_pct`` samples become hourly
means per provider, workload ``cost_accrued_usd`` samples hourly spend per tenant.
Each series is scored by rolling origin: after ``train_days`` the forecaster forecasts
``horizon`` hours at every hour, then learns the next point. Figures per kind:

* ``mase``: MAE of the forecasts / MAE of the seasonal-naive forecasts (the value one
  period before, for the same targets and horizons): below 1 beats seasonal-naive;
* ``mase_insample``: Hyndman's MASE, MAE / in-sample one-step seasonal-naive MAE of the
  training part (pooled over series);
* ``coverage``: share of targets inside the interval, against ``nominal_coverage``.

>>> rng = np.random.default_rng(0)
>>> series = {"a": [50.0 + (h % 24) + rng.normal() for h in range(24 * 6)]}
>>> m = score_series(series, period=24, horizon=2, train_points=96, coverage=0.9)
>>> round(m["mase"], 2), m["targets"]
(0.83, 95.0)
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence

import numpy as np

from models.forecasting import SeasonalForecaster
from schemas import ProviderSample, WorkloadSample
from sim.marketplace import TOPIC_PROVIDER, TOPIC_WORKLOAD, MarketplaceSim

__all__ = ["evaluate_forecasts", "score_series", "simulated_hourly_series"]

_START_MS = 1_700_000_000_000
_HOUR_MS = 3_600_000


def simulated_hourly_series(
    seed: int, *, days: float, providers: int, workloads: int, interval_s: int = 60
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Hourly mean utilisation per provider and hourly spend (USD) per tenant.

    An hour without samples (a provider outage) is NaN for utilisation, 0 for spend.
    """
    hours = int(days * 24)
    end_ms = _START_MS + hours * _HOUR_MS
    sim = MarketplaceSim(
        seed=seed,
        providers=providers,
        workloads=workloads,
        interval_ms=interval_s * 1000,
        random_incidents=max(1, round(2 * providers * days)),
        random_incident_horizon_ms=end_ms - _START_MS,
    )
    util_sum: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(hours))
    util_n: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(hours))
    spend: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(hours))
    for rec in sim.records(_START_MS, end_ms):
        hour = (rec.ts_ms - _START_MS) // _HOUR_MS
        if rec.topic == TOPIC_PROVIDER and isinstance(rec.record, ProviderSample):
            util_sum[rec.record.provider_id][hour] += rec.record.gpu_util_pct
            util_n[rec.record.provider_id][hour] += 1
        elif rec.topic == TOPIC_WORKLOAD and isinstance(rec.record, WorkloadSample):
            spend[rec.record.tenant_id][hour] += rec.record.cost_accrued_usd
    util = {
        p: [float(s / n) if n else math.nan for s, n in zip(util_sum[p], util_n[p], strict=True)]
        for p in sorted(util_sum)
    }
    return util, {t: [float(v) for v in spend[t]] for t in sorted(spend)}


def score_series(
    series: Mapping[str, Sequence[float]],
    *,
    period: int,
    horizon: int,
    train_points: int,
    coverage: float,
) -> dict[str, float]:
    """Rolling-origin figures of :class:`SeasonalForecaster` pooled over ``series``."""
    err_model: list[float] = []
    err_naive: list[float] = []
    inside = 0
    insample: list[float] = []
    for values in series.values():
        y = np.asarray(values, dtype=float)
        train = y[:train_points]
        diffs = np.abs(train[period:] - train[:-period])
        insample.extend(float(d) for d in diffs if np.isfinite(d))
        model = SeasonalForecaster(period=period, max_horizon=horizon)
        for t, value in enumerate(y):
            if t >= train_points and model.ready:
                points = model.forecast(horizon, coverage)
                for p in points:
                    target = t + p.step - 1
                    if target >= len(y):
                        break
                    naive = y[target - period * math.ceil(p.step / period)]
                    truth = y[target]
                    if not (np.isfinite(truth) and np.isfinite(naive)):
                        continue
                    err_model.append(abs(truth - p.value))
                    err_naive.append(abs(truth - naive))
                    inside += p.lower <= truth <= p.upper
            model.learn_one(float(value))
    mae = float(np.mean(err_model)) if err_model else math.nan
    mae_naive = float(np.mean(err_naive)) if err_naive else math.nan
    scale = float(np.mean(insample)) if insample else math.nan
    return {
        "mase": mae / mae_naive if mae_naive > 0 else math.nan,
        "mase_insample": mae / scale if scale > 0 else math.nan,
        "mae": mae,
        "mae_seasonal_naive": mae_naive,
        "coverage": inside / len(err_model) if err_model else math.nan,
        "nominal_coverage": coverage,
        "targets": float(len(err_model)),
        "series": float(len(series)),
    }


def evaluate_forecasts(
    seed: int = 11,
    *,
    days: float = 7.0,
    providers: int = 8,
    workloads: int = 24,
    horizon: int = 6,
    train_days: float = 3.0,
    coverage: float = 0.9,
) -> dict[str, object]:
    """Simulate, aggregate hourly, score utilisation and spend forecasts."""
    util, spend = simulated_hourly_series(seed, days=days, providers=providers, workloads=workloads)
    train = int(train_days * 24)

    def score(series: Mapping[str, Sequence[float]]) -> dict[str, float]:
        return score_series(
            series, period=24, horizon=horizon, train_points=train, coverage=coverage
        )

    return {
        "utilisation": score(util),
        "spend": score(spend),
        "parameters": {
            "seed": seed,
            "days": days,
            "providers": providers,
            "workloads": workloads,
            "horizon_hours": horizon,
            "train_days": train_days,
            "period_hours": 24,
        },
    }
