"""The simulated marketplace the reference scheduler applies approved actions to.

It is the scheduler-side half of the loop, kept pure so that ``computeperf scheduler``
stays a thin Kafka adapter: :meth:`SimulatedMarketplace.apply` places or moves a workload
(idempotently: asking again for where a workload already is changes nothing), and
:meth:`SimulatedMarketplace.settle` reports what the action then delivered over a
settling window of simulated time, as an :class:`~schemas.RecommendationOutcome`. The
hosts are :class:`sim.marketplace.MarketplaceSim`'s; a host delivers the predicted
throughput times its own ``perf_factor`` (which the engine does not know) and 3 % noise.

>>> from schemas import Recommendation
>>> market = SimulatedMarketplace(seed=1, providers=4)
>>> rec = Recommendation(recommendation_id="rec-1", ts_ms=1_700_000_000_000,
...     status="approved", kind="place", workload_id="wl-1", provider_id="prov-002",
...     expected_throughput=100.0, cost_usd_per_hour=2.0, perf_per_dollar_gain=0.2,
...     sla_risk=0.1, confidence=0.8, rationale="", expires_at_ms=1_700_000_600_000)
>>> market.apply(rec, 1_700_000_001_000)
(<FeedbackOutcome.APPLIED: 'applied'>, 'wl-1 placed on prov-002')
>>> market.apply(rec, 1_700_000_002_000)[1]
'wl-1 already on prov-002'
>>> out = market.settle(rec, 1_700_000_001_000)
>>> out.samples, abs(out.throughput_error) < 0.2
(15, True)
"""

from __future__ import annotations

import hashlib

import numpy as np

from schemas import FeedbackOutcome, Recommendation, RecommendationKind, RecommendationOutcome
from sim.marketplace import MarketplaceSim
from workflow.validation import AppliedAction, OutcomeTracker

__all__ = ["SimulatedMarketplace"]

_STEP_MS = 60_000


class SimulatedMarketplace:
    """Placements of workloads on the simulator's hosts; see the module docstring.

    Parameters
    ----------
    seed, providers : int
        The fleet (``MarketplaceSim(seed, providers)``'s hosts, ids ``prov-000``...).
    settling_ms : int
        Length of the window :meth:`settle` measures.

    Examples
    --------
    >>> SimulatedMarketplace(seed=1, providers=3).placements
    {}
    """

    def __init__(self, seed: int = 0, providers: int = 12, settling_ms: int = 900_000) -> None:
        fleet = MarketplaceSim(seed=seed, providers=providers, workloads=0).provider_profiles
        self.hosts = {p.provider_id: p for p in fleet}
        self.settling_ms = settling_ms
        self.placements: dict[str, str] = {}

    def apply(self, rec: Recommendation, now_ms: int) -> tuple[FeedbackOutcome, str]:
        """Carry out ``rec``; returns the outcome and a detail for the feedback record."""
        w, target = rec.workload_id, rec.provider_id
        if now_ms > rec.expires_at_ms:
            return FeedbackOutcome.SKIPPED, f"expired at {rec.expires_at_ms}"
        if target not in self.hosts:
            return FeedbackOutcome.FAILED, f"unknown provider {target}"
        current = self.placements.get(w)
        if current == target:
            return FeedbackOutcome.APPLIED, f"{w} already on {target}"
        moving = rec.kind in (RecommendationKind.MIGRATE, RecommendationKind.REBALANCE)
        if moving and current is not None and current != rec.from_provider_id:
            return FeedbackOutcome.FAILED, f"{w} is on {current}, not {rec.from_provider_id}"
        self.placements[w] = target
        verb = "moved to" if moving else "placed on"
        return FeedbackOutcome.APPLIED, f"{w} {verb} {target}"

    def settle(self, rec: Recommendation, applied_ms: int) -> RecommendationOutcome:
        """Realised vs predicted over the settling window after ``applied_ms``."""
        host = self.hosts[rec.provider_id]
        digest = hashlib.sha256(rec.recommendation_id.encode()).digest()
        rng = np.random.default_rng(int.from_bytes(digest[:8], "big"))
        tracker = OutcomeTracker(settling_ms=self.settling_ms, min_samples=1)
        tracker.applied(
            AppliedAction(
                rec.recommendation_id,
                rec.workload_id,
                rec.provider_id,
                ("*", rec.kind.value),
                applied_ms,
                rec.expected_throughput,
                rec.cost_usd_per_hour,
            )
        )
        outcomes = []
        for ts in range(applied_ms, applied_ms + self.settling_ms + _STEP_MS, _STEP_MS):
            tput = rec.expected_throughput * host.perf_factor * float(np.exp(0.03 * rng.normal()))
            outcomes += tracker.observe(
                rec.workload_id, rec.provider_id, ts, tput, rec.cost_usd_per_hour
            )
        [outcome] = outcomes
        return RecommendationOutcome(
            recommendation_id=rec.recommendation_id,
            ts_ms=outcome.settled_ms,
            workload_id=rec.workload_id,
            provider_id=rec.provider_id,
            applied_at_ms=applied_ms,
            predicted_throughput=rec.expected_throughput,
            realised_throughput=outcome.realised_throughput,
            predicted_cost_usd_per_hour=rec.cost_usd_per_hour,
            realised_cost_usd_per_hour=outcome.realised_cost_usd_per_hour,
            sla_violation_fraction=outcome.sla_violation_fraction,
            samples=outcome.samples,
            throughput_error=outcome.throughput_error,
        )
