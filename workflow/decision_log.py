"""What the approvals role remembers per recommendation, and the rate limiter rebuilt from it.

One :class:`DecisionEntry` per ``recommendation_id``: the time of the proposal decided,
the record published for it (a status change or a note), whether it still waits for an
operator, and the times the rate limiter counted it. The limiter is a fold of the
entries (:func:`rebuild_limiter`), so keeping the entries durably (the role keeps them
in a changelogged table, one write per decision) is what makes the limit survive a
restart: there is no second state to keep in step with the first.

>>> from schemas import Recommendation
>>> from workflow.approver import Approver
>>> from workflow.policy import Policy, PolicyBook
>>> book = PolicyBook.from_dict({"policies": [{"kind": "place", "mode": "auto",
...     "max_sla_risk": 1.0, "min_gain": -1.0, "max_actions_per_provider": 1}]})
>>> T = 1_700_000_000_000
>>> rec = Recommendation(recommendation_id="r1", ts_ms=T, status="proposed",
...     kind="place", workload_id="w1", provider_id="p1", expected_throughput=1.0,
...     cost_usd_per_hour=1.0, perf_per_dollar_gain=0.2, sla_risk=0.1, confidence=0.9,
...     rationale="", expires_at_ms=T + 900_000)
>>> d = review(Approver(book), rec, "acme", T + 2_000)
>>> entry = record_decision(d, rec, None, partition=0, horizon_ms=3_600_000)
>>> entry.grants_ms == (T + 2_000,), needs_review(rec, entry), needs_review(d.record, None)
(True, False, False)
>>> again = review(Approver(book, rebuild_limiter([entry])), rec.model_copy(
...     update={"recommendation_id": "r2"}), "acme", T + 3_000)
>>> again.record.status.value, again.record.reason.startswith("rate limit")
('rejected', True)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pydantic import BaseModel, ConfigDict

from schemas import Recommendation, RecommendationStatus
from workflow.approver import Approver, Decision
from workflow.policy import Policy, PolicyBook
from workflow.rate_limit import ProviderRateLimiter
from workflow.transitions import is_due_to_expire, transition

__all__ = [
    "OWN_ACTOR_PREFIX",
    "UNKNOWN_TENANT",
    "DecisionEntry",
    "count_operator_approval",
    "expire_waiting",
    "horizon_ms",
    "is_own",
    "is_stale",
    "needs_review",
    "rebuild_limiter",
    "record_decision",
    "review",
    "tenant_of",
]

S = RecommendationStatus

#: Every record the Approver writes has actor ``policy:<tenant>/<kind>``.
OWN_ACTOR_PREFIX = "policy:"
#: Said in the reason of a decision taken without knowing the workload's tenant.
UNKNOWN_TENANT = "tenant unknown (no lifecycle event seen): decided by the * policies"


class DecisionEntry(BaseModel):
    """The approvals role's memory of one recommendation id.

    Attributes
    ----------
    proposal_ts_ms : int
        ``ts_ms`` of the proposal decided; a proposal not newer than this is not decided again.
    record : Recommendation
        The record published for it (re-sent as it is if the proposal is delivered again).
    providers : tuple of str
        Providers it touches (target, and source of a move).
    grants_ms : tuple of int
        When the rate limiter counted it (within the horizon).
    waiting : bool
        Still proposed, waiting for an operator: expired by :func:`expire_waiting`.
    partition : int
        Source partition (the table's changelog partition for this key).

    Examples
    --------
    >>> DecisionEntry.model_fields["waiting"].default
    False
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    proposal_ts_ms: int
    record: Recommendation
    providers: tuple[str, ...]
    grants_ms: tuple[int, ...] = ()
    waiting: bool = False
    partition: int = 0


def is_own(rec: Recommendation) -> bool:
    """Whether ``rec`` was written by the Approver (a decision or a note).

    >>> from schemas import Recommendation
    >>> r = Recommendation(recommendation_id="r", ts_ms=1_700_000_000_000, status="proposed",
    ...     kind="place", workload_id="w", provider_id="p", expected_throughput=1.0,
    ...     cost_usd_per_hour=1.0, perf_per_dollar_gain=0.0, sla_risk=0.0, confidence=1.0,
    ...     rationale="", expires_at_ms=1_700_000_000_002)
    >>> is_own(r), is_own(r.model_copy(update={"actor": "policy:*/place"}))
    (False, True)
    """
    return rec.actor.startswith(OWN_ACTOR_PREFIX)


def needs_review(rec: Recommendation, entry: DecisionEntry | None, decided_ms: int = -1) -> bool:
    """A proposal not written by the Approver and newer than any decision on its id.

    ``decided_ms`` is the newest time another decision on this id is known from (an
    operator's, the scheduler's, read from the topic at start-up).
    """
    if rec.status is not S.PROPOSED or is_own(rec) or rec.ts_ms <= decided_ms:
        return False
    return entry is None or rec.ts_ms > entry.proposal_ts_ms


def tenant_of(workload_id: str, tenants: Mapping[str, str]) -> str | None:
    """The tenant of a workload or of the workload a replica id (``<id>.r<k>``) belongs to.

    >>> tenant_of("w1.r0", {"w1": "acme"}), tenant_of("w2", {"w1": "acme"})
    ('acme', None)
    """
    found = tenants.get(workload_id)
    if found is None and ".r" in workload_id:
        found = tenants.get(workload_id.rsplit(".r", 1)[0])
    return found


def review(approver: Approver, rec: Recommendation, tenant: str | None, now_ms: int) -> Decision:
    """:meth:`Approver.review` with the ``*`` policies, said in the reason, for an unknown tenant.

    >>> from schemas import Recommendation
    >>> r = Recommendation(recommendation_id="r", ts_ms=1_700_000_000_000, status="proposed",
    ...     kind="place", workload_id="w", provider_id="p", expected_throughput=1.0,
    ...     cost_usd_per_hour=1.0, perf_per_dollar_gain=0.0, sla_risk=0.0, confidence=1.0,
    ...     rationale="", expires_at_ms=1_700_000_000_002)
    >>> reason = review(Approver(PolicyBook()), r, None, r.ts_ms).record.reason
    >>> reason.startswith("awaiting operator: manual policy; tenant unknown")
    True
    """
    decision = approver.review(rec, "*" if tenant is None else tenant, now_ms)
    if tenant is not None:
        return decision
    record = decision.record.model_copy(
        update={"reason": f"{decision.record.reason}; {UNKNOWN_TENANT}"}
    )
    return Decision(record, decision.policy, decision.acted, decision.counted, decision.limited)


def horizon_ms(book: PolicyBook) -> int:
    """How long a grant can matter: the longest rate-limit interval of the book.

    >>> horizon_ms(PolicyBook())
    3600000
    """
    return max(p.interval_ms for p in (*book.policies, Policy()))


def record_decision(
    decision: Decision,
    proposal: Recommendation,
    previous: DecisionEntry | None,
    *,
    partition: int,
    horizon_ms: int,
) -> DecisionEntry:
    """The entry after ``decision`` on ``proposal``; grants of ``previous`` in the horizon stay."""
    now_ms = decision.record.ts_ms
    grants = [g for g in (previous.grants_ms if previous else ()) if g > now_ms - horizon_ms]
    if decision.counted:
        grants.append(now_ms)
    providers = (proposal.provider_id,) + (
        (proposal.from_provider_id,) if proposal.from_provider_id else ()
    )
    return DecisionEntry(
        proposal_ts_ms=proposal.ts_ms,
        record=decision.record,
        providers=providers,
        grants_ms=tuple(grants),
        waiting=decision.record.status is S.PROPOSED,
        partition=partition,
    )


def count_operator_approval(
    entry: DecisionEntry | None, approval: Recommendation, *, partition: int
) -> DecisionEntry | None:
    """The entry with an operator's ``approval`` counted as a grant (None: already counted).

    Operator approvals (the HTTP API's, decided by :meth:`Approver.approve` there) pass
    the same rate limit, so the role's limiter must hold them too.

    >>> from schemas import Recommendation
    >>> a = Recommendation(recommendation_id="r", ts_ms=1_700_000_000_005, status="approved",
    ...     kind="place", workload_id="w", provider_id="p", expected_throughput=1.0,
    ...     cost_usd_per_hour=1.0, perf_per_dollar_gain=0.0, sla_risk=0.0, confidence=1.0,
    ...     rationale="", expires_at_ms=1_700_000_900_000, actor="operator:abcd")
    >>> e = count_operator_approval(None, a, partition=1)
    >>> e.grants_ms, e.providers, count_operator_approval(e, a, partition=1)
    ((1700000000005,), ('p',), None)
    """
    if approval.ts_ms in (entry.grants_ms if entry else ()):
        return None
    providers = (approval.provider_id,) + (
        (approval.from_provider_id,) if approval.from_provider_id else ()
    )
    if entry is None:
        return DecisionEntry(
            proposal_ts_ms=approval.ts_ms,
            record=approval,
            providers=providers,
            grants_ms=(approval.ts_ms,),
            partition=partition,
        )
    return entry.model_copy(
        update={"grants_ms": (*entry.grants_ms, approval.ts_ms), "waiting": False}
    )


def rebuild_limiter(entries: Iterable[DecisionEntry]) -> ProviderRateLimiter:
    """A limiter holding every grant of ``entries``, replayed in time order."""
    limiter = ProviderRateLimiter()
    grants = sorted((g, e.providers) for e in entries for g in e.grants_ms)
    for ts_ms, providers in grants:
        limiter.try_acquire(providers, ts_ms, limit=0, interval_ms=1)
    return limiter


def expire_waiting(entry: DecisionEntry, now_ms: int) -> DecisionEntry | None:
    """The entry with an ``expired`` record if it waited for an operator past its expiry."""
    if not entry.waiting or not is_due_to_expire(entry.record, now_ms):
        return None
    expired = transition(
        entry.record,
        S.EXPIRED,
        actor=entry.record.actor,
        ts_ms=max(now_ms, entry.record.ts_ms),
        reason="expired awaiting operator",
    )
    return entry.model_copy(update={"record": expired, "waiting": False})


def is_stale(entry: DecisionEntry, now_ms: int, horizon_ms: int) -> bool:
    """Whether the entry can be forgotten: not waiting, expired and no grant in the horizon."""
    last = max((entry.record.expires_at_ms, *entry.grants_ms))
    return not entry.waiting and now_ms - last > horizon_ms
