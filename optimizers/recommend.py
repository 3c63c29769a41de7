"""Recommendation records from placement results and migration decisions (pure).

The scheduler reads :class:`~schemas.Recommendation` records keyed by
``recommendation_id`` from a compacted topic, so ids are deterministic: the same proposal
(kind, workload, target, source) always gets the same id and re-sending it is idempotent.
A *different* proposal for a workload gets a new id, and :func:`supersede` emits a
``superseded`` record for the old one first, so the scheduler never sees two live
proposals for one workload.

Numbers in a record:

* ``expected_throughput`` and ``cost_usd_per_hour`` on the target;
* ``perf_per_dollar_gain``: ``(t / c) / (t0 / c0) - 1`` against what cheapest-first (the
  marketplace today) would have done with this workload (placements) or against where it
  runs now (migrations); 0 when there is nothing to compare with;
* ``sla_risk``: probability of breaking the SLA's throughput floor (and, for serving
  workloads with a latency estimate, its p95 latency ceiling), reading the conformal
  interval as a log-normal with the interval's nominal coverage; two risks combine as
  independent;
* ``confidence``: probability that the realised throughput is within 10 % of the
  expected one, under the same log-normal.

>>> from optimizers.problem import PendingWorkload, PlacementProblem, ProviderCapacity
>>> from optimizers.baselines import cheapest_first
>>> prob = PlacementProblem(
...     (ProviderCapacity("cheap", "us-east", "L4 24GB", 1, 24.0, 0.4),
...      ProviderCapacity("fast", "us-east", "H100 80GB", 1, 80.0, 2.0)),
...     (PendingWorkload("w1", "acme", 1, 24.0),), [[0.3, 2.4]])
>>> est = {"cheap": Estimate(0.3, 0.25, 0.36), "fast": Estimate(2.4, 2.0, 2.9)}
>>> recs = placement_recommendations(
...     prob, {"w1": "fast"}, cheapest_first(prob).assignments,
...     lambda w, p: est[p.provider_id], now_ms=1_700_000_000_000, ttl_ms=600_000)
>>> r = recs[0]
>>> r.provider_id, round(r.perf_per_dollar_gain, 2), r.status.value
('fast', 0.6, 'proposed')
>>> print(r.rationale)  # doctest: +NORMALIZE_WHITESPACE
place w1 on fast (H100 80GB, us-east): expected throughput 2.4 (90% interval 2-2.9)
at 2.00 USD/h, perf per dollar 1.2 vs 0.75 on cheap chosen by cheapest-first (+60%)
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Protocol

from optimizers.migration import MigrationDecision
from optimizers.problem import PendingWorkload, PlacementProblem, ProviderCapacity
from optimizers.result import Unplaced
from schemas import (
    SLA,
    EntityType,
    Insight,
    Recommendation,
    RecommendationKind,
    RecommendationStatus,
    RootCauseScope,
)

__all__ = [
    "Estimate",
    "Interval",
    "confidence_within",
    "migration_recommendations",
    "placement_recommendations",
    "recommendation_id",
    "sla_risk",
    "supersede",
    "unplaced_insight",
]

_STD = NormalDist()
#: Reasons that mean "the workload's own requirements rule the fleet out".
_WORKLOAD_REASONS = frozenset(
    {"gpu_model", "region", "vram", "max_price", "reputation", "constraints"}
)


class Interval(Protocol):
    """A prediction with a calibrated interval (``models.prediction.Prediction`` is one)."""

    @property
    def value(self) -> float: ...

    @property
    def low(self) -> float: ...

    @property
    def high(self) -> float: ...


@dataclass(frozen=True, slots=True)
class Estimate:
    """A plain :class:`Interval`.

    >>> Estimate(2.0, 1.5, 2.5).value
    2.0
    """

    value: float
    low: float
    high: float


EstimateFn = Callable[[PendingWorkload, ProviderCapacity], Interval]


def recommendation_id(
    kind: RecommendationKind | str, workload_id: str, provider_id: str, from_provider_id: str = ""
) -> str:
    """Deterministic id of one proposal.

    >>> recommendation_id("place", "w1", "p1") == recommendation_id("place", "w1", "p1")
    True
    >>> recommendation_id("place", "w1", "p1") == recommendation_id("place", "w1", "p2")
    False
    """
    kind = RecommendationKind(kind).value
    blob = "\x1f".join((kind, workload_id, provider_id, from_provider_id)).encode()
    return f"rec-{kind}-{hashlib.sha256(blob).hexdigest()[:20]}"


def _sigma(est: Interval, nominal: float) -> float:
    # Half the log-width of a central interval of coverage ``nominal``, in standard units.
    z = _STD.inv_cdf(0.5 + nominal / 2.0)
    if not (est.value > 0 and est.low > 0 and math.isfinite(est.high) and est.high >= est.low):
        return math.inf
    return max(math.log(est.high / est.low) / (2.0 * z), 1e-9)


def sla_risk(
    sla: SLA | None,
    throughput: Interval,
    latency_ms: Interval | None = None,
    nominal: float = 0.9,
) -> float:
    """Probability of breaking ``sla`` given throughput (and latency) estimates.

    >>> round(sla_risk(SLA(min_throughput=2.0), Estimate(2.0, 1.5, 2.6)), 2)
    0.5
    >>> sla_risk(None, Estimate(2.0, 1.5, 2.6))
    0.0
    """
    if sla is None:
        return 0.0
    risks = []
    if sla.min_throughput is not None and sla.min_throughput > 0:
        risks.append(_below(throughput, sla.min_throughput, nominal))
    if sla.max_p95_latency_ms is not None and latency_ms is not None:
        # Only the typical latency is predicted; its p95 is not, so this is a lower bound.
        risks.append(1.0 - _below(latency_ms, sla.max_p95_latency_ms, nominal))
    ok = 1.0
    for r in risks:
        ok *= 1.0 - r
    return min(1.0, max(0.0, 1.0 - ok))


def _below(est: Interval, limit: float, nominal: float) -> float:
    sigma = _sigma(est, nominal)
    if not est.value > 0:
        return 1.0
    if math.isinf(sigma):
        return 0.5
    return _STD.cdf((math.log(limit) - math.log(est.value)) / sigma)


def confidence_within(est: Interval, tolerance: float = 0.1, nominal: float = 0.9) -> float:
    """Probability that the outcome is within ``tolerance`` of ``est.value`` (log-normal).

    >>> round(confidence_within(Estimate(2.0, 1.6, 2.5)), 2)
    0.52
    """
    sigma = _sigma(est, nominal)
    if math.isinf(sigma):
        return 0.0
    return min(1.0, max(0.0, 2.0 * _STD.cdf(math.log1p(tolerance) / sigma) - 1.0))


def _ppd(throughput: float, cost: float) -> float:
    return throughput / cost if cost > 0 else 0.0


def _gain(ppd: float, ppd_base: float) -> float:
    return ppd / ppd_base - 1.0 if ppd_base > 0 else 0.0


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def placement_recommendations(
    problem: PlacementProblem,
    assignments: Mapping[str, str],
    baseline: Mapping[str, str],
    estimate: EstimateFn,
    *,
    now_ms: int,
    ttl_ms: int,
    slas: Mapping[str, SLA] | None = None,
    latency: Callable[[PendingWorkload, ProviderCapacity], Interval | None] | None = None,
    nominal: float = 0.9,
) -> list[Recommendation]:
    """One ``place`` proposal per assigned workload, in the problem's workload order.

    ``baseline`` is what cheapest-first assigns (workload id to provider id).
    """
    providers = {p.provider_id: p for p in problem.providers}
    slas = slas or {}
    out = []
    for w in problem.workloads:
        pid = assignments.get(w.workload_id)
        if pid is None:
            continue
        p = providers[pid]
        est = estimate(w, p)
        cost = p.price_usd_per_gpu_hour * w.gpus
        ppd = _ppd(est.value, cost)
        base_pid = baseline.get(w.workload_id)
        if base_pid is None:
            gain, versus = 0.0, "cheapest-first could not place it"
        else:
            b = providers[base_pid]
            ppd_base = _ppd(estimate(w, b).value, b.price_usd_per_gpu_hour * w.gpus)
            gain = _gain(ppd, ppd_base)
            versus = (
                f"{_fmt(ppd_base)} on {base_pid} chosen by cheapest-first ({gain:+.0%})"
                if base_pid != pid
                else "the same provider cheapest-first picks"
            )
        lat = latency(w, p) if latency is not None else None
        risk = sla_risk(slas.get(w.workload_id), est, lat, nominal)
        rationale = (
            f"place {w.workload_id} on {pid} ({p.gpu_model}, {p.region}): expected throughput "
            f"{_fmt(est.value)} ({nominal:.0%} interval {_fmt(est.low)}-{_fmt(est.high)}) at "
            f"{cost:.2f} USD/h, perf per dollar {_fmt(ppd)} vs {versus}"
        )
        if lat is not None:
            rationale += f"; expected latency {_fmt(lat.value)} ms"
        if risk > 0:
            rationale += f"; SLA risk {risk:.0%}"
        out.append(
            Recommendation(
                recommendation_id=recommendation_id(RecommendationKind.PLACE, w.workload_id, pid),
                ts_ms=now_ms,
                status=RecommendationStatus.PROPOSED,
                kind=RecommendationKind.PLACE,
                workload_id=w.workload_id,
                provider_id=pid,
                expected_throughput=max(0.0, est.value),
                cost_usd_per_hour=cost,
                perf_per_dollar_gain=gain,
                sla_risk=risk,
                confidence=confidence_within(est, nominal=nominal),
                rationale=rationale,
                expires_at_ms=now_ms + ttl_ms,
            )
        )
    return out


def migration_recommendations(
    decisions: Iterable[MigrationDecision],
    estimates: Mapping[str, Interval],
    *,
    now_ms: int,
    ttl_ms: int,
    horizon_h: float,
    slas: Mapping[str, SLA] | None = None,
    nominal: float = 0.9,
) -> list[Recommendation]:
    """One ``migrate`` proposal per decision that moves (``estimates`` by workload id)."""
    slas = slas or {}
    out = []
    for d in decisions:
        if not d.move or d.to_provider_id is None:
            continue
        est = estimates.get(d.workload_id) or Estimate(
            d.throughput_after, d.throughput_after, d.throughput_after
        )
        ppd = _ppd(d.throughput_after, d.cost_after_usd_per_hour)
        ppd_before = _ppd(d.throughput_before, d.cost_before_usd_per_hour)
        # From nothing the relative gain is unbounded; the record's float must be finite.
        gain = _gain(ppd, ppd_before)
        versus = f"perf per dollar {gain:+.0%}" if ppd_before > 0 else "it delivers nothing now"
        rationale = (
            f"move {d.workload_id} from {d.from_provider_id} to {d.to_provider_id}: throughput "
            f"{_fmt(d.throughput_before)} -> {_fmt(d.throughput_after)}, cost "
            f"{d.cost_before_usd_per_hour:.2f} -> {d.cost_after_usd_per_hour:.2f} USD/h "
            f"({versus}); over {horizon_h:g} h it gains "
            f"{d.gain_usd:.2f} USD against a move costing {d.migration_cost_usd:.2f} USD"
        )
        out.append(
            Recommendation(
                recommendation_id=recommendation_id(
                    RecommendationKind.MIGRATE, d.workload_id, d.to_provider_id, d.from_provider_id
                ),
                ts_ms=now_ms,
                status=RecommendationStatus.PROPOSED,
                kind=RecommendationKind.MIGRATE,
                workload_id=d.workload_id,
                provider_id=d.to_provider_id,
                from_provider_id=d.from_provider_id,
                expected_throughput=max(0.0, d.throughput_after),
                cost_usd_per_hour=d.cost_after_usd_per_hour,
                perf_per_dollar_gain=gain,
                sla_risk=sla_risk(slas.get(d.workload_id), est, None, nominal),
                confidence=confidence_within(est, nominal=nominal),
                rationale=rationale,
                expires_at_ms=now_ms + ttl_ms,
            )
        )
    return out


def supersede(
    live: Mapping[str, Recommendation],
    proposals: Sequence[Recommendation],
    *,
    now_ms: int,
    withdrawn: Iterable[tuple[str, str]] = (),
) -> tuple[list[Recommendation], dict[str, Recommendation]]:
    """Records to send, and the new live proposal per workload.

    ``live`` is the latest proposal per workload id. A proposal with the id of the live
    one is sent again only when the live one has expired; one with another id first
    sends a ``superseded`` record for the live one. ``withdrawn`` lists
    ``(workload_id, reason)`` of workloads whose live proposal no longer holds (placed
    elsewhere, unplaceable now): they are superseded with that reason.

    >>> from optimizers.recommend import Estimate
    >>> def rec(pid):
    ...     return Recommendation(recommendation_id=recommendation_id("place", "w1", pid),
    ...         ts_ms=10**12, status="proposed", kind="place", workload_id="w1",
    ...         provider_id=pid, expected_throughput=1.0, cost_usd_per_hour=1.0,
    ...         perf_per_dollar_gain=0.0, sla_risk=0.0, confidence=0.5, rationale="",
    ...         expires_at_ms=10**12 + 1000)
    >>> sent, live = supersede({}, [rec("p1")], now_ms=10**12)
    >>> sent2, live = supersede(live, [rec("p1")], now_ms=10**12 + 5)
    >>> sent3, live = supersede(live, [rec("p2")], now_ms=10**12 + 9)
    >>> len(sent), len(sent2), [(r.provider_id, r.status.value) for r in sent3]
    (1, 0, [('p1', 'superseded'), ('p2', 'proposed')])
    """
    state = dict(live)
    out: list[Recommendation] = []
    for workload_id, reason in withdrawn:
        old = state.pop(workload_id, None)
        if old is not None:
            out.append(_superseded(old, now_ms, reason))
    for new in proposals:
        old = state.get(new.workload_id)
        if old is not None and old.recommendation_id == new.recommendation_id:
            if old.expires_at_ms > now_ms:
                continue  # still live and unchanged: nothing to say
        elif old is not None:
            out.append(_superseded(old, now_ms, f"superseded by {new.recommendation_id}"))
        out.append(new)
        state[new.workload_id] = new
    return out, state


def _superseded(old: Recommendation, now_ms: int, reason: str) -> Recommendation:
    ts = max(now_ms, old.ts_ms)
    return old.model_copy(
        update={
            "status": RecommendationStatus.SUPERSEDED,
            "ts_ms": ts,
            "expires_at_ms": max(old.expires_at_ms, ts),
            "reason": reason,
        }
    )


def unplaced_insight(unplaced: Unplaced, now_ms: int) -> Insight:
    """Why a workload got no recommendation, as an ``Insight`` for ``perf.insights``.

    Keyed like every insight by entity (``workload:<id>``); the id is deterministic per
    workload and reason, so a repeated verdict overwrites rather than piles up.

    >>> i = unplaced_insight(Unplaced("w1", "vram", "vram rules out all 3 providers"), 10**12)
    >>> i.kind, i.scope.value, i.evidence["reason"], i.summary
    ('unplaceable', 'workload', 'vram', 'vram rules out all 3 providers')
    """
    digest = hashlib.sha256(f"{unplaced.workload_id}\x1f{unplaced.reason}".encode()).hexdigest()
    scope = (
        RootCauseScope.WORKLOAD if unplaced.reason in _WORKLOAD_REASONS else RootCauseScope.UNKNOWN
    )
    return Insight(
        insight_id=f"unplaceable-{digest[:20]}",
        entity_type=EntityType.WORKLOAD,
        entity_id=unplaced.workload_id,
        ts_ms=now_ms,
        kind="unplaceable",
        scope=scope,
        evidence={"reason": unplaced.reason, "detail": unplaced.detail},
        confidence=1.0,
        summary=unplaced.detail,
    )
