"""Detection quality of a detector on a labelled stream (score first, then learn).

>>> from models.detectors.robust import RobustBaselineDetector
>>> from models.detectors.synthetic import Injection, synthetic_stream
>>> points = synthetic_stream(0, 24 * 3, injections=[Injection(60, 3, "rtt_ms", 8.0)])
>>> q = evaluate(RobustBaselineDetector(), points, threshold=0.9)
>>> q.incidents, q.detected
(1, 1)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from models.detectors.score import Detector
from models.detectors.synthetic import LabelledPoint

__all__ = ["Quality", "evaluate"]


@dataclass(frozen=True, slots=True)
class Quality:
    """Point precision of alarms and incident recall within a delay.

    Attributes
    ----------
    precision : float
        Alarms on (or ``grace`` points after) a labelled point / all alarms (1.0 when
        there is no alarm).
    recall : float
        Incidents (runs of labelled points) alarmed within ``max_delay`` points of their
        start / incidents (1.0 when there is none).
    incidents, detected, alarms, false_alarms : int
        The counts behind them.
    unknown : int
        Points scored ``warm=False`` (or None): neither alarms nor silence.
    """

    precision: float
    recall: float
    incidents: int
    detected: int
    alarms: int
    false_alarms: int
    unknown: int


def evaluate(
    detector: Detector,
    points: Sequence[LabelledPoint],
    *,
    threshold: float = 0.9,
    max_delay: int = 2,
    grace: int = 1,
) -> Quality:
    """Run ``detector`` over ``points`` and measure its alarms against the labels."""
    alarms: list[bool] = []
    unknown = 0
    for p in points:
        score = detector.score_one(p.x, p.ts_ms)
        detector.learn_one(p.x, p.ts_ms)
        warm = score is not None and score.warm
        unknown += not warm
        alarms.append(warm and score is not None and score.value >= threshold)
    labels = [p.label for p in points]
    starts = [i for i, lab in enumerate(labels) if lab and (i == 0 or not labels[i - 1])]
    detected = sum(any(alarms[s : s + max_delay]) for s in starts)
    near_label = [any(labels[max(0, i - grace) : i + 1]) for i in range(len(points))]
    n_alarms = sum(alarms)
    false_alarms = sum(a and not near for a, near in zip(alarms, near_label, strict=True))
    return Quality(
        precision=(n_alarms - false_alarms) / n_alarms if n_alarms else 1.0,
        recall=detected / len(starts) if starts else 1.0,
        incidents=len(starts),
        detected=detected,
        alarms=n_alarms,
        false_alarms=false_alarms,
        unknown=unknown,
    )
