"""The figures of a performance report, computed from the records of its period (pure).

:func:`summarise` takes the workload samples of ``[start_ms, end_ms)``, the provider
catalogue, the workload specs (for their SLAs), and the recommendation and scheduler
feedback records, and returns :class:`ReportFigures`:

- **perf per dollar** per workload type (work done per USD, in the type's unit: work is
  throughput x the workload's sample interval), and a **fleet index** per bucket (hour
  for a day, day for a week): each type's perf per dollar relative to its period value,
  averaged with spend weights (1.0 = the period's level), with a Theil-Sen slope and a
  Kendall-tau significance against time: "is it getting better?";
- **best and worst provider per cohort** (GPU model x workload type) by perf per dollar;
- **SLA compliance** per workload: the share of minutes meeting its throughput and p95
  latency objectives (minutes with samples only);
- **spend** per tenant against its budget (when budgets are given);
- **recommendations** proposed/approved/applied in the period and the applied ones'
  realised outcomes from ``scheduler.feedback``.

>>> import pandas as pd
>>> T = 1_700_000_000_000
>>> rows = [dict(workload_id="w1", provider_id="p1", tenant_id="t1",
...              workload_type="inference", ts_ms=T + i * 60_000, throughput=100.0,
...              latency_ms=50.0, cost_accrued_usd=0.5) for i in range(60)]
>>> figs = summarise("day", T, T + 3_600_000, pd.DataFrame(rows), catalog={})
>>> figs.per_type["inference"], figs.spend_usd, figs.tenants[0]["spend_usd"]
(12000.0, 30.0, 30.0)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from schemas import ProviderInfo, Recommendation, SchedulerFeedback, WorkloadSpec

__all__ = ["SAMPLE_COLUMNS", "ReportFigures", "summarise"]

SAMPLE_COLUMNS = (
    "workload_id",
    "provider_id",
    "tenant_id",
    "workload_type",
    "ts_ms",
    "throughput",
    "latency_ms",
    "cost_accrued_usd",
)
BUCKET_MS = {"day": 3_600_000, "week": 86_400_000}
MINUTE_MS = 60_000


@dataclass(frozen=True)
class ReportFigures:
    """Everything a report shows; plain data, JSON-able via :meth:`headline`."""

    period: str
    start_ms: int
    end_ms: int
    samples: int
    workloads: int
    providers: int
    spend_usd: float
    per_type: dict[str, float]  # workload type -> work per USD
    trend: list[tuple[int, float]]  # (bucket start ms, fleet perf-per-dollar index)
    trend_slope_per_bucket: float | None
    trend_p_value: float | None
    cohorts: list[dict[str, Any]]
    sla: list[dict[str, Any]]
    tenants: list[dict[str, Any]]
    recommendations: dict[str, int] = field(default_factory=dict)
    feedback: dict[str, int] = field(default_factory=dict)

    @property
    def trend_direction(self) -> str:
        """``improving``, ``worsening`` or ``flat`` (not significant at 5 %)."""
        if self.trend_slope_per_bucket is None or self.trend_p_value is None:
            return "flat"
        if self.trend_p_value >= 0.05:
            return "flat"
        return "improving" if self.trend_slope_per_bucket > 0 else "worsening"

    @property
    def sla_compliance(self) -> float | None:
        """Minute-weighted share of SLA-meeting minutes over workloads with an SLO."""
        minutes = sum(row["minutes"] for row in self.sla)
        met = sum(row["minutes_met"] for row in self.sla)
        return met / minutes if minutes else None

    def headline(self) -> dict[str, float | int | str]:
        """The summary figures a ``Report`` record carries."""
        out: dict[str, float | int | str] = {
            "samples": self.samples,
            "workloads": self.workloads,
            "providers": self.providers,
            "spend_usd": round(self.spend_usd, 4),
            "trend": self.trend_direction,
            "recommendations_applied": self.recommendations.get("applied", 0),
        }
        for workload_type, value in sorted(self.per_type.items()):
            out[f"perf_per_dollar_{workload_type}"] = round(value, 4)
        if self.sla_compliance is not None:
            out["sla_compliance"] = round(self.sla_compliance, 4)
        return out


def _interval_s(df: pd.DataFrame) -> pd.Series:
    """Each sample's interval: its workload's median spacing of samples (1 s if alone)."""
    gaps = df.groupby("workload_id")["ts_ms"].diff()
    median = gaps.groupby(df["workload_id"]).transform("median")
    return (median.fillna(1000.0) / 1000.0).astype(float)


def _trend(series: pd.Series) -> tuple[float | None, float | None]:
    if len(series) < 3 or series.nunique() < 2:
        return None, None
    x = np.arange(len(series), dtype=float)
    slope = float(stats.theilslopes(series.to_numpy(), x)[0])
    p_value = float(stats.kendalltau(x, series.to_numpy()).pvalue)
    return slope, p_value


def _cohorts(df: pd.DataFrame, catalog: Mapping[str, ProviderInfo]) -> list[dict[str, Any]]:
    gpu = df["provider_id"].map(lambda p: catalog[p].gpu_model if p in catalog else "unknown")
    per = (
        df.assign(gpu_model=gpu)
        .groupby(["gpu_model", "workload_type", "provider_id"])[["work", "cost_accrued_usd"]]
        .sum()
    )
    per = per[per["cost_accrued_usd"] > 0]
    per["perf_per_dollar"] = per["work"] / per["cost_accrued_usd"]
    rows = []
    for (gpu_model, workload_type), group in per.groupby(level=[0, 1]):
        ranked = group["perf_per_dollar"].sort_values(ascending=False)
        best, worst = ranked.index[0][2], ranked.index[-1][2]
        rows.append(
            {
                "cohort": f"{gpu_model}/{workload_type}",
                "providers": len(ranked),
                "best_provider": best,
                "best_perf_per_dollar": float(ranked.iloc[0]),
                "worst_provider": worst,
                "worst_perf_per_dollar": float(ranked.iloc[-1]),
            }
        )
    return sorted(rows, key=lambda r: str(r["cohort"]))


def _sla(df: pd.DataFrame, specs: Mapping[str, WorkloadSpec]) -> list[dict[str, Any]]:
    rows = []
    minutes = df.assign(minute=df["ts_ms"] // MINUTE_MS)
    for workload_id, group in minutes.groupby("workload_id"):
        spec = specs.get(str(workload_id))
        if spec is None:
            continue
        sla = spec.sla
        if sla.min_throughput is None and sla.max_p95_latency_ms is None:
            continue
        per_minute = group.groupby("minute").agg(
            throughput=("throughput", "mean"), p95=("latency_ms", lambda s: s.quantile(0.95))
        )
        ok = pd.Series(True, index=per_minute.index)
        if sla.min_throughput is not None:
            ok &= per_minute["throughput"] >= sla.min_throughput
        if sla.max_p95_latency_ms is not None:
            ok &= per_minute["p95"].isna() | (per_minute["p95"] <= sla.max_p95_latency_ms)
        rows.append(
            {
                "workload_id": str(workload_id),
                "minutes": len(per_minute),
                "minutes_met": int(ok.sum()),
                "compliance": float(ok.mean()),
            }
        )
    return sorted(rows, key=lambda r: r["compliance"])


def summarise(
    period: str,
    start_ms: int,
    end_ms: int,
    samples: pd.DataFrame,
    catalog: Mapping[str, ProviderInfo],
    specs: Mapping[str, WorkloadSpec] | None = None,
    recommendations: Iterable[Recommendation] = (),
    feedback: Iterable[SchedulerFeedback] = (),
    budgets_usd: Mapping[str, float] | None = None,
) -> ReportFigures:
    """Compute the report's figures; samples outside ``[start_ms, end_ms)`` are ignored."""
    if period not in BUCKET_MS:
        raise ValueError(f"period must be one of {sorted(BUCKET_MS)}, got {period!r}")
    df = pd.DataFrame(samples, columns=list(SAMPLE_COLUMNS)) if samples.empty else samples
    df = df[(df["ts_ms"] >= start_ms) & (df["ts_ms"] < end_ms)].sort_values("ts_ms")
    df = df.assign(work=df["throughput"] * _interval_s(df))
    spend = float(df["cost_accrued_usd"].sum())
    by_type = df.groupby("workload_type")[["work", "cost_accrued_usd"]].sum()
    by_type = by_type[by_type["cost_accrued_usd"] > 0]
    per_type = (by_type["work"] / by_type["cost_accrued_usd"]).astype(float)
    bucket = BUCKET_MS[period]
    by_bucket = df.assign(bucket=start_ms + (df["ts_ms"] - start_ms) // bucket * bucket)
    sums = by_bucket.groupby(["bucket", "workload_type"])[["work", "cost_accrued_usd"]].sum()
    sums = sums[sums["cost_accrued_usd"] > 0].reset_index()
    sums["index"] = (sums["work"] / sums["cost_accrued_usd"]) / sums["workload_type"].map(per_type)
    series = sums.groupby("bucket").apply(
        lambda g: float(np.average(g["index"], weights=g["cost_accrued_usd"])),
        include_groups=False,
    )
    slope, p_value = _trend(series)
    tenant_spend = df.groupby("tenant_id")["cost_accrued_usd"].sum()
    budgets = budgets_usd or {}
    tenants = [
        {
            "tenant_id": str(tenant),
            "spend_usd": float(amount),
            "budget_usd": budgets.get(str(tenant)),
            "budget_used": (float(amount) / budgets[str(tenant)])
            if budgets.get(str(tenant))
            else None,
        }
        for tenant, amount in tenant_spend.sort_values(ascending=False).items()
    ]
    in_period = [r for r in recommendations if start_ms <= r.ts_ms < end_ms]
    return ReportFigures(
        period=period,
        start_ms=start_ms,
        end_ms=end_ms,
        samples=len(df),
        workloads=int(df["workload_id"].nunique()),
        providers=int(df["provider_id"].nunique()),
        spend_usd=spend,
        per_type={str(k): float(v) for k, v in per_type.items()},
        trend=[(int(k), float(v)) for k, v in series.items()],
        trend_slope_per_bucket=slope,
        trend_p_value=p_value,
        cohorts=_cohorts(df, catalog) if len(df) else [],
        sla=_sla(df, specs or {}) if len(df) else [],
        tenants=tenants,
        recommendations=dict(Counter(r.status.value for r in in_period)),
        feedback=dict(Counter(f.outcome.value for f in feedback if start_ms <= f.ts_ms < end_ms)),
    )
