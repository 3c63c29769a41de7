"""What the engine has observed of each host: delivered vs listed speed, and reliability.

A listing says "H100"; what a job gets there depends on the host (thermal limits, PCIe
lanes, host CPU and disk) and on whether the host stays up. :class:`HostLedger` keeps,
per provider, an exponentially weighted ratio of *measured* throughput to what the
estimator expected from the listing (over-stated hardware and slow hosts show up as a
ratio below 1; the estimator's own error per GPU model and workload type is learned
apart, over all hosts of a cohort), and a reliability: the share of observed time the
host was up and kept its jobs (heartbeat gaps and interruptions count against it, with
a Beta prior so a new host is neither trusted nor condemned). The planner
(:mod:`optimizers.plan`) multiplies each throughput estimate by the cohort's and the
host's ratio, and scores each option's perf per dollar times the host's reliability.
Pure: time is passed in.

>>> ledger = HostLedger()
>>> for k in range(30):
...     ledger.observe_throughput("slow", measured=0.7, expected=1.0, cohort="H100 80GB/training")
...     ledger.observe_throughput("fast", measured=1.0, expected=1.0, cohort="H100 80GB/training")
>>> ledger.observe_interruption("slow")
>>> slow, fast = ledger.record("slow"), ledger.record("fast")
>>> round(slow.throughput_ratio / fast.throughput_ratio, 2), round(slow.reliability, 2)
(0.7, 0.83)
>>> ledger.record("new").reliability
1.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["HostLedger", "HostRecord"]


@dataclass(frozen=True, slots=True)
class HostRecord:
    """Observed quality of one host.

    Parameters
    ----------
    throughput_ratio : float
        Measured / expected throughput (1: the listing is what it delivers).
    reliability : float
        Share of time the host is expected to be up and keep a job, in [0, 1].

    Examples
    --------
    >>> HostRecord(0.9, 0.5).factor
    0.45
    """

    throughput_ratio: float = 1.0
    reliability: float = 1.0

    @property
    def factor(self) -> float:
        """Expected useful share of the listing's throughput (ratio x reliability)."""
        return self.throughput_ratio * self.reliability


@dataclass
class HostLedger:
    """Per-host observations folded into :class:`HostRecord` values.

    Parameters
    ----------
    alpha : float
        Weight of a new throughput observation in the ratio's EWMA.
    prior_up, prior_down : float
        Beta prior of reliability, in observation units (heartbeats): 20 up, 1 down
        trusts a new host at ~95 % until it shows otherwise.
    interruption_weight : float
        Heartbeats of downtime one lost job counts as (losing work since the last
        checkpoint is worse than a missed heartbeat).

    Examples
    --------
    >>> ledger = HostLedger()
    >>> ledger.observe_heartbeat("p", up=False)
    >>> round(ledger.record("p").reliability, 3)
    0.909
    """

    alpha: float = 0.2
    prior_up: float = 20.0
    prior_down: float = 1.0
    interruption_weight: float = 3.0
    _fleet_ratio: float | None = None
    _cohort: dict[str, float] = field(default_factory=dict)
    _ratio: dict[str, float] = field(default_factory=dict)
    _up: dict[str, float] = field(default_factory=dict)
    _down: dict[str, float] = field(default_factory=dict)

    def observe_throughput(
        self, provider_id: str, measured: float, expected: float, cohort: str = ""
    ) -> None:
        """A running job's measured throughput against the estimate for the listing.

        ``cohort`` (e.g. ``"A100 80GB/training"``) is the estimator's error for a GPU
        model and workload type, learned over every host of it (:meth:`cohort_ratios`);
        what it does not explain is the host's own ratio.
        """
        if not (expected > 0 and math.isfinite(measured) and measured >= 0):
            return
        # Slower for shared ratios: one host must not swing what every host is taken for.
        shared = self.alpha / 10.0
        raw = measured / expected
        old = self._cohort.get(cohort, raw)
        self._cohort[cohort] = old + shared * (raw - old)
        ratio = raw / self._cohort[cohort] if self._cohort[cohort] > 0 else raw
        fleet = ratio if self._fleet_ratio is None else self._fleet_ratio
        self._fleet_ratio = fleet + shared * (ratio - fleet)
        old = self._ratio.get(provider_id, fleet)
        self._ratio[provider_id] = old + self.alpha * (ratio - old)

    def cohort_ratios(self) -> dict[str, float]:
        """Measured / expected per cohort (the estimator's systematic error by GPU and type).

        >>> ledger = HostLedger()
        >>> ledger.observe_throughput("p1", 0.8, 1.0, cohort="L4 24GB/inference")
        >>> ledger.cohort_ratios(), ledger.record("p1").throughput_ratio
        ({'L4 24GB/inference': 0.8}, 1.0)
        """
        return dict(sorted(self._cohort.items()))

    def observe_heartbeat(self, provider_id: str, up: bool) -> None:
        """One heartbeat interval of a provider: up, or a gap (offline)."""
        book = self._up if up else self._down
        book[provider_id] = book.get(provider_id, 0.0) + 1.0

    def observe_interruption(self, provider_id: str) -> None:
        """A job interrupted there (evicted, host gone, job failed)."""
        self._down[provider_id] = self._down.get(provider_id, 0.0) + self.interruption_weight

    def record(self, provider_id: str) -> HostRecord:
        """What is known of ``provider_id`` (:meth:`fleet_record` when nothing is)."""
        if provider_id not in self._ratio and provider_id not in self._up | self._down:
            return self.fleet_record()
        up = self.prior_up + self._up.get(provider_id, 0.0)
        down = self.prior_down + self._down.get(provider_id, 0.0)
        ratio = self._ratio.get(provider_id, self.fleet_record().throughput_ratio)
        return HostRecord(ratio, up / (up + down))

    def fleet_record(self) -> HostRecord:
        """What a host never observed is taken for: the fleet's host ratio (beyond the
        cohorts' error) and the listing's reliability at face value.

        >>> ledger = HostLedger()
        >>> ledger.fleet_record().factor
        1.0
        >>> ledger.observe_throughput("p1", 0.5, 1.0, cohort="g/t")
        >>> ledger.observe_throughput("p2", 1.0, 1.0, cohort="g/t")
        >>> 1.0 < ledger.record("p2").throughput_ratio and ledger.record("p3").throughput_ratio > 1
        True
        """
        return HostRecord(1.0 if self._fleet_ratio is None else self._fleet_ratio, 1.0)

    def records(self) -> dict[str, HostRecord]:
        """Records of every host observed so far."""
        ids = set(self._ratio) | set(self._up) | set(self._down)
        return {pid: self.record(pid) for pid in sorted(ids)}
