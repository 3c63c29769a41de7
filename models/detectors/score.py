"""The detector protocol and its output: a :class:`Score` with its explanation.

Every detector scores first, then learns (River's ``score_one`` / ``learn_one``), with
event time passed in, never read from a clock:

>>> from models.detectors import RobustBaselineDetector
>>> det = RobustBaselineDetector(warmup=3)
>>> for ts, v in enumerate([10.0, 11.0, 10.5, 10.2]):
...     score = det.score_one({"t": v}, ts)
...     det.learn_one({"t": v}, ts)
>>> isinstance(det, Detector), score is not None and score.warm
(True, True)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from schemas import Anomaly, EntityType

__all__ = ["Detector", "Score", "finite_items", "squash"]


@dataclass(frozen=True, slots=True)
class Score:
    """How anomalous one observation is, and why.

    Parameters
    ----------
    value : float
        Anomaly score in [0, 1]; higher is more anomalous. Meaningless when ``warm`` is
        False (the detector has not seen enough data: the score is *unknown*, not healthy).
    warm : bool
        Whether the detector had enough history to judge.
    contributions : dict[str, float]
        Feature -> its own score in [0, 1] (how much it alone pushes the score up).
    expected, observed : dict[str, float]
        Baseline and actual value of each scored feature.

    Examples
    --------
    >>> s = Score(0.97, warm=True, contributions={"gpu_temp_c": 0.97},
    ...           expected={"gpu_temp_c": 70.0}, observed={"gpu_temp_c": 93.0})
    >>> s.top_feature
    'gpu_temp_c'
    >>> s.to_anomaly("provider", "prov-1", 1_700_000_000_000, "ensemble").score
    0.97
    >>> Score(1.5, warm=True)
    Traceback (most recent call last):
    ...
    ValueError: score value must be in [0, 1], got 1.5
    """

    value: float
    warm: bool
    contributions: dict[str, float] = field(default_factory=dict)
    expected: dict[str, float] = field(default_factory=dict)
    observed: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0.0 <= self.value <= 1.0:
            raise ValueError(f"score value must be in [0, 1], got {self.value}")

    @property
    def top_feature(self) -> str | None:
        """The feature contributing most, or None when there is none."""
        if not self.contributions:
            return None
        return max(sorted(self.contributions), key=self.contributions.__getitem__)

    def to_anomaly(
        self, entity_type: EntityType | str, entity_id: str, ts_ms: int, detector: str
    ) -> Anomaly:
        """The ``perf.anomalies`` record of this score."""
        return Anomaly(
            entity_type=EntityType(entity_type),
            entity_id=entity_id,
            ts_ms=ts_ms,
            score=self.value,
            detector=detector,
            contributing_features=dict(self.contributions),
            expected=dict(self.expected),
            observed=dict(self.observed),
        )


@runtime_checkable
class Detector(Protocol):
    """An online anomaly detector: score an observation, then learn from it.

    ``score_one`` must not change what later calls return; it returns None when ``x``
    holds nothing the detector can score (no finite feature).
    """

    def score_one(self, x: Mapping[str, float], ts_ms: int) -> Score | None: ...

    def learn_one(self, x: Mapping[str, float], ts_ms: int) -> None: ...


def squash(z: float, z_half: float, power: float = 3.0) -> float:
    """Map a non-negative deviation ``z`` to [0, 1]; ``z_half`` maps to exactly 0.5.

    A Hill curve ``z**k / (z**k + z_half**k)``: calibrated so that the deviation at which
    an operator would call a point "as likely anomalous as not" scores 0.5, and twice that
    scores about 0.9.

    Examples
    --------
    >>> squash(0.0, 4.0), squash(4.0, 4.0), round(squash(8.0, 4.0), 3)
    (0.0, 0.5, 0.889)
    >>> squash(float("inf"), 4.0)
    1.0
    """
    if z <= 0.0:
        return 0.0
    try:
        ratio = math.pow(z / z_half, power)
    except OverflowError:
        return 1.0
    # 1 - 1/(1+r), not r/(1+r): every step is monotone under rounding, so a larger
    # deviation never scores lower (r/(1+r) did by one ulp near 1, found by Hypothesis).
    return 1.0 - 1.0 / (1.0 + ratio) if math.isfinite(ratio) else 1.0


def finite_items(x: Mapping[str, float]) -> list[tuple[str, float]]:
    """The features of ``x`` with a finite numeric value, sorted by name.

    >>> finite_items({"b": 1, "a": float("nan"), "c": 2.5})
    [('b', 1.0), ('c', 2.5)]
    """
    out: list[tuple[str, float]] = []
    for name, value in sorted(x.items()):
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if math.isfinite(value):
            out.append((name, float(value)))
    return out


#: Judges one finite feature: ``(score contribution, expected value)``, or None while the
#: detector cannot score that feature yet (warm-up, too few peers, ...).
FeatureJudge = Callable[[str, float], "tuple[float, float] | None"]


def score_features(x: Mapping[str, float], judge: FeatureJudge) -> Score | None:
    """The one opening of the per-feature detectors' ``score_one``.

    None when ``x`` has no finite feature; a cold score when no feature could be judged;
    else the largest contribution, with every judged feature's contribution, expected
    and observed value.

    >>> score_features({"a": float("nan")}, lambda name, v: (0.5, 0.0)) is None
    True
    >>> score_features({"a": 1.0}, lambda name, v: None).warm
    False
    >>> s = score_features({"a": 3.0, "b": 1.0}, lambda name, v: (v / 4, 1.0))
    >>> s.value, s.contributions, s.expected, s.observed
    (0.75, {'a': 0.75, 'b': 0.25}, {'a': 1.0, 'b': 1.0}, {'a': 3.0, 'b': 1.0})
    """
    items = finite_items(x)
    if not items:
        return None
    contributions: dict[str, float] = {}
    expected: dict[str, float] = {}
    observed: dict[str, float] = {}
    for name, value in items:
        judged = judge(name, value)
        if judged is None:
            continue
        contributions[name], expected[name] = judged
        observed[name] = value
    if not contributions:
        return Score(0.0, warm=False)
    return Score(max(contributions.values()), True, contributions, expected, observed)
