"""The reference scheduler's simulated marketplace: idempotent apply, refusals, outcomes."""

from __future__ import annotations

import pytest

from schemas import FeedbackOutcome, Recommendation
from sim.reference_market import SimulatedMarketplace

T0 = 1_700_000_000_000


def rec(
    rid: str,
    kind: str = "place",
    target: str = "prov-001",
    source: str | None = None,
    ttl_ms: int = 600_000,
) -> Recommendation:
    return Recommendation(
        recommendation_id=rid,
        ts_ms=T0,
        status="approved",
        kind=kind,
        workload_id="wl-1",
        provider_id=target,
        from_provider_id=source,
        expected_throughput=500.0,
        cost_usd_per_hour=4.0,
        perf_per_dollar_gain=0.2,
        sla_risk=0.1,
        confidence=0.8,
        rationale="",
        expires_at_ms=T0 + ttl_ms,
    )


def test_apply_is_idempotent_and_refuses_what_it_cannot_do() -> None:
    m = SimulatedMarketplace(seed=2, providers=4)
    assert m.apply(rec("a"), T0)[0] is FeedbackOutcome.APPLIED
    assert m.apply(rec("a"), T0 + 1) == (FeedbackOutcome.APPLIED, "wl-1 already on prov-001")
    assert m.apply(rec("b", target="prov-999"), T0)[0] is FeedbackOutcome.FAILED
    assert m.apply(rec("c", ttl_ms=10), T0 + 11)[0] is FeedbackOutcome.SKIPPED
    wrong = rec("d", kind="migrate", target="prov-002", source="prov-003")
    assert m.apply(wrong, T0)[0] is FeedbackOutcome.FAILED
    move = rec("e", kind="migrate", target="prov-002", source="prov-001")
    assert m.apply(move, T0) == (FeedbackOutcome.APPLIED, "wl-1 moved to prov-002")
    assert m.placements == {"wl-1": "prov-002"}


def test_settle_reports_the_host_factor_as_the_error() -> None:
    m = SimulatedMarketplace(seed=2, providers=4, settling_ms=1_800_000)
    r = rec("a", target="prov-003")
    out = m.settle(r, T0)
    host = m.hosts["prov-003"].perf_factor
    assert out.samples == 30 and out.applied_at_ms == T0
    assert out.realised_throughput == pytest.approx(500.0 * host, rel=0.03)
    assert out.throughput_error == pytest.approx(out.realised_throughput / 500.0 - 1.0)
    assert m.settle(r, T0) == out  # same recommendation, same outcome
