"""Series detector: windowed z-scores + sequence-memory likelihood + rest period, per feature.

The detector ``computeperf detect`` runs on exported series (one or several value
columns) and that the NAB figures in docs/benchmarks.md measure. Per feature, three
surprises (``-log10`` of a tail probability, so they keep growing where a probability
would round to 1), the largest of which counts:

1. :class:`~models.detectors.window_z.WindowedZScore`: the normal tail of the value's
   (and its 5-point mean's) distance from a long window's mean - spikes, level shifts;
2. :class:`~models.detectors.sequence.SequenceMemory` gives a raw score (how unexpected
   the value is after its recent context: rhythm, seasonality of any period, flat
   stretches), and :class:`~models.detectors.likelihood.AnomalyLikelihood` turns it
   into the surprise of the recent mean raw score (Numenta's anomaly likelihood);
   a second memory and likelihood do the same for the steps ``value - previous``
   (a broken shape at an ordinary level: a ramp that stops, a flat middle);
3. :class:`~models.detectors.seasonal.SeasonalResidual`: the distance of the recent
   values from the same time of day on earlier days (a daily shape that changes inside
   the normal range: a missing peak, a flat middle), judged against its own recent
   scale;

then:

4. the largest of 1-3 is held below the alarm level when
   :class:`~models.detectors.recurrence.DailyRecurrence` finds it reached at this time
   of day on two of the last 14 days (a nightly job's spike is routine); and the
   largest of that and the step channel of 2. counts;
5. the score is ``g / (1 + g)``, ``g = log2(1 + surprise / alarm_surprise)``: graded
   over [0, 1] without saturating (a surprise of 10^300 is still below 1.0), and
   ``threshold`` = 0.5 is the alarm level;
6. after an alarm, the feature's scores are damped below the alarm level for ``rest``
   points, so one anomaly raises one alarm rather than a flood (CAD OSE's rest period,
   Numenta's red-zone filter), and each recent alarm raises the bar for the next one.

The score of a point is the largest over its features; :attr:`Score.top_feature` names
the driving one. Rows are a sequence: time is read only as the time of day (the hour in
the sequence contexts, with ``hour_of_day``, and the seasonal residual's slots), so a
repeated or out-of-order timestamp is scored like any other row.

>>> import math
>>> det = SeriesDetector()
>>> scores = []
>>> for t in range(3000):
...     x = {"v": math.sin(2 * math.pi * t / 96) + (3.0 if t == 2500 else 0.0)}
...     s = det.score_one(x, t)
...     det.learn_one(x, t)
...     scores.append(s.value if s is not None and s.warm else math.nan)
>>> max(scores[1000:2500]) < det.threshold < scores[2500]
True
"""

from __future__ import annotations

import math
import sys
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from models.detectors.likelihood import AnomalyLikelihood
from models.detectors.recurrence import DailyRecurrence
from models.detectors.score import Score, finite_items
from models.detectors.seasonal import SeasonalResidual
from models.detectors.sequence import SequenceMemory
from models.detectors.window_z import WindowedZScore

__all__ = ["SeriesDetector"]


@dataclass
class _Channel:
    window: WindowedZScore
    memory: SequenceMemory
    likelihood: AnomalyLikelihood
    # None without ``deltas``: nothing to pickle for a channel that is never used.
    delta_memory: SequenceMemory | None
    delta_likelihood: AnomalyLikelihood | None
    seasonal: SeasonalResidual | None = None
    recurrence: DailyRecurrence | None = None
    last_value: float = math.nan
    since_alarm: int = 1 << 30
    seen: int = 0
    alarms: deque[int] = field(default_factory=deque)


class SeriesDetector:
    """Streaming detector for real-world series of unknown shape, one channel per feature.

    Parameters
    ----------
    alarm_surprise : float
        Surprise (``-log10`` tail probability) that maps to the score 0.5 = ``threshold``.
    rest : int
        Points after an alarm during which the feature's score is damped.
    damp : float
        During the rest period the surprise is ``damp * min(surprise, alarm_surprise)``:
        below the alarm level, but still graded.
    bins, order, warmup : int
        :class:`~models.detectors.sequence.SequenceMemory` quantisation, context length
        and warm-up.
    short_window, history, learning_period : int
        :class:`~models.detectors.likelihood.AnomalyLikelihood` parameters.
    window, short, short_weight
        :class:`~models.detectors.window_z.WindowedZScore` parameters.
    hour_of_day : bool
        Add the hour of day of ``ts_ms`` to the sequence contexts.
    tail_q : float
        Quantile of past z-scores that calibrates the windowed z's surprise.
    memory_kw, window_kw : Mapping, optional
        Further :class:`~models.detectors.sequence.SequenceMemory` arguments (both
        memories: e.g. ``recent`` and ``max_contexts`` bound the state) and
        :class:`~models.detectors.window_z.WindowedZScore` arguments (e.g. ``min_points``).
    deltas, delta_order
        Add the sequence memory (contexts of up to ``delta_order`` steps) and likelihood
        of the steps between values.
    seasonal, seasonal_kw, seasonal_weight
        Add the :class:`~models.detectors.seasonal.SeasonalResidual` surprise (built with
        ``seasonal_kw``, multiplied by ``seasonal_weight``).
    recurrence_days, recurrence_k, recurrence_hours, recurrent_cap
        A surprise of the value channels (windowed z, likelihood, seasonal residual)
        reached within ``recurrence_hours`` of this time of day on ``recurrence_k`` of
        the last ``recurrence_days`` days
        (:class:`~models.detectors.recurrence.DailyRecurrence`) counts as at most
        ``recurrent_cap``; ``recurrence_days=0`` turns this off.
    quiet_start : int
        Alarms of a feature's first ``quiet_start`` points (its warm-up) neither start
        a rest period nor count towards the alarm penalty.
    alarm_penalty, penalty_memory
        Each alarm of a feature in its last ``penalty_memory`` points lowers its
        surprise by ``alarm_penalty``: a feature that alarms often needs more to alarm
        again (a spiky series' routine spikes are not news).
    """

    threshold = 0.5

    def __init__(
        self,
        *,
        alarm_surprise: float = 5.0,
        rest: int = 100,
        damp: float = 0.5,
        bins: int = 12,
        order: int = 3,
        warmup: int = 50,
        short_window: int = 10,
        history: int = 8000,
        learning_period: int = 50,
        window: int = 6400,
        short: int = 5,
        short_weight: float = 2.0,
        hour_of_day: bool = True,
        tail_q: float = 0.985,
        alarm_penalty: float = 1.0,
        deltas: bool = True,
        penalty_memory: int = 4000,
        seasonal: bool = True,
        seasonal_kw: Mapping[str, Any] | None = None,
        seasonal_weight: float = 1.0,
        recurrence_days: int = 14,
        recurrence_k: int = 2,
        recurrence_hours: int = 1,
        recurrent_cap: float = 2.5,
        quiet_start: int = 100,
        delta_order: int = 2,
        memory_kw: Mapping[str, Any] | None = None,
        window_kw: Mapping[str, Any] | None = None,
    ) -> None:
        self.memory_kw = dict(memory_kw or {})
        self.window_kw = dict(window_kw or {})
        self.delta_order = delta_order
        self.quiet_start = quiet_start
        self.recurrence_days = recurrence_days
        self.recurrence_k = recurrence_k
        self.recurrence_hours = recurrence_hours
        self.recurrent_cap = recurrent_cap
        self.seasonal_weight = seasonal_weight
        self.seasonal = seasonal
        self.seasonal_kw = dict(seasonal_kw or {})
        self.alarm_penalty = alarm_penalty
        self.deltas = deltas
        self.penalty_memory = penalty_memory

        self.tail_q = tail_q
        self.window = window
        self.short = short
        self.short_weight = short_weight
        self.hour_of_day = hour_of_day
        self.alarm_surprise = alarm_surprise
        self.rest = rest
        self.damp = damp
        self.bins = bins
        self.order = order
        self.warmup = warmup
        self.short_window = short_window
        self.history = history
        self.learning_period = learning_period
        self._channels: dict[str, _Channel] = {}
        self._cache: tuple[object, dict[str, tuple[float, float, float]]] | None
        self._cache = None

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Names interned like pickle's default BUILD, and the argument dicts' keys too (in
        # the encoded detector they are the same strings as the attribute names): the
        # decoded detector pickles to the same bytes as the encoded one.
        for name in ("seasonal_kw", "memory_kw", "window_kw"):
            if name in state:
                state[name] = {sys.intern(k): v for k, v in state[name].items()}
        self.__dict__.update((sys.intern(name), value) for name, value in state.items())

    def _new_channel(self) -> _Channel:
        return _Channel(
            WindowedZScore(
                window=self.window,
                short=self.short,
                short_weight=self.short_weight,
                calibration_q=self.tail_q,
                **self.window_kw,
            ),
            SequenceMemory(bins=self.bins, order=self.order, warmup=self.warmup, **self.memory_kw),
            AnomalyLikelihood(
                short_window=self.short_window,
                history=self.history,
                learning_period=self.learning_period,
            ),
            (
                SequenceMemory(
                    bins=self.bins, order=self.delta_order, warmup=self.warmup, **self.memory_kw
                )
                if self.deltas
                else None
            ),
            (
                AnomalyLikelihood(
                    short_window=self.short_window,
                    history=self.history,
                    learning_period=self.learning_period,
                )
                if self.deltas
                else None
            ),
            SeasonalResidual(**self.seasonal_kw) if self.seasonal else None,
            (
                DailyRecurrence(self.recurrence_days, self.recurrence_k, self.recurrence_hours)
                if self.recurrence_days
                else None
            ),
        )

    def _phase(self, ts_ms: int) -> int | None:
        return (ts_ms // 3_600_000) % 24 if self.hour_of_day else None

    def _judge(
        self, items: tuple[tuple[str, float], ...], ts_ms: int
    ) -> dict[str, tuple[float, float, float]]:
        """Per warm feature: (raw score, damped surprise, value channels' surprise)."""
        if self._cache is not None and self._cache[0] == (items, ts_ms):
            return self._cache[1]
        judged: dict[str, tuple[float, float, float]] = {}
        phase = self._phase(ts_ms)
        for name, value in items:
            channel = self._channels.get(name)
            if channel is None or not channel.window.ready:
                continue
            surprise = channel.window.surprise(value)
            raw = math.nan
            if channel.memory.ready:
                raw = channel.memory.score_one(value, phase)
                if channel.likelihood.ready:
                    surprise = max(surprise, channel.likelihood.surprise(raw))
            if channel.seasonal is not None:
                surprise = max(
                    surprise, self.seasonal_weight * channel.seasonal.surprise(value, ts_ms)
                )
            level = surprise
            if channel.recurrence is not None and channel.recurrence.recurrent(level, ts_ms):
                surprise = min(surprise, self.recurrent_cap)
            surprise = max(0.0, surprise - self.alarm_penalty * len(channel.alarms))
            steps, stepped = channel.delta_memory, channel.delta_likelihood
            if steps is not None and stepped is not None and steps.ready and stepped.ready:
                draw = steps.score_one(value - channel.last_value)
                surprise = max(surprise, stepped.surprise(draw))
            if channel.since_alarm < self.rest:
                surprise = self.damp * min(surprise, self.alarm_surprise)
            judged[name] = (raw, surprise, level)
        self._cache = ((items, ts_ms), judged)
        return judged

    def _squash(self, surprise: float) -> float:
        # g / (1 + g), g = log2(1 + surprise / alarm): 0.5 at the alarm level, and
        # logarithmic beyond it, so even a surprise of 1e300 stays below 1.0.
        g = math.log2(1.0 + surprise / self.alarm_surprise)
        return g / (1.0 + g)

    def score_one(self, x: Mapping[str, float], ts_ms: int) -> Score | None:
        """Score ``x``: None without a finite feature, not warm before any channel is."""
        items = tuple(finite_items(x))
        if not items:
            return None
        judged = self._judge(items, ts_ms)
        contributions = {
            name: self._squash(surprise)
            for name, (_, surprise, _) in judged.items()
            if surprise >= 0
        }
        if not contributions:
            return Score(0.0, warm=False)
        observed = {name: value for name, value in items if name in contributions}
        expected = {name: self._channels[name].window.mean for name in observed}
        return Score(max(contributions.values()), True, contributions, expected, observed)

    def learn_one(self, x: Mapping[str, float], ts_ms: int) -> None:
        """Learn ``x`` (every point is learned: a level shift becomes the new normal)."""
        items = tuple(finite_items(x))
        judged = self._judge(items, ts_ms)
        self._cache = None
        phase = self._phase(ts_ms)
        for name, value in items:
            channel = self._channels.get(name)
            if channel is None:
                channel = self._channels[name] = self._new_channel()
            raw, surprise, level = judged.get(name, (math.nan, -1.0, math.nan))
            if not math.isnan(raw):
                channel.likelihood.learn_one(raw)
            channel.seen += 1
            if surprise >= self.alarm_surprise and channel.seen > self.quiet_start:
                channel.since_alarm = 0
                channel.alarms.append(channel.seen)
            else:
                channel.since_alarm += 1
            while channel.alarms and channel.alarms[0] <= channel.seen - self.penalty_memory:
                channel.alarms.popleft()
            steps, stepped = channel.delta_memory, channel.delta_likelihood
            if steps is not None and stepped is not None and not math.isnan(channel.last_value):
                delta = value - channel.last_value
                if steps.ready:
                    stepped.learn_one(steps.score_one(delta))
                steps.learn_one(delta)
            channel.last_value = value
            if channel.recurrence is not None and not math.isnan(level):
                channel.recurrence.learn_one(level, ts_ms)
            channel.window.learn_one(value)
            if channel.seasonal is not None:
                channel.seasonal.learn_one(value, ts_ms)
            channel.memory.learn_one(value, phase)
