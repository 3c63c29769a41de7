"""What the engine has observed of each host: delivered vs listed speed, and reliability.

A listing says "H100"; what a job gets there depends on the host (thermal limits, PCIe
lanes, host CPU and disk) and on whether the host stays up. :class:`HostLedger` keeps,
per provider, an exponentially weighted ratio of *measured* throughput to what the
estimator expected from the listing (over-stated hardware and slow hosts show up as a
ratio below 1), and a reliability: the share of observed time the host was up and kept
its jobs (heartbeat gaps and interruptions count against it, with a Beta prior so a new
host is neither trusted nor condemned). The planner (:mod:`optimizers.plan`) multiplies
each estimate by :meth:`HostRecord.factor`. Pure: time is passed in.

>>> ledger = HostLedger()
>>> for k in range(30):
...     ledger.observe_throughput("p1", measured=0.7, expected=1.0)
>>> ledger.observe_interruption("p1")
>>> r = ledger.record("p1")
>>> round(r.throughput_ratio, 2), round(r.reliability, 2), round(r.factor, 2)
(0.7, 0.83, 0.58)
>>> ledger.record("unknown").factor
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
    _ratio: dict[str, float] = field(default_factory=dict)
    _up: dict[str, float] = field(default_factory=dict)
    _down: dict[str, float] = field(default_factory=dict)

    def observe_throughput(self, provider_id: str, measured: float, expected: float) -> None:
        """A running job's measured throughput against the estimate for the listing."""
        if not (expected > 0 and math.isfinite(measured) and measured >= 0):
            return
        old = self._ratio.get(provider_id, 1.0)
        self._ratio[provider_id] = old + self.alpha * (measured / expected - old)

    def observe_heartbeat(self, provider_id: str, up: bool) -> None:
        """One heartbeat interval of a provider: up, or a gap (offline)."""
        book = self._up if up else self._down
        book[provider_id] = book.get(provider_id, 0.0) + 1.0

    def observe_interruption(self, provider_id: str) -> None:
        """A job interrupted there (evicted, host gone, job failed)."""
        self._down[provider_id] = self._down.get(provider_id, 0.0) + self.interruption_weight

    def record(self, provider_id: str) -> HostRecord:
        """What is known of ``provider_id`` (the prior when nothing is)."""
        up = self.prior_up + self._up.get(provider_id, 0.0)
        down = self.prior_down + self._down.get(provider_id, 0.0)
        # The prior alone means "no evidence": the listing at face value.
        reliability = 1.0 if provider_id not in self._up | self._down else up / (up + down)
        return HostRecord(self._ratio.get(provider_id, 1.0), reliability)

    def records(self) -> dict[str, HostRecord]:
        """Records of every host observed so far."""
        ids = set(self._ratio) | set(self._up) | set(self._down)
        return {pid: self.record(pid) for pid in sorted(ids)}
