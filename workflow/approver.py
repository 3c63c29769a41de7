"""Turning proposed recommendations into approvals, rejections or dry-run notes.

:class:`Approver` applies a :class:`~workflow.policy.PolicyBook` to each proposed
recommendation, in order:

1. expired -> ``expired``; predicted gain below the policy's ``min_change`` -> ``rejected``;
2. ``recommend_only`` -> stays proposed (a note record says so);
3. ``auto`` with risk and gain within limits, or an operator's :meth:`Approver.approve`
   -> an approval, *if* the rate limit of every provider it touches has room, else
   ``rejected`` (reason ``rate limit``);
4. anything else waits for an operator (a note record, status still proposed).

In dry-run mode step 3 records what would have been done (status still ``proposed``,
reason ``dry-run: would approve ...``) and nothing is ever approved; the rate limiter
still counts it, so the notes show what the limits would have allowed.

>>> from schemas import Recommendation
>>> from workflow.policy import PolicyBook
>>> book = PolicyBook.from_dict({"policies": [{"kind": "migrate", "mode": "auto",
...     "max_sla_risk": 0.3, "min_gain": 0.1, "max_actions_per_provider": 1}]})
>>> rec = Recommendation(recommendation_id="r1", ts_ms=1_700_000_000_000,
...     status="proposed", kind="migrate", workload_id="w", provider_id="p2",
...     from_provider_id="p1", expected_throughput=10.0, cost_usd_per_hour=1.0,
...     perf_per_dollar_gain=0.4, sla_risk=0.1, confidence=0.9, rationale="",
...     expires_at_ms=1_700_000_600_000)
>>> d = Approver(book).review(rec, "acme", 1_700_000_001_000)
>>> d.record.status.value, d.record.actor, d.acted
('approved', 'policy:*/migrate', True)
>>> again = rec.model_copy(update={"recommendation_id": "r2"})
>>> Approver(book).review(again, "acme", 1_700_000_001_000).acted  # fresh limiter
True
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas import Recommendation, RecommendationStatus
from workflow.policy import ApprovalMode, Policy, PolicyBook
from workflow.rate_limit import ProviderRateLimiter
from workflow.transitions import is_due_to_expire, transition

__all__ = ["Approver", "Decision"]

S = RecommendationStatus


@dataclass(frozen=True, slots=True)
class Decision:
    """What the workflow did with one recommendation.

    ``record`` is the record to publish (a status change, or a note with the status
    unchanged); ``acted`` is True only for an approval the scheduler may apply;
    ``counted`` is True when the rate limiter counted it (an approval, or a dry-run
    "would approve" note), at ``record.ts_ms``; ``limited`` when the rate limit refused it.
    """

    record: Recommendation
    policy: Policy
    acted: bool
    counted: bool = False
    limited: bool = False

    @property
    def changed(self) -> bool:
        """Whether ``record`` carries a new status (not a note)."""
        return self.record.status is not S.PROPOSED


class Approver:
    """Applies policies and rate limits to recommendations; see the module docstring.

    Parameters
    ----------
    book : PolicyBook
        Policies and the dry-run switch.
    limiter : ProviderRateLimiter, optional
        Shared limiter state (a fresh one by default).

    Examples
    --------
    >>> Approver(PolicyBook(dry_run=True)).dry_run
    True
    """

    def __init__(self, book: PolicyBook, limiter: ProviderRateLimiter | None = None) -> None:
        self.book = book
        self.limiter = limiter or ProviderRateLimiter()

    @property
    def dry_run(self) -> bool:
        """Whether approvals are only recorded as notes."""
        return self.book.dry_run

    def review(self, rec: Recommendation, tenant_id: str, now_ms: int) -> Decision:
        """Decide on a proposed ``rec`` of ``tenant_id`` at ``now_ms`` under the policies."""
        # A clock behind the record (skew between hosts) must not break the state machine.
        now_ms = max(now_ms, rec.ts_ms)
        policy = self.book.policy_for(tenant_id, rec.kind.value)
        actor = f"policy:{policy.tenant}/{policy.kind}"
        early = self._screen(rec, policy, actor, now_ms)
        if early is not None:
            return early
        if policy.mode is ApprovalMode.RECOMMEND_ONLY:
            return self._note(rec, policy, actor, now_ms, "recommend-only policy")
        if policy.mode is ApprovalMode.AUTO:
            if rec.sla_risk > policy.max_sla_risk:
                why = f"sla_risk {rec.sla_risk:.2f} > {policy.max_sla_risk:.2f}"
            elif rec.perf_per_dollar_gain < policy.min_gain:
                why = f"gain {rec.perf_per_dollar_gain:.2f} < {policy.min_gain:.2f}"
            else:
                return self._grant(rec, policy, actor, now_ms, "auto-approved by policy")
            return self._note(rec, policy, actor, now_ms, f"awaiting operator: {why}")
        return self._note(rec, policy, actor, now_ms, "awaiting operator: manual policy")

    def approve(
        self, rec: Recommendation, tenant_id: str, *, actor: str, now_ms: int, reason: str = ""
    ) -> Decision:
        """An operator approves ``rec``; expiry, minimum change and rate limits still apply.

        Recommend-only policies refuse operators too (status unchanged, a note).
        """
        now_ms = max(now_ms, rec.ts_ms)
        policy = self.book.policy_for(tenant_id, rec.kind.value)
        early = self._screen(rec, policy, actor, now_ms)
        if early is not None:
            return early
        if policy.mode is ApprovalMode.RECOMMEND_ONLY:
            return self._note(rec, policy, actor, now_ms, "recommend-only policy")
        return self._grant(rec, policy, actor, now_ms, reason or "approved by operator")

    def _screen(
        self, rec: Recommendation, policy: Policy, actor: str, now_ms: int
    ) -> Decision | None:
        if rec.status is not S.PROPOSED:
            raise ValueError(f"{rec.recommendation_id} is {rec.status.value}, not proposed")
        if is_due_to_expire(rec, now_ms):
            return Decision(
                transition(
                    rec, S.EXPIRED, actor=actor, ts_ms=now_ms, reason="expired before approval"
                ),
                policy,
                False,
            )
        if rec.perf_per_dollar_gain < policy.min_change:
            reason = f"gain {rec.perf_per_dollar_gain:.3f} below minimum change {policy.min_change}"
            return Decision(
                transition(rec, S.REJECTED, actor=actor, ts_ms=now_ms, reason=reason), policy, False
            )
        return None

    def _grant(
        self, rec: Recommendation, policy: Policy, actor: str, now_ms: int, reason: str
    ) -> Decision:
        touched = [rec.provider_id] + ([rec.from_provider_id] if rec.from_provider_id else [])
        if not self.limiter.try_acquire(
            touched, now_ms, limit=policy.max_actions_per_provider, interval_ms=policy.interval_ms
        ):
            why = (
                f"rate limit: {policy.max_actions_per_provider} actions per provider per "
                f"{policy.interval_s} s"
            )
            return Decision(
                transition(rec, S.REJECTED, actor=actor, ts_ms=now_ms, reason=why),
                policy,
                False,
                limited=True,
            )
        if self.dry_run:
            note = self._note(rec, policy, actor, now_ms, f"dry-run: would approve ({reason})")
            return Decision(note.record, policy, False, counted=True)
        return Decision(
            transition(rec, S.APPROVED, actor=actor, ts_ms=now_ms, reason=reason),
            policy,
            True,
            counted=True,
        )

    @staticmethod
    def _note(
        rec: Recommendation, policy: Policy, actor: str, now_ms: int, reason: str
    ) -> Decision:
        # A note keeps the status; it is not a transition, so it bypasses the state machine.
        note = rec.model_copy(
            update={"actor": actor, "ts_ms": max(now_ms, rec.ts_ms), "reason": reason}
        )
        return Decision(note, policy, False)
