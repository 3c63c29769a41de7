"""The lifecycle of a recommendation as a validated state machine.

Every status change is a *new* :class:`~schemas.Recommendation` record with the same
``recommendation_id`` (the topic is compacted, the latest record wins) carrying who made
the change (``actor``), when (``ts_ms``) and why (``reason``). :func:`transition` is the
only way this package changes a status, so an illegal jump (``rejected`` -> ``applied``)
is refused wherever it comes from.

>>> from schemas import Recommendation
>>> rec = Recommendation(recommendation_id="rec-1", ts_ms=1_700_000_000_000,
...     status="proposed", kind="migrate", workload_id="wl-1", provider_id="p2",
...     expected_throughput=100.0, cost_usd_per_hour=2.0, perf_per_dollar_gain=0.3,
...     sla_risk=0.1, confidence=0.8, rationale="p1 throttles",
...     expires_at_ms=1_700_000_900_000)
>>> ok = transition(rec, "approved", actor="ops:ana", ts_ms=1_700_000_060_000, reason="ok")
>>> ok.status.value, ok.actor, ok.ts_ms - rec.ts_ms
('approved', 'ops:ana', 60000)
>>> transition(ok, "proposed", actor="x", ts_ms=1_700_000_070_000)
Traceback (most recent call last):
...
workflow.transitions.InvalidTransition: rec-1: approved -> proposed is not allowed
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from schemas import Recommendation, RecommendationStatus

__all__ = ["ALLOWED", "TERMINAL", "InvalidTransition", "is_due_to_expire", "transition"]

S = RecommendationStatus

#: Legal next statuses of each status. ``approved`` may still expire or be superseded
#: before the scheduler acts; ``applied``, ``failed``, ``rejected``, ``expired`` and
#: ``superseded`` are final.
ALLOWED: Mapping[RecommendationStatus, frozenset[RecommendationStatus]] = MappingProxyType(
    {
        S.PROPOSED: frozenset({S.APPROVED, S.REJECTED, S.EXPIRED, S.SUPERSEDED}),
        S.APPROVED: frozenset({S.APPLIED, S.FAILED, S.EXPIRED, S.SUPERSEDED}),
        S.REJECTED: frozenset(),
        S.EXPIRED: frozenset(),
        S.SUPERSEDED: frozenset(),
        S.APPLIED: frozenset(),
        S.FAILED: frozenset(),
    }
)

#: Statuses nothing can follow.
TERMINAL: frozenset[RecommendationStatus] = frozenset(s for s, nxt in ALLOWED.items() if not nxt)


class InvalidTransition(ValueError):
    """A status change the lifecycle does not allow (or an update back in time)."""


def transition(
    rec: Recommendation,
    status: RecommendationStatus | str,
    *,
    actor: str,
    ts_ms: int,
    reason: str = "",
) -> Recommendation:
    """The record of ``rec`` moving to ``status``, made by ``actor`` at ``ts_ms``.

    Raises :class:`InvalidTransition` if the lifecycle forbids the change, if ``ts_ms``
    is before the current record, or if an approval comes after ``expires_at_ms``.
    """
    new = RecommendationStatus(status)
    if new not in ALLOWED[rec.status]:
        raise InvalidTransition(
            f"{rec.recommendation_id}: {rec.status.value} -> {new.value} is not allowed"
        )
    if ts_ms < rec.ts_ms:
        raise InvalidTransition(f"{rec.recommendation_id}: update at {ts_ms} before {rec.ts_ms}")
    if new in (S.APPROVED, S.APPLIED) and ts_ms > rec.expires_at_ms:
        raise InvalidTransition(
            f"{rec.recommendation_id}: expired at {rec.expires_at_ms}, cannot become {new.value}"
        )
    # The expiry stays as proposed; a late status change (e.g. failed) keeps it valid.
    expires = max(rec.expires_at_ms, ts_ms)
    return rec.model_copy(
        update={
            "status": new,
            "actor": actor,
            "ts_ms": ts_ms,
            "reason": reason,
            "expires_at_ms": expires,
        }
    )


def is_due_to_expire(rec: Recommendation, now_ms: int) -> bool:
    """Whether ``rec`` is still open (proposed or approved) past its expiry.

    >>> from schemas import Recommendation
    >>> rec = Recommendation(recommendation_id="r", ts_ms=1_700_000_000_000,
    ...     status="approved", kind="place", workload_id="w", provider_id="p",
    ...     expected_throughput=1.0, cost_usd_per_hour=1.0, perf_per_dollar_gain=0.0,
    ...     sla_risk=0.0, confidence=1.0, rationale="", expires_at_ms=1_700_000_000_500)
    >>> is_due_to_expire(rec, 1_700_000_000_500), is_due_to_expire(rec, 1_700_000_000_501)
    (False, True)
    """
    return rec.status in (S.PROPOSED, S.APPROVED) and now_ms > rec.expires_at_ms
