"""Did an applied action deliver what it promised? Realised vs predicted, and its consequences.

For each applied recommendation, :class:`OutcomeTracker` collects the workload's realised
throughput and cost on the target provider over a settling window (from the moment it
runs there) and then settles an :class:`Outcome`: realised vs predicted throughput and
cost, and the fraction of the window below the SLA. :class:`Accuracy` keeps the running
accuracy figures; :class:`PolicyDemoter` turns a policy whose actions keep
under-delivering from ``auto`` into ``manual``; :meth:`OutcomeTracker.provider_bias` is
the error fed back to the predictor (realised / predicted per provider).

>>> tracker = OutcomeTracker(settling_ms=300_000, min_samples=3)
>>> tracker.applied(AppliedAction("r1", "w1", "p2", ("*", "migrate"), 0, 100.0, 2.0, 50.0))
>>> done = [o for t in range(0, 360_000, 60_000) for o in tracker.observe("w1", "p2", t, 80.0, 2.0)]
>>> [(o.recommendation_id, round(o.throughput_error, 2), o.samples) for o in done]
[('r1', -0.2, 5)]
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from workflow.policy import ApprovalMode, PolicyBook

__all__ = ["Accuracy", "AppliedAction", "Outcome", "OutcomeTracker", "PolicyDemoter"]


@dataclass(frozen=True, slots=True)
class AppliedAction:
    """An applied recommendation and what it predicted."""

    recommendation_id: str
    workload_id: str
    provider_id: str
    policy_key: tuple[str, str]
    applied_ms: int
    predicted_throughput: float
    predicted_cost_usd_per_hour: float
    sla_min_throughput: float | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """Realised vs predicted over the settling window of one applied action."""

    action: AppliedAction
    settled_ms: int
    realised_throughput: float
    realised_cost_usd_per_hour: float
    sla_violation_fraction: float
    samples: int

    @property
    def recommendation_id(self) -> str:
        """Id of the recommendation this outcome validates."""
        return self.action.recommendation_id

    @property
    def throughput_error(self) -> float:
        """``realised / predicted - 1`` (negative: under-delivered)."""
        predicted = self.action.predicted_throughput
        return self.realised_throughput / predicted - 1.0 if predicted > 0 else 0.0

    @property
    def cost_error(self) -> float:
        """``realised / predicted - 1`` of the hourly cost."""
        predicted = self.action.predicted_cost_usd_per_hour
        return self.realised_cost_usd_per_hour / predicted - 1.0 if predicted > 0 else 0.0


@dataclass(slots=True)
class _Window:
    action: AppliedAction
    throughput: list[float] = field(default_factory=list)
    cost: list[float] = field(default_factory=list)


class OutcomeTracker:
    """Collects realised figures per applied action and settles them.

    Parameters
    ----------
    settling_ms : int
        Length of the measured window after the action.
    min_samples : int
        A window cut short (workload ended or moved again) settles only with at least
        this many samples; otherwise it is dropped (nothing to judge).

    Examples
    --------
    >>> t = OutcomeTracker()
    >>> t.applied(AppliedAction("r", "w", "p", ("*", "place"), 0, 10.0, 1.0))
    >>> t.close("w", 1) is None, t.open_count
    (True, 0)
    """

    def __init__(self, settling_ms: int = 1_800_000, min_samples: int = 5) -> None:
        self.settling_ms = settling_ms
        self.min_samples = min_samples
        self._open: dict[str, _Window] = {}
        self._ratio_sum: dict[str, float] = {}
        self._ratio_n: dict[str, int] = {}

    @property
    def open_count(self) -> int:
        """Actions still being measured."""
        return len(self._open)

    def applied(self, action: AppliedAction) -> None:
        """Start measuring ``action`` (replaces an open window of the same workload)."""
        self._open[action.workload_id] = _Window(action)

    def observe(
        self, workload_id: str, provider_id: str, ts_ms: int, throughput: float, cost: float
    ) -> list[Outcome]:
        """Feed one sample of a workload; returns the outcome if its window is complete.

        Samples from another provider than the action's target (the move has not
        happened yet, or the workload moved on) are ignored; non-finite values too.
        """
        window = self._open.get(workload_id)
        if window is None or provider_id != window.action.provider_id:
            return []
        if ts_ms >= window.action.applied_ms + self.settling_ms:
            outcome = self._settle(workload_id, ts_ms)
            return [outcome] if outcome is not None else []
        if math.isfinite(throughput) and math.isfinite(cost) and ts_ms >= window.action.applied_ms:
            window.throughput.append(max(0.0, throughput))
            window.cost.append(max(0.0, cost))
        return []

    def close(self, workload_id: str, ts_ms: int) -> Outcome | None:
        """The workload ended or moved: settle its window now if it has enough samples."""
        if workload_id not in self._open:
            return None
        return self._settle(workload_id, ts_ms)

    def provider_bias(self, provider_id: str, prior_weight: float = 2.0) -> float:
        """Mean realised/predicted throughput ratio of settled actions on ``provider_id``.

        Shrunk towards 1 with ``prior_weight`` pseudo-observations, so one outcome does
        not swing the predictor.
        """
        n = self._ratio_n.get(provider_id, 0)
        total = self._ratio_sum.get(provider_id, 0.0)
        return (total + prior_weight) / (n + prior_weight)

    def _settle(self, workload_id: str, ts_ms: int) -> Outcome | None:
        window = self._open.pop(workload_id)
        n = len(window.throughput)
        if n == 0 or n < self.min_samples:
            return None
        sla = window.action.sla_min_throughput
        below = sum(1 for t in window.throughput if sla is not None and t < sla)
        outcome = Outcome(
            action=window.action,
            settled_ms=ts_ms,
            realised_throughput=sum(window.throughput) / n,
            realised_cost_usd_per_hour=sum(window.cost) / n,
            sla_violation_fraction=below / n,
            samples=n,
        )
        if window.action.predicted_throughput > 0:
            pid = window.action.provider_id
            ratio = outcome.realised_throughput / window.action.predicted_throughput
            self._ratio_sum[pid] = self._ratio_sum.get(pid, 0.0) + ratio
            self._ratio_n[pid] = self._ratio_n.get(pid, 0) + 1
        return outcome


class Accuracy:
    """Running accuracy of predictions against settled outcomes.

    Examples
    --------
    >>> acc = Accuracy()
    >>> acc.mape is None
    True
    """

    def __init__(self) -> None:
        self.count = 0
        self._abs = 0.0
        self._signed = 0.0
        self._cost_abs = 0.0
        self.under_delivered = 0

    def update(self, outcome: Outcome, tolerance: float = 0.2) -> None:
        """Count one outcome (under-delivered: throughput more than ``tolerance`` short)."""
        self.count += 1
        self._abs += abs(outcome.throughput_error)
        self._signed += outcome.throughput_error
        self._cost_abs += abs(outcome.cost_error)
        self.under_delivered += outcome.throughput_error < -tolerance

    @property
    def mape(self) -> float | None:
        """Mean absolute relative throughput error, or None before any outcome."""
        return self._abs / self.count if self.count else None

    @property
    def bias(self) -> float | None:
        """Mean relative throughput error (negative: the engine over-promises)."""
        return self._signed / self.count if self.count else None

    @property
    def cost_mape(self) -> float | None:
        """Mean absolute relative cost error."""
        return self._cost_abs / self.count if self.count else None

    def as_dict(self) -> dict[str, float | int | None]:
        """Figures for reports and JSON output."""
        return {
            "validated": self.count,
            "throughput_mape": self.mape,
            "throughput_bias": self.bias,
            "cost_mape": self.cost_mape,
            "under_delivered": self.under_delivered,
        }


class PolicyDemoter:
    """Demotes an auto policy to manual when its recent actions under-deliver.

    Parameters
    ----------
    window : int
        Providers whose latest outcome is remembered per policy.
    min_outcomes : int
        Providers with an outcome needed before judging (a full window by default: on
        an open marketplace, a few new hosts slower than listed are no verdict on a
        policy).
    tolerance : float
        An outcome under-delivers when realised throughput is more than this fraction
        below the prediction.
    max_under_rate : float
        Demote when more than this fraction of the remembered outcomes under-delivered.

    Outcomes are judged one per provider (its latest): several actions
    that met one bad host are one piece of evidence about that host (which the host
    ledger, :mod:`optimizers.reliability`, learns), not about the policy.

    Examples
    --------
    >>> from workflow.policy import Policy
    >>> book = PolicyBook(policies=(Policy(kind="migrate", mode="auto"),))
    >>> demoter = PolicyDemoter(window=4, min_outcomes=2)
    >>> for host in ("p1", "p2"):
    ...     bad = AppliedAction("r", "w", host, ("*", "migrate"), 0, 100.0, 1.0)
    ...     book = demoter.record(Outcome(bad, 1, 50.0, 1.0, 0.0, 10), book)
    >>> book.policy_for("t", "migrate").mode.value, demoter.demoted
    ('manual', [('*', 'migrate')])
    """

    def __init__(
        self,
        window: int = 10,
        min_outcomes: int = 10,
        tolerance: float = 0.2,
        max_under_rate: float = 0.5,
    ) -> None:
        self.window = window
        self.min_outcomes = min_outcomes
        self.tolerance = tolerance
        self.max_under_rate = max_under_rate
        # Per policy: the latest outcome of each of the last ``window`` providers (oldest
        # first), under-delivered or not.
        self._recent: dict[tuple[str, str], dict[str, bool]] = {}
        self.demoted: list[tuple[str, str]] = []

    def record(self, outcome: Outcome, book: PolicyBook) -> PolicyBook:
        """Remember ``outcome``; returns ``book``, with its policy demoted if it must be."""
        key = outcome.action.policy_key
        recent = self._recent.setdefault(key, {})
        recent.pop(outcome.action.provider_id, None)
        recent[outcome.action.provider_id] = outcome.throughput_error < -self.tolerance
        while len(recent) > self.window:
            del recent[next(iter(recent))]
        under = sum(recent.values())
        if len(recent) < self.min_outcomes or under / len(recent) <= self.max_under_rate:
            return book
        policy = book.policy_for(*key)
        if policy.key != key or policy.mode is not ApprovalMode.AUTO:
            return book
        self.demoted.append(key)
        recent.clear()
        return book.with_policy(policy.model_copy(update={"mode": ApprovalMode.MANUAL}))
