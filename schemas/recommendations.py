"""Placement recommendations from the optimiser and the scheduler's feedback on them."""

from enum import StrEnum
from typing import Self

from pydantic import model_validator

from schemas.base import Id, NonNegFloat, Record, TsMs, UnitFloat

__all__ = [
    "FeedbackOutcome",
    "Recommendation",
    "RecommendationKind",
    "RecommendationStatus",
    "SchedulerFeedback",
]


class RecommendationStatus(StrEnum):
    """Where a recommendation is in its review lifecycle.

    Examples
    --------
    >>> RecommendationStatus.SUPERSEDED.value
    'superseded'
    """

    PROPOSED = "proposed"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    SUPERSEDED = "superseded"
    APPLIED = "applied"
    FAILED = "failed"


class RecommendationKind(StrEnum):
    """What a recommendation asks the scheduler to do.

    Examples
    --------
    >>> RecommendationKind("migrate") is RecommendationKind.MIGRATE
    True
    """

    PLACE = "place"
    MIGRATE = "migrate"
    REBALANCE = "rebalance"
    SCALE = "scale"


class Recommendation(Record):
    """A proposed placement action with its expected benefit and risk.

    Each status change is published as a new record with the same
    ``recommendation_id``; the latest one wins.

    Attributes
    ----------
    recommendation_id : Id
        Identity shared by every status update of the recommendation.
    ts_ms : int
        Time of this update, UTC epoch milliseconds.
    status : RecommendationStatus
        Review state.
    kind : RecommendationKind
        Requested action.
    workload_id, provider_id : Id
        Workload concerned and target provider.
    from_provider_id : Id or None
        Current provider, for migrations and rebalances.
    expected_throughput : float
        Predicted throughput on the target.
    cost_usd_per_hour : float
        Predicted cost on the target.
    perf_per_dollar_gain : float
        Predicted change in performance per dollar; negative means worse.
    sla_risk, confidence : float
        Probability of an SLA breach and confidence in the prediction, in [0, 1].
    rationale : str
        Human-readable justification.
    expires_at_ms : int
        After this time the recommendation must not be applied; not before ``ts_ms``.
    actor : str
        Who made this update (``"engine"`` or an operator's name).
    reason : str
        Why the status changed (e.g. rejection reason).

    Examples
    --------
    >>> r = Recommendation(recommendation_id="rec-1", ts_ms=1_700_000_000_000,
    ...                    status="proposed", kind="migrate", workload_id="wl-1",
    ...                    provider_id="prov-2", from_provider_id="prov-1",
    ...                    expected_throughput=1500.0, cost_usd_per_hour=14.4,
    ...                    perf_per_dollar_gain=0.12, sla_risk=0.05, confidence=0.7,
    ...                    rationale="prov-1 is thermally throttling",
    ...                    expires_at_ms=1_700_000_900_000)
    >>> r.actor, r.status is RecommendationStatus.PROPOSED
    ('engine', True)
    """

    recommendation_id: Id
    ts_ms: TsMs
    status: RecommendationStatus
    kind: RecommendationKind
    workload_id: Id
    provider_id: Id
    from_provider_id: Id | None = None
    expected_throughput: NonNegFloat
    cost_usd_per_hour: NonNegFloat
    perf_per_dollar_gain: float
    sla_risk: UnitFloat
    confidence: UnitFloat
    rationale: str
    expires_at_ms: TsMs
    actor: str = "engine"
    reason: str = ""

    @model_validator(mode="after")
    def _check_expiry(self) -> Self:
        if self.expires_at_ms < self.ts_ms:
            raise ValueError(
                f"expires_at_ms ({self.expires_at_ms}) must not be before ts_ms ({self.ts_ms})"
            )
        return self


class FeedbackOutcome(StrEnum):
    """What the scheduler did with a recommendation.

    Examples
    --------
    >>> FeedbackOutcome.SKIPPED.value
    'skipped'
    """

    APPLIED = "applied"
    FAILED = "failed"
    SKIPPED = "skipped"


class SchedulerFeedback(Record):
    """The scheduler's report on acting upon a recommendation.

    Attributes
    ----------
    recommendation_id, workload_id : Id
        Recommendation acted upon and its workload.
    ts_ms : int
        Time of the outcome, UTC epoch milliseconds.
    outcome : FeedbackOutcome
        What happened.
    provider_id : Id or None
        Provider the workload ended up on, if any.
    detail : str
        Free-text detail (error message, skip reason, ...).

    Examples
    --------
    >>> f = SchedulerFeedback(recommendation_id="rec-1", ts_ms=1_700_000_000_000,
    ...                       outcome="applied", workload_id="wl-1", provider_id="prov-2")
    >>> f.outcome is FeedbackOutcome.APPLIED, f.detail
    (True, '')
    """

    recommendation_id: Id
    ts_ms: TsMs
    outcome: FeedbackOutcome
    workload_id: Id
    provider_id: Id | None = None
    detail: str = ""
