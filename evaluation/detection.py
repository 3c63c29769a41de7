"""Event-level detection figures on simulated days: the agent's detector against two baselines.

Like :mod:`evaluation.prediction`, this reads the simulator's pure core. Provider samples
are aggregated into windows with the pipeline's own code (:class:`TumblingWindows`,
:class:`Watermark`, :func:`summarize_window`), then each provider's windows are scored
in event-time order by three methods: the live agent's detector (the series detector of
``computeperf detect`` for windows, :func:`~models.detectors.window_detector.window_detector`;
its figures keep the key ``"ensemble"``, the name of the agent's earlier detector), a
static threshold and a rolling z-score. :func:`event_metrics` turns alarms and
incidents into the figures.

Every incident kind the simulator injects, and whether the detectors are meant to catch
it: ``thermal_throttling``, ``network_degradation``, ``noisy_neighbour`` (a co-tenant:
throughput down, latency up, jittery utilisation) and ``memory_creep`` (GPU memory
filling up over the incident) change provider telemetry, so they are scored, and
``per_kind`` gives recall and delay for each. Excluded, and why: ``price_spike``
changes the catalogue price only, never the telemetry; ``provider_outage`` stops the
samples, so the pipeline emits no window at all and there is nothing to score (an
absence rule is the tool for it, not a detector). Both are counted in
``parameters.incidents_excluded``.

>>> m = event_metrics({"p": [3, 4, 9]}, {"p": [(3, 5)]}, provider_days=1.0)
>>> m["precision"], m["recall"], m["median_delay_windows"]
(0.5, 1.0, 0.0)
"""

from __future__ import annotations

import math
import pickle
import statistics
import time
import zlib
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from models.detectors.features import window_features
from models.detectors.window_detector import window_detector, window_detector_features
from models.summaries import summarize_window
from models.windows import SeriesWindows, TumblingWindows, Watermark
from schemas import EntityType, MetricWindow, ProviderSample
from sim.incidents import Incident, IncidentKind
from sim.marketplace import TOPIC_PROVIDER, MarketplaceSim

__all__ = [
    "EXCLUDED_KINDS",
    "RollingZScore",
    "StaticThreshold",
    "bench_detection",
    "evaluate_detection",
    "event_metrics",
    "simulated_windows",
]

_START_MS = 1_700_000_000_000
_DAY_MS = 86_400_000
#: Incident kinds that leave no trace in provider windows (see the module docstring).
EXCLUDED_KINDS = frozenset({IncidentKind.PRICE_SPIKE, IncidentKind.PROVIDER_OUTAGE})


class StaticThreshold:
    """Fixed limits: p95 GPU temperature above ``temp_c`` or p95 RTT above ``rtt_factor`` x typical.

    "Typical" RTT is the median p95 RTT of the first ``learn_windows`` windows, then frozen
    (a static rule needs one number per provider; an operator would read it off a dashboard).

    >>> s = StaticThreshold(learn_windows=2)
    >>> [s.alarm({"gpu_temp_c.p95": t, "net_rtt_ms.p95": r}) for t, r in
    ...  [(70, 10), (70, 10), (90, 10), (70, 31)]]
    [False, False, True, True]
    """

    def __init__(
        self, temp_c: float = 85.0, rtt_factor: float = 3.0, learn_windows: int = 30
    ) -> None:
        self.temp_c = temp_c
        self.rtt_factor = rtt_factor
        self.learn_windows = learn_windows
        self._rtts: list[float] = []
        self._typical_rtt: float | None = None

    def alarm(self, x: Mapping[str, float]) -> bool:
        rtt = x.get("net_rtt_ms.p95")
        if self._typical_rtt is None and rtt is not None:
            self._rtts.append(rtt)
            if len(self._rtts) >= self.learn_windows:
                self._typical_rtt = statistics.median(self._rtts)
        hot = x.get("gpu_temp_c.p95", -math.inf) > self.temp_c
        slow = (
            self._typical_rtt is not None
            and rtt is not None
            and rtt > self.rtt_factor * self._typical_rtt
        )
        return hot or slow


class RollingZScore:
    """Alarm when a feature is over ``z`` standard deviations from its last ``window`` values.

    A feature is judged only once it has ``window`` past values with a non-zero spread.

    >>> r = RollingZScore(window=3)
    >>> [r.alarm({"a": v}) for v in (1.0, 2.0, 3.0, 2.0, 50.0)]
    [False, False, False, False, True]
    """

    def __init__(self, window: int = 30, z: float = 3.0) -> None:
        self.window = window
        self.z = z
        self._past: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=window))

    def alarm(self, x: Mapping[str, float]) -> bool:
        hit = False
        for name, value in x.items():
            past = self._past[name]
            if len(past) == self.window:
                arr = np.fromiter(past, dtype=np.float64)
                std = float(arr.std())
                if std > 0 and abs(value - float(arr.mean())) > self.z * std:
                    hit = True
            past.append(value)
        return hit


def simulated_windows(
    seed: int, *, days: float, providers: int, window_s: int, interval_s: int = 10
) -> tuple[dict[str, list[MetricWindow]], list[Incident]]:
    """Provider windows of one simulated run (as the pipeline closes them) and its incidents."""
    end_ms = _START_MS + int(days * _DAY_MS)
    sim = MarketplaceSim(
        seed=seed,
        providers=providers,
        workloads=providers,
        interval_ms=interval_s * 1000,
        # ~2 incidents per provider-day, a third of which leave no trace (excluded).
        random_incidents=max(1, round(2 * providers * days)),
        random_incident_horizon_ms=end_ms - _START_MS,
    )
    tumbling = TumblingWindows(window_ms=window_s * 1000, grace_ms=interval_s * 1000)
    watermark = Watermark()
    series: dict[str, SeriesWindows] = {}
    out: dict[str, list[MetricWindow]] = defaultdict(list)

    def close(wm: int) -> None:
        for key, s in series.items():
            for start, acc in tumbling.close(s, watermark_ms=wm):
                out[key].append(
                    summarize_window(EntityType.PROVIDER, key, start, tumbling.window_ms, acc)
                )

    last_wm = watermark.value_ms
    for rec in sim.records(_START_MS, end_ms):
        if rec.topic != TOPIC_PROVIDER or not isinstance(rec.record, ProviderSample):
            continue
        sample = rec.record
        wm = watermark.advance(sample.ts_ms, tumbling.grace_ms)
        s = series.setdefault(sample.provider_id, SeriesWindows(partition=0))
        values = {name: getattr(sample, name) for name in ProviderSample.NUMERIC_FIELDS}
        tumbling.add(s, ts_ms=sample.ts_ms, seq=sample.seq, values=values, watermark_ms=wm)
        if wm != last_wm:
            close(wm)
            last_wm = wm
    close(end_ms + tumbling.window_ms)  # the stream ends: every open window closes
    return dict(out), sim.incidents


def event_metrics(
    alarms: Mapping[str, Iterable[int]],
    incidents: Mapping[str, Sequence[tuple[int, int]]],
    *,
    provider_days: float,
    tolerance: int = 2,
) -> dict[str, float | int | None]:
    """Event-level figures from alarm window indices and incident index ranges per provider.

    ``incidents[p]`` holds ``(first, last)`` window indices (inclusive). An incident is
    detected when an alarm falls in ``[first, last + tolerance]``; its delay is the first
    such alarm minus ``first``. Consecutive alarm windows make one alarm event, true when it
    overlaps ``[first - tolerance, last + tolerance]`` of an incident of its provider.
    Precision is 1.0 without alarms, recall 1.0 without incidents, the delay None when
    nothing was detected.
    """
    n_incidents = detected = true_events = n_events = 0
    delays: list[int] = []
    for provider in sorted(set(alarms) | set(incidents)):
        hits = sorted(set(alarms.get(provider, ())))
        spans = incidents.get(provider, ())
        for first, last in spans:
            n_incidents += 1
            inside = [i for i in hits if first <= i <= last + tolerance]
            if inside:
                detected += 1
                delays.append(inside[0] - first)
        for lo, hi in _runs(hits):
            n_events += 1
            true_events += any(
                lo <= last + tolerance and hi >= first - tolerance for first, last in spans
            )
    precision = true_events / n_events if n_events else 1.0
    recall = detected / n_incidents if n_incidents else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "median_delay_windows": float(statistics.median(delays)) if delays else None,
        "false_alarms_per_provider_day": (n_events - true_events) / provider_days,
        "incidents": n_incidents,
        "detected": detected,
        "alarm_events": n_events,
        "false_alarm_events": n_events - true_events,
    }


def _runs(indices: Sequence[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for i in indices:
        if runs and i == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    return runs


def evaluate_detection(
    seed: int = 11, *, days: float = 1.0, providers: int = 8, window_s: int = 60
) -> dict[str, object]:
    """Simulate, aggregate, score with the three methods; return their event-level figures."""
    window_ms = window_s * 1000
    windows, incidents = simulated_windows(seed, days=days, providers=providers, window_s=window_s)
    spans: dict[str, list[tuple[int, int]]] = defaultdict(list)
    spans_by_kind: dict[str, dict[str, list[tuple[int, int]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    kept = [i for i in incidents if i.kind not in EXCLUDED_KINDS]
    for inc in kept:
        span = ((inc.start_ms - _START_MS) // window_ms, (inc.end_ms - 1 - _START_MS) // window_ms)
        spans[inc.provider_id].append(span)
        spans_by_kind[inc.kind.value][inc.provider_id].append(span)
    alarms: dict[str, dict[str, list[int]]] = {
        "ensemble": {},
        "static_threshold": {},
        "rolling_zscore": {},
    }
    for provider, series in sorted(windows.items()):
        ensemble = window_detector()
        static = StaticThreshold()
        zscore = RollingZScore()
        hits: dict[str, list[int]] = {name: [] for name in alarms}
        for w in series:
            x = window_features(w)
            xe = window_detector_features(w)
            index = (w.window_start_ms - _START_MS) // window_ms
            score = ensemble.score_one(xe, w.window_start_ms)
            ensemble.learn_one(xe, w.window_start_ms)
            if score is not None and score.warm and score.value >= ensemble.threshold:
                hits["ensemble"].append(index)
            if static.alarm(x):
                hits["static_threshold"].append(index)
            if zscore.alarm(x):
                hits["rolling_zscore"].append(index)
        for name in alarms:
            alarms[name][provider] = hits[name]
    provider_days = providers * days
    result: dict[str, object] = {
        name: event_metrics(by_provider, spans, provider_days=provider_days)
        for name, by_provider in alarms.items()
    }
    # Recall and delay per incident kind (precision has no kind: a false alarm has none).
    result["per_kind"] = {
        name: {
            kind: {
                key: figures[key]
                for key in ("incidents", "detected", "recall", "median_delay_windows")
            }
            for kind, by_provider in sorted(spans_by_kind.items())
            for figures in [event_metrics(alarms[name], by_provider, provider_days=provider_days)]
        }
        for name in alarms
    }
    result["parameters"] = {
        "seed": seed,
        "days": days,
        "providers": providers,
        "window_s": window_s,
        "detector": "window_detector",
        "windows": sum(len(s) for s in windows.values()),
        "incidents_scored": len(kept),
        "incidents_excluded": {
            kind.value: sum(i.kind is kind for i in incidents) for kind in sorted(EXCLUDED_KINDS)
        },
    }
    return result


def bench_detection(
    seed: int = 0, *, warmup_windows: int = 300, timed_windows: int = 300, window_s: int = 60
) -> dict[str, float]:
    """µs per score+learn of one window's features, and the agent detector's pickled bytes.

    ``bytes_per_entity`` is the raw pickle; ``bytes_per_entity_zlib`` what the agent's
    table stores before base64. (``computeperf bench anomaly-stage`` times the whole
    stage: state decode, score, learn, encode.)

    Features come from simulated windows of one provider (the 21 the agent sees).
    """
    days = (warmup_windows + timed_windows + 2) * window_s / 86_400
    windows, _ = simulated_windows(seed, days=days, providers=1, window_s=window_s)
    series = next(iter(windows.values()))
    points = [(window_detector_features(w), w.window_start_ms) for w in series]
    detector = window_detector()
    for x, ts_ms in points[:warmup_windows]:
        detector.score_one(x, ts_ms)
        detector.learn_one(x, ts_ms)
    timed = points[warmup_windows : warmup_windows + timed_windows]
    t0 = time.perf_counter()
    for x, ts_ms in timed:
        detector.score_one(x, ts_ms)
        detector.learn_one(x, ts_ms)
    elapsed = time.perf_counter() - t0
    state = pickle.dumps(detector, protocol=pickle.HIGHEST_PROTOCOL)
    return {
        "us_per_point": elapsed / max(1, len(timed)) * 1e6,
        "bytes_per_entity": float(len(state)),
        # What the agent's table holds (base64 adds a third on top of this).
        "bytes_per_entity_zlib": float(len(zlib.compress(state))),
        "points_timed": float(len(timed)),
        "features": float(len(points[0][0])) if points else 0.0,
    }
