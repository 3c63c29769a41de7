"""Report figures against a direct computation; trend significance; HTML and e-mail shape."""

from __future__ import annotations

from email import message_from_bytes, policy

import numpy as np
import pandas as pd
import pytest

from reports.mail import build_email
from reports.render import cid_uris, data_uris, draw_charts, render_html
from reports.summary import summarise
from schemas import SLA, ProviderInfo, WorkloadSpec

T = 1_700_000_000_000 - 1_700_000_000_000 % 86_400_000  # a UTC midnight
DAY = 86_400_000


def _catalog() -> dict[str, ProviderInfo]:
    return {
        p: ProviderInfo(
            provider_id=p,
            ts_ms=T,
            region="eu",
            gpu_model=model,
            gpu_count=8,
            vram_gb_per_gpu=80,
            price_usd_per_gpu_hour=2.0,
            status="online",
        )
        for p, model in (("p1", "A100"), ("p2", "A100"), ("p3", "H100"))
    }


def _samples(rng: np.random.Generator, drift: float = 0.0, step_ms: int = 300_000) -> pd.DataFrame:
    rows = []
    plan = [("w1", "p1", "t1", "inference"), ("w2", "p2", "t1", "inference"),
            ("w3", "p3", "t2", "training"), ("w4", "p1", "t2", "training")]  # fmt: skip
    for i, ts in enumerate(range(T, T + DAY, step_ms)):
        for wid, pid, tenant, kind in plan:
            base = {"p1": 100.0, "p2": 60.0, "p3": 150.0}[pid]
            rows.append(
                dict(
                    workload_id=wid,
                    provider_id=pid,
                    tenant_id=tenant,
                    workload_type=kind,
                    ts_ms=ts,
                    throughput=base * (1 + drift * i) * rng.uniform(0.9, 1.1),
                    latency_ms=float(rng.uniform(20, 80)),
                    cost_accrued_usd=0.1,
                )
            )
    return pd.DataFrame(rows)


def test_per_type_and_cohorts_match_a_direct_computation() -> None:
    df = _samples(np.random.default_rng(1))
    figs = summarise("day", T, T + DAY, df, _catalog())
    for kind in ("inference", "training"):
        part = df[df["workload_type"] == kind]
        expected = (part["throughput"] * 300).sum() / part["cost_accrued_usd"].sum()
        assert figs.per_type[kind] == pytest.approx(expected)
    a100_inference = next(c for c in figs.cohorts if c["cohort"] == "A100/inference")
    assert (a100_inference["best_provider"], a100_inference["worst_provider"]) == ("p1", "p2")
    assert a100_inference["providers"] == 2
    assert figs.spend_usd == pytest.approx(df["cost_accrued_usd"].sum())
    expected_spend = df.groupby("tenant_id")["cost_accrued_usd"].sum()
    assert {t["tenant_id"]: t["spend_usd"] for t in figs.tenants} == pytest.approx(
        expected_spend.to_dict()
    )
    assert figs.samples == len(df) and figs.workloads == 4 and figs.providers == 3


def test_trend_is_improving_only_when_perf_per_dollar_really_rises() -> None:
    flat = summarise("day", T, T + DAY, _samples(np.random.default_rng(2)), _catalog())
    rising = summarise("day", T, T + DAY, _samples(np.random.default_rng(2), 0.004), _catalog())
    falling = summarise("day", T, T + DAY, _samples(np.random.default_rng(2), -0.002), _catalog())
    assert flat.trend_direction == "flat"
    assert rising.trend_direction == "improving"
    assert falling.trend_direction == "worsening"
    assert len(rising.trend) == 24  # hourly buckets in a day


def test_sla_compliance_counts_minutes_meeting_the_objectives() -> None:
    rows = [
        dict(workload_id="w1", provider_id="p1", tenant_id="t1", workload_type="inference",
             ts_ms=T + m * 60_000, throughput=50.0 if m < 15 else 120.0, latency_ms=40.0,
             cost_accrued_usd=0.01)
        for m in range(60)
    ]  # fmt: skip
    spec = WorkloadSpec(
        tenant_id="t1", workload_type="inference", gpus=1, vram_gb_per_gpu=16,
        sla=SLA(min_throughput=100.0, max_p95_latency_ms=100.0),
    )  # fmt: skip
    figs = summarise("day", T, T + DAY, pd.DataFrame(rows), _catalog(), {"w1": spec})
    assert figs.sla == [{"workload_id": "w1", "minutes": 60, "minutes_met": 45, "compliance": 0.75}]
    assert figs.sla_compliance == 0.75
    assert figs.headline()["sla_compliance"] == 0.75


def test_samples_outside_the_period_are_ignored_and_bad_period_refused() -> None:
    df = _samples(np.random.default_rng(3))
    shifted = df.assign(ts_ms=df["ts_ms"] + DAY)
    figs = summarise("day", T, T + DAY, pd.concat([df, shifted]), _catalog())
    assert figs.samples == len(df)
    with pytest.raises(ValueError, match="period must be"):
        summarise("month", T, T + DAY, df, _catalog())


def test_the_email_carries_the_html_and_every_chart_as_an_inline_part() -> None:
    figs = summarise("day", T, T + DAY, _samples(np.random.default_rng(4)), _catalog())
    charts = draw_charts(figs)
    assert set(charts) == {"trend", "spend"}
    html = render_html(figs, cid_uris(charts))
    msg = build_email("r", html, charts, "a@example.org", ["b@example.org", "c@example.org"])
    parsed = message_from_bytes(msg.as_bytes(), policy=policy.default)
    body = parsed.get_body(preferencelist=("html",))
    assert body is not None
    content = body.get_content()
    for name in charts:
        assert f"cid:{name}@computeperf" in content
    images = {
        p["Content-ID"]: p.get_content()
        for p in parsed.walk()
        if p.get_content_maintype() == "image"
    }
    assert images == {f"<{k}@computeperf>": v for k, v in charts.items()}
    page = render_html(figs, data_uris(charts))
    assert "cid:" not in page and page.count("data:image/png;base64,") == len(charts)
