"""Ensemble of calibrated detectors that re-baselines after a confirmed level shift.

Detection quality on two weeks of hourly windows with a daily cycle, drift and six
injected spikes and level shifts (7-10.5 noise deviations), scored first, then learned;
an incident counts as caught when an alarm (score >= 0.9) comes within its first two
windows:

>>> from models.detectors.evaluation import evaluate
>>> from models.detectors.synthetic import random_injections, synthetic_stream
>>> points = synthetic_stream(3, 24 * 14, injections=random_injections(3, 6, 24 * 5, 24 * 14))
>>> q = evaluate(EnsembleDetector(seed=3), points)
>>> print(f"Precision: {q.precision:.2%}  Recall: {q.recall:.2%}  Unknown: {q.unknown}")
Precision: 100.00%  Recall: 100.00%  Unknown: 28

A permanent level shift is flagged, then becomes the new normal after ``shift_windows``:

>>> det = EnsembleDetector(seed=7)
>>> q = evaluate(det, synthetic_stream(7, 24 * 14, shift_at=24 * 8), grace=12)
>>> q.detected, q.alarms, q.false_alarms, det.rebaselines
(1, 12, 0, 1)
"""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Mapping, Sequence

from models.detectors.calibration import QuantileCalibrator
from models.detectors.forecast import ForecastResidualDetector
from models.detectors.hst import HalfSpaceTreesDetector
from models.detectors.peer import PeerGroupDetector
from models.detectors.robust import RobustBaselineDetector
from models.detectors.score import Detector, Score, finite_items

__all__ = ["EnsembleDetector"]


def default_members(seed: int, period_ms: int, step_ms: int | None) -> list[Detector]:
    """Robust baseline, Half-Space Trees and Holt-Winters residuals."""
    return [
        RobustBaselineDetector(),
        HalfSpaceTreesDetector(seed=seed),
        ForecastResidualDetector(period_ms=period_ms, step_ms=step_ms),
    ]


class EnsembleDetector:
    """Calibrate each member's score, take the strongest, and protect the baseline.

    Each member's raw score is calibrated by a :class:`QuantileCalibrator` fed with that
    member's scores on healthy points; the ensemble score is the largest calibrated score
    of the warm members (one member sure of an anomaly is enough; calibration keeps the
    false-alarm rate of each near its healthy tail). The ensemble is warm once one member
    is warm and calibrated.

    During warm-up every point is learned (there is nothing yet to judge it by). After
    it, two rules keep the baseline honest:

    * a point scoring at least ``threshold`` on its own is held back: learned late when
      the next point shows a one-off (fewer than ``confirm_windows`` in a row), never
      when the run confirms an incident, so an incident does not poison the baseline
      it is judged against;
    * when ``shift_windows`` consecutive points score at least ``threshold``, the shift
      is confirmed: members are rebuilt from their initial configuration and learn the
      shifted points (calibrators are kept, so members already warm again, like the
      robust baseline, score at once). :attr:`rebaselines` counts these.

    Parameters
    ----------
    members : sequence of Detector, optional
        Detectors to combine, in their initial (unlearned) state; deep-copied, except the
        :class:`~models.detectors.peer.Cohort` of a peer-group member, which stays
        shared. Default:
        robust baseline, Half-Space Trees (seeded with ``seed``) and Holt-Winters
        residuals with ``period_ms`` / ``step_ms``.
    threshold : float
        Score from which a point is anomalous (not learned, counts towards a shift).
    shift_windows : int
        Consecutive anomalous points that confirm a level shift.
    seed : int
        Seed of the default members.
    period_ms, step_ms : int
        Seasonal period and point spacing of the default forecaster (None: inferred).
    history_size, min_history : int
        Calibrator history and the history needed before a member counts.
    confirm_windows : int
        Persistence: a point's score is the smallest single-point score of the last
        ``confirm_windows`` points (1: no persistence). Anomalous points are held back
        and learned late when the run turns out shorter than this (a one-off), never
        when it is confirmed (an incident).
    agreement : int
        The score is the ``agreement``-th strongest member score (1: the strongest).
    precalibrated : sequence of bool, optional
        Per member: its raw score is already on the common scale (a squashed robust
        z-score, like the robust baseline's and the forecast residuals'), so it is used
        as is. A quantile calibration against its own healthy 95th percentile would
        amplify a member whose healthy scores are all near 0.
    """

    def __init__(
        self,
        members: Sequence[Detector] | None = None,
        *,
        threshold: float = 0.9,
        shift_windows: int = 12,
        seed: int = 0,
        period_ms: int = 86_400_000,
        step_ms: int | None = None,
        history_size: int = 500,
        min_history: int = 20,
        confirm_windows: int = 1,
        agreement: int = 1,
        precalibrated: Sequence[bool] | None = None,
    ) -> None:
        if shift_windows < 1:
            raise ValueError(f"shift_windows must be >= 1, got {shift_windows}")
        if not 1 <= confirm_windows <= shift_windows:
            raise ValueError(f"need 1 <= confirm_windows <= shift_windows, got {confirm_windows}")
        template = list(members) if members is not None else None
        if template is None:
            template = default_members(seed, period_ms, step_ms)
        self.threshold = threshold
        self.shift_windows = shift_windows
        self.seed = seed
        self._template = self._copy(template)
        self.members: list[Detector] = self._copy(template)
        self.precalibrated = (
            [False] * len(template) if precalibrated is None else list(precalibrated)
        )
        if len(self.precalibrated) != len(template):
            raise ValueError("precalibrated needs one flag per member")
        self.calibrators = [
            QuantileCalibrator(history_size, min_history=min_history) for _ in template
        ]
        self.confirm_windows = confirm_windows
        if agreement < 1:
            raise ValueError(f"agreement must be >= 1, got {agreement}")
        self.agreement = agreement
        self._streak: list[tuple[dict[str, float], int]] = []
        # Unconfirmed anomalous points, held back until the next points tell whether they
        # start an incident (then never learned) or were a one-off (then learned late).
        self._held: list[tuple[dict[str, float], int, list[Score | None]]] = []
        # Single-point ensemble values of the last confirm_windows - 1 points learned.
        self._recent: deque[float] = deque(maxlen=max(1, confirm_windows - 1))
        self.rebaselines = 0

    @staticmethod
    def _copy(members: Sequence[Detector]) -> list[Detector]:
        # A peer-group member's cohort is shared state fed by the other entities: copy
        # the member, not the cohort.
        shared = {id(m.cohort): m.cohort for m in members if isinstance(m, PeerGroupDetector)}
        return copy.deepcopy(list(members), memo=shared)

    def _evaluate(
        self, x: Mapping[str, float], ts_ms: int
    ) -> tuple[Score | None, list[Score | None]]:
        raws = [m.score_one(x, ts_ms) for m in self.members]
        if all(r is None for r in raws):
            return None, raws
        calibrated: list[tuple[float, Score]] = []
        for raw, cal, own in zip(raws, self.calibrators, self.precalibrated, strict=True):
            if raw is None or not raw.warm:
                continue
            if own:
                calibrated.append((raw.value, raw))
            elif cal.ready:
                calibrated.append((cal.calibrate(raw.value), raw))
        if not calibrated:
            return Score(0.0, warm=False), raws
        # Strongest member first; ties keep member order (stable sort).
        calibrated.sort(key=lambda pair: -pair[0])
        # Agreement: the k-th strongest member's score (k = agreement, or every warm
        # member when fewer are warm), so one member's noise alone never alarms.
        value = calibrated[min(self.agreement, len(calibrated)) - 1][0]
        top = calibrated[0][1]
        contributions: dict[str, float] = {}
        expected: dict[str, float] = {}
        observed: dict[str, float] = {}
        for weight, raw in calibrated:
            for name, c in raw.contributions.items():
                contributions[name] = max(contributions.get(name, 0.0), weight * c)
            for name, v in raw.expected.items():
                expected.setdefault(name, v)
            observed.update(raw.observed)
        expected.update(top.expected)
        return Score(value, True, contributions, expected, observed), raws

    def _confirmed(self, score: Score) -> Score:
        # Persistence: the score of a point is the smallest single-point score of the
        # last confirm_windows points, so one odd window never alarms on its own.
        if not score.warm or self.confirm_windows == 1:
            return score
        recent = list(self._recent)[-(self.confirm_windows - 1) :]
        if len(recent) < self.confirm_windows - 1:
            return score
        value = min([score.value, *recent])
        return Score(value, True, score.contributions, score.expected, score.observed)

    def score_one(self, x: Mapping[str, float], ts_ms: int) -> Score | None:
        """Score ``x``; None when no member can (no finite feature)."""
        score = self._evaluate(x, ts_ms)[0]
        return None if score is None else self._confirmed(score)

    @property
    def in_shift(self) -> int:
        """Consecutive anomalous points seen so far (0 when the last one was healthy)."""
        return len(self._streak) + len(self._held)

    def learn_one(self, x: Mapping[str, float], ts_ms: int) -> None:
        """Learn ``x`` unless it is part of an incident; re-baseline after a confirmed shift."""
        # Scored again (not cached from score_one) so that score_one stays free of state
        # and learn_one is correct even when called alone.
        score, raws = self._evaluate(x, ts_ms)
        if score is None:
            return
        point = dict(finite_items(x))
        if not (score.warm and score.value >= self.threshold):
            for held in self._held:  # a one-off: learned late, in time order
                self._learn(*held)
            self._held.clear()
            self._streak.clear()
            self._learn(point, ts_ms, raws)
            self._recent.append(score.value if score.warm else 0.0)
            return
        self._recent.append(score.value)
        self._held.append((point, ts_ms, raws))
        if not self._streak and len(self._held) < self.confirm_windows:
            return
        # Confirmed: the held points are an incident; they are never learned.
        self._streak.extend((p, t) for p, t, _ in self._held)
        self._held.clear()
        if len(self._streak) >= self.shift_windows:
            self._rebaseline()

    def _learn(self, x: dict[str, float], ts_ms: int, raws: list[Score | None]) -> None:
        for member, raw, cal in zip(self.members, raws, self.calibrators, strict=True):
            if raw is not None and raw.warm:
                cal.update(raw.value)
            member.learn_one(x, ts_ms)

    def _rebaseline(self) -> None:
        self.members = self._copy(self._template)
        for point, ts_ms in self._streak:
            for member in self.members:
                member.learn_one(point, ts_ms)
        self._streak.clear()
        self.rebaselines += 1
