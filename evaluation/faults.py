"""The figures of ``computeperf evaluate faults`` from what the fault runs produced.

Pure: the runs themselves (a broker SIGKILLed, a worker SIGKILLed again and again,
hostile records) are ``bench/faults.py``; here their outputs are compared with what an
uninterrupted computation gives, and the figures with their targets.

- A window is **lost** when it never came out, or came out with fewer samples than were
  produced for it; **double counted** when it came out with more, came out twice with
  different contents, or its statistics differ from numpy's on the produced samples.
- An alert transition (fingerprint, status, start) of the uninterrupted run that the
  faulted run never emitted is **lost**; output is at-least-once, so repeats are not.
- A **worker crash** is an agent that crashed (mode logs ``Crashed reason=...``; an agent
  restarted by a rebalance logs it with a ``CancelledError``, which is no crash) or a
  worker that exited without being killed.

>>> figures = FaultFigures(broker_kills=1, worker_kills=5, windows_expected=384,
...     resume_after_broker_kill_s=11.3, fuzz_records=10_000, fuzz_dead_lettered=10_000)
>>> targets_missed(figures)
[]
>>> targets_missed(FaultFigures(windows_lost=2, fuzz_records=10, fuzz_dead_lettered=10))
['windows_lost', 'fuzz_records', 'resume_after_broker_kill_s']
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from schemas import Alert, MetricWindow, ProviderSample

__all__ = [
    "FaultFigures",
    "WindowFaults",
    "agent_crashes",
    "alert_transition",
    "alerts_lost",
    "compare_windows",
    "oracle_mismatch",
    "targets_missed",
]

#: Targets of issue 17: the most each figure may be (``resume``), or the least (fuzz).
MIN_FUZZ_RECORDS = 10_000
MAX_RESUME_S = 30.0
ZERO_FIGURES = (
    "windows_lost",
    "windows_double_counted",
    "alerts_lost",
    "valid_records_lost",
    "worker_crashes",
)


def oracle_mismatch(window: MetricWindow, samples: Sequence[ProviderSample]) -> str | None:
    """Why ``window`` is not the summary of ``samples`` (numpy on them), or ``None``.

    Counts, means (to 1e-9), minima and maxima must agree exactly; the p95 within the
    sketch's 1 % of a true sample quantile.
    """
    if window.count != len(samples):
        return f"{window.key}: {window.count} samples counted, {len(samples)} produced"
    for name in ProviderSample.NUMERIC_FIELDS:
        values = np.array([float(getattr(s, name)) for s in samples])
        stats = window.metrics.get(name)
        if stats is None or stats.count != len(values):
            return f"{window.key}: {name} counts {stats and stats.count}, produced {len(values)}"
        if not math.isclose(stats.mean, float(values.mean()), rel_tol=1e-9, abs_tol=1e-9):
            return f"{window.key}: {name} mean {stats.mean} vs {float(values.mean())}"
        if stats.min != values.min() or stats.max != values.max():
            return f"{window.key}: {name} min/max {stats.min}/{stats.max}"
        lo = float(np.quantile(values, 0.95, method="lower"))
        hi = float(np.quantile(values, 0.95, method="higher"))
        if not lo * 0.99 - 1e-9 <= stats.p95 <= hi * 1.01 + 1e-9:
            return f"{window.key}: {name} p95 {stats.p95} not in [{lo}, {hi}] +- 1 %"
    return None


@dataclass(frozen=True)
class WindowFaults:
    """Windows expected, lost and double counted, with a few examples of what went wrong."""

    expected: int
    lost: int
    double_counted: int
    examples: tuple[str, ...] = ()


def compare_windows(
    expected: Mapping[str, Sequence[ProviderSample]], emitted: Iterable[MetricWindow]
) -> WindowFaults:
    """Compare every emitted window record (repeats included) with the produced samples.

    >>> faults = compare_windows({"provider:p:1800000000000:5000": []}, [])
    >>> faults.expected, faults.lost, faults.double_counted, faults.examples
    (1, 1, 0, ('provider:p:1800000000000:5000: never emitted',))
    """
    by_key: dict[str, list[MetricWindow]] = defaultdict(list)
    for window in emitted:
        by_key[window.key].append(window)
    lost: list[str] = []
    double: list[str] = []
    for key, samples in expected.items():
        found = by_key.get(key, [])
        if not found:
            lost.append(f"{key}: never emitted")
            continue
        if any(w.count < len(samples) for w in found):
            lost.append(f"{key}: {min(w.count for w in found)} of {len(samples)} samples")
            continue
        if any(w.count > len(samples) for w in found):
            double.append(f"{key}: {max(w.count for w in found)} of {len(samples)} samples")
        elif any(w != found[0] for w in found):
            double.append(f"{key}: emitted twice, different")
        elif samples and (why := oracle_mismatch(found[0], samples)) is not None:
            double.append(why)
    return WindowFaults(len(expected), len(lost), len(double), tuple((lost + double)[:10]))


AlertTransition = tuple[str, str, int]


def alert_transition(alert: Alert) -> AlertTransition:
    """What identifies one transition of an alert: its repeats after a restart are equal."""
    return (alert.fingerprint, str(alert.status), alert.starts_at_ms)


def alerts_lost(expected: Iterable[Alert], emitted: Iterable[Alert]) -> int:
    """Transitions of the uninterrupted run that the faulted run never emitted.

    >>> labels = {"alertname": "GpuHot", "provider_id": "p"}
    >>> firing = Alert(fingerprint="ab", status="firing", labels=labels,
    ...                starts_at_ms=1_800_000_000_000, severity="warning")
    >>> resolved = firing.model_copy(update={"status": "resolved", "ends_at_ms": 1_800_000_060_000})
    >>> alerts_lost([firing, resolved], [firing, firing])
    1
    """
    return len({alert_transition(a) for a in expected} - {alert_transition(a) for a in emitted})


_CRASHED = re.compile(r"Crashed reason=(?!CancelledError)")


def agent_crashes(log_text: str) -> int:
    """Agent crashes in a worker's log; restarts on a rebalance (a ``CancelledError``) are not.

    >>> agent_crashes("[x] Crashed reason=MessageSizeTooLargeError()\\n"
    ...               "[y] Restarting on rebalance\\n[y] Crashed reason=CancelledError()\\n")
    1
    """
    return len(_CRASHED.findall(log_text))


@dataclass(frozen=True)
class FaultFigures:
    """The figures of one ``evaluate faults`` run, in the order they are printed."""

    broker_kills: int = 0
    worker_kills: int = 0
    windows_expected: int = 0
    windows_lost: int = 0
    windows_double_counted: int = 0
    alerts_lost: int = 0
    resume_after_broker_kill_s: float = math.nan
    fuzz_records: int = 0
    fuzz_dead_lettered: int = 0
    valid_records_lost: int = 0
    worker_crashes: int = 0

    def as_dict(self) -> dict[str, object]:
        """The figures, ``targets_missed`` and nothing else (the command adds the duration)."""
        figures: dict[str, object] = asdict(self)
        resume = self.resume_after_broker_kill_s
        figures["resume_after_broker_kill_s"] = round(resume, 1) if math.isfinite(resume) else None
        figures["targets_missed"] = targets_missed(self)
        return figures


def targets_missed(figures: FaultFigures) -> list[str]:
    """The names of the figures that miss their target (empty: every target met)."""
    missed = [name for name in ZERO_FIGURES if getattr(figures, name) != 0]
    if figures.fuzz_records < MIN_FUZZ_RECORDS:
        missed.append("fuzz_records")
    if figures.fuzz_dead_lettered != figures.fuzz_records:
        missed.append("fuzz_dead_lettered")
    # NaN (never resumed, or not measured) misses too.
    if not figures.resume_after_broker_kill_s <= MAX_RESUME_S:
        missed.append("resume_after_broker_kill_s")
    return missed
