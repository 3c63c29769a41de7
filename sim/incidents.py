"""Injected incidents: the ground-truth labels of the simulator and their effects.

An :class:`Incident` says *what* goes wrong, *where* (one provider) and *when*
(``[start_ms, end_ms)``, event time). :func:`effects_at` turns the incidents active on
a provider at some instant into an :class:`Effects` bundle of multipliers that the
marketplace model applies to its otherwise normal telemetry. Keeping the effects as
plain numbers (not code paths scattered through the model) makes it easy to see and
test what each kind of incident does to the signals a detector would look at.

>>> inc = Incident(IncidentKind.THERMAL_THROTTLING, "prov-000", 1_000, 61_000, 0.5)
>>> inc.active(30_000), inc.active(61_000)
(True, False)
>>> fx = effects_at([inc], 30_000)
>>> 88.0 <= fx.temp_target_c <= 97.0 and fx.clock_factor < 1.0
True
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

__all__ = [
    "NO_EFFECTS",
    "Effects",
    "Incident",
    "IncidentKind",
    "effects_at",
    "random_incidents",
]


class IncidentKind(StrEnum):
    """Kinds of incident the simulator can inject.

    Examples
    --------
    >>> IncidentKind("memory_creep") is IncidentKind.MEMORY_CREEP
    True
    >>> [k.value for k in IncidentKind][:2]
    ['thermal_throttling', 'network_degradation']
    """

    THERMAL_THROTTLING = "thermal_throttling"
    NETWORK_DEGRADATION = "network_degradation"
    PROVIDER_OUTAGE = "provider_outage"
    NOISY_NEIGHBOUR = "noisy_neighbour"
    MEMORY_CREEP = "memory_creep"
    PRICE_SPIKE = "price_spike"


@dataclass(frozen=True, slots=True, init=False)
class Incident:
    """One injected incident on one provider; the ground truth for detectors.

    Parameters
    ----------
    kind : IncidentKind
        What goes wrong (a plain string value is accepted and converted).
    provider_id : str
        The affected provider; its workloads are affected too.
    start_ms, end_ms : int
        Event-time interval ``[start_ms, end_ms)`` in UTC epoch milliseconds.
    severity : float
        Strength in ``(0, 1]``; 1 is the worst case of the kind.

    Examples
    --------
    >>> inc = Incident("provider_outage", "prov-003", 10_000, 70_000)
    >>> inc.kind, inc.duration_ms, inc.severity
    (<IncidentKind.PROVIDER_OUTAGE: 'provider_outage'>, 60000, 1.0)
    >>> inc.progress(40_000)
    0.5
    >>> Incident("price_spike", "p", 5, 5)
    Traceback (most recent call last):
    ...
    ValueError: incident end_ms (5) must be after start_ms (5)
    """

    kind: IncidentKind
    provider_id: str
    start_ms: int
    end_ms: int
    severity: float = 1.0

    def __init__(
        self,
        kind: IncidentKind | str,
        provider_id: str,
        start_ms: int,
        end_ms: int,
        severity: float = 1.0,
    ) -> None:
        # A hand-written __init__ so callers (CLI, tests) may pass the kind as a plain
        # string while the attribute is always an IncidentKind.
        if end_ms <= start_ms:
            raise ValueError(f"incident end_ms ({end_ms}) must be after start_ms ({start_ms})")
        if not (0.0 < severity <= 1.0) or not math.isfinite(severity):
            raise ValueError(f"incident severity must be in (0, 1], got {severity}")
        object.__setattr__(self, "kind", IncidentKind(kind))
        object.__setattr__(self, "provider_id", provider_id)
        object.__setattr__(self, "start_ms", int(start_ms))
        object.__setattr__(self, "end_ms", int(end_ms))
        object.__setattr__(self, "severity", float(severity))

    @property
    def duration_ms(self) -> int:
        """Length of the incident in milliseconds."""
        return self.end_ms - self.start_ms

    def active(self, ts_ms: int) -> bool:
        """Whether the incident is in progress at event time ``ts_ms`` (end exclusive)."""
        return self.start_ms <= ts_ms < self.end_ms

    def progress(self, ts_ms: int) -> float:
        """Fraction of the incident elapsed at ``ts_ms``, clipped to ``[0, 1]``."""
        return min(1.0, max(0.0, (ts_ms - self.start_ms) / self.duration_ms))

    def to_dict(self) -> dict[str, str | int | float]:
        """JSON-friendly form (used by the CLI summary and by tests as labels)."""
        return {
            "kind": self.kind.value,
            "provider_id": self.provider_id,
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "severity": self.severity,
        }


@dataclass(frozen=True, slots=True)
class Effects:
    """Multipliers and overrides applied to a provider and its workloads.

    Every field defaults to "no effect"; :meth:`combine` merges two bundles so that
    overlapping incidents on one provider compound.

    Parameters
    ----------
    offline : bool
        Provider and its workloads emit no samples (heartbeat gap).
    temp_target_c : float or None
        Temperature the GPUs converge to instead of the load-driven one.
    clock_factor : float
        Multiplier of the SM clock (and therefore of compute throughput and power).
    rtt_factor, bandwidth_factor : float
        Multipliers of network round-trip time and bandwidth.
    throughput_factor : float
        Multiplier of every workload's throughput (contention).
    sync_factor : float
        Extra throughput multiplier for training / fine-tuning, which depend on the
        network for data loading and gradient synchronisation.
    latency_factor : float
        Multiplier of the compute part of inference latency.
    util_jitter_pct : float
        Standard deviation of extra utilisation noise, percentage points.
    mem_fill : float
        Fraction in ``[0, 1]`` of the free GPU memory that has leaked.
    price_factor : float
        Multiplier of the asking price.
    extra_errors : float
        Expected extra provider errors per sample.

    Examples
    --------
    >>> a = Effects(clock_factor=0.5)
    >>> b = Effects(clock_factor=0.8, offline=True)
    >>> c = a.combine(b)
    >>> c.clock_factor, c.offline
    (0.4, True)
    """

    offline: bool = False
    temp_target_c: float | None = None
    clock_factor: float = 1.0
    rtt_factor: float = 1.0
    bandwidth_factor: float = 1.0
    throughput_factor: float = 1.0
    sync_factor: float = 1.0
    latency_factor: float = 1.0
    util_jitter_pct: float = 0.0
    mem_fill: float = 0.0
    price_factor: float = 1.0
    extra_errors: float = 0.0

    def combine(self, other: Effects) -> Effects:
        """Return the effect of both bundles applied together."""
        temps = [t for t in (self.temp_target_c, other.temp_target_c) if t is not None]
        return Effects(
            offline=self.offline or other.offline,
            temp_target_c=max(temps) if temps else None,
            clock_factor=self.clock_factor * other.clock_factor,
            rtt_factor=self.rtt_factor * other.rtt_factor,
            bandwidth_factor=self.bandwidth_factor * other.bandwidth_factor,
            throughput_factor=self.throughput_factor * other.throughput_factor,
            sync_factor=self.sync_factor * other.sync_factor,
            latency_factor=self.latency_factor * other.latency_factor,
            util_jitter_pct=math.hypot(self.util_jitter_pct, other.util_jitter_pct),
            mem_fill=max(self.mem_fill, other.mem_fill),
            price_factor=self.price_factor * other.price_factor,
            extra_errors=self.extra_errors + other.extra_errors,
        )


#: The bundle of a healthy provider.
NO_EFFECTS = Effects()


def _effects_of(incident: Incident, ts_ms: int) -> Effects:
    s = incident.severity
    kind = incident.kind
    if kind is IncidentKind.THERMAL_THROTTLING:
        # Cooling failure: the GPUs sit at 88-97 °C and the driver pulls clocks down
        # by 20-45 %, which is what actually costs throughput.
        return Effects(
            temp_target_c=88.0 + 9.0 * s,
            clock_factor=1.0 - (0.2 + 0.25 * s),
            extra_errors=0.05 * s,
        )
    if kind is IncidentKind.NETWORK_DEGRADATION:
        return Effects(
            rtt_factor=3.0 + 7.0 * s,
            bandwidth_factor=1.0 / (1.0 + 4.0 * s),
            sync_factor=1.0 - 0.25 * s,
            extra_errors=0.1 * s,
        )
    if kind is IncidentKind.PROVIDER_OUTAGE:
        return Effects(offline=True)
    if kind is IncidentKind.NOISY_NEIGHBOUR:
        return Effects(
            throughput_factor=1.0 - 0.45 * s,
            latency_factor=1.0 + 1.5 * s,
            util_jitter_pct=15.0 * s,
        )
    if kind is IncidentKind.MEMORY_CREEP:
        # A leak grows linearly with time; at severity 1 the GPUs are (almost) full
        # when the incident ends (the leaking process is then restarted).
        return Effects(mem_fill=s * incident.progress(ts_ms))
    if kind is IncidentKind.PRICE_SPIKE:
        return Effects(price_factor=2.0 + 2.0 * s)
    raise AssertionError(f"unhandled incident kind {kind!r}")  # pragma: no cover


def effects_at(incidents: Iterable[Incident], ts_ms: int) -> Effects:
    """Combined effects of the incidents in ``incidents`` active at ``ts_ms``.

    Examples
    --------
    >>> effects_at([], 0) is NO_EFFECTS
    True
    >>> spike = Incident("price_spike", "p", 0, 10, severity=1.0)
    >>> effects_at([spike], 5).price_factor, effects_at([spike], 10).price_factor
    (4.0, 1.0)
    """
    fx = NO_EFFECTS
    for incident in incidents:
        if incident.active(ts_ms):
            fx = fx.combine(_effects_of(incident, ts_ms))
    return fx


def random_incidents(
    rng: np.random.Generator,
    provider_ids: Sequence[str],
    n: int,
    start_ms: int,
    end_ms: int,
    existing: Sequence[Incident] = (),
) -> list[Incident]:
    """Draw ``n`` incidents inside ``[start_ms, end_ms)``.

    Durations are 3-10 minutes (at most a quarter of the span), severities 0.5-1, and
    an incident avoids overlapping another one on the same provider when it can, so
    each label has one clear cause.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> incs = random_incidents(rng, ["a", "b"], 3, 0, 3_600_000)
    >>> len(incs), all(0 <= i.start_ms < i.end_ms <= 3_600_000 for i in incs)
    (3, True)
    """
    if n <= 0:
        return []
    if not provider_ids:
        raise ValueError("random incidents need at least one provider")
    span = end_ms - start_ms
    if span < 2:
        raise ValueError("random incidents need a span of at least 2 ms")
    kinds = list(IncidentKind)
    taken: list[Incident] = list(existing)
    out: list[Incident] = []
    for _ in range(n):
        candidate: Incident | None = None
        for _attempt in range(25):
            kind = kinds[int(rng.integers(len(kinds)))]
            provider = provider_ids[int(rng.integers(len(provider_ids)))]
            duration = int(min(rng.uniform(180_000, 600_000), span / 4))
            duration = max(1, duration)
            # Leave the first 5 % of the span healthy so detectors get a baseline.
            lo = start_ms + int(span * 0.05)
            hi = max(lo, end_ms - duration)
            begin = int(rng.integers(lo, hi + 1))
            severity = round(float(rng.uniform(0.5, 1.0)), 3)
            candidate = Incident(kind, provider, begin, begin + duration, severity)
            if not any(
                t.provider_id == provider
                and t.start_ms < candidate.end_ms
                and candidate.start_ms < t.end_ms
                for t in taken
            ):
                break
        assert candidate is not None
        taken.append(candidate)
        out.append(candidate)
    out.sort(key=lambda i: (i.start_ms, i.provider_id, i.kind.value))
    return out
