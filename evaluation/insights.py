"""Quality figures of the analysis engine on a simulated marketplace with known causes.

:func:`sim.causes.build_scenario` injects, into a seeded fleet, one regional network incident (every
provider of a region), a thermal incident and a network incident on single providers,
and four workload faults (CPU starvation, memory-bound, storage I/O, under-utilisation)
on single workloads, one after another with healthy gaps. :func:`evaluate_insights`
aggregates the telemetry with the pipeline's own window code
(:class:`models.windows.TumblingWindows`), runs :class:`models.analysis.AnalysisEngine`
on every 1-minute fleet window, and scores:

* **bottleneck accuracy** over workload windows whose ground truth
  (:func:`sim.bottlenecks.true_bottleneck`) is one class for the whole window, with the
  confusion matrix and the balanced accuracy (mean recall per class: healthy windows
  dominate the plain accuracy);
* **scope accuracy** over the windows inside injected events: right when exactly one
  finding covers the event's entities and it names the true scope and entity; plus the
  findings raised outside any event;
* **quantile relative error** of p50/p95/p99 of every metric of every 1-minute window
  against numpy on the same samples (0 when the sketch value lies between numpy's
  ``lower`` and ``higher`` order statistics), worst case;
* **roll-up error**: each workload's 1-hour window merged from 1-minute windows against
  one sketch fed the hour's samples (count, mean, p50/p95/p99), worst case; and the
  merged hour against exact numpy quantiles.

This module reads the simulator (like :mod:`evaluation.prediction`), which is pure.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from models.analysis import AnalysisEngine, WorkloadMeta
from models.windows import SeriesWindows, TumblingWindows, Watermark, WindowAccumulator
from schemas import (
    BottleneckKind,
    ProviderInfo,
    ProviderSample,
    RootCauseScope,
    WorkloadSample,
    WorkloadType,
)
from sim.bottlenecks import WorkloadFault, true_bottleneck
from sim.causes import START_MS, TruthEvent, build_scenario
from sim.incidents import Incident
from sim.marketplace import MarketplaceSim

__all__ = ["evaluate_insights", "route_record"]

_MIN = 60_000
_HOUR_MS = 3_600_000
_QUANTILES = (0.5, 0.95, 0.99)


def _quantile_error(value: float, ordered: np.ndarray, q: float) -> float:
    # numpy's "lower" and "higher" order statistics of the sorted samples.
    rank = q * (ordered.size - 1)
    lo = float(ordered[math.floor(rank)])
    hi = float(ordered[math.ceil(rank)])
    if lo <= value <= hi:
        return 0.0
    ref = lo if value < lo else hi
    return abs(value - ref) / abs(ref) if ref else abs(value - ref)


def _rel(a: float, b: float) -> float:
    return abs(a - b) / abs(b) if b else abs(a - b)


def route_record(
    r: object, engine: AnalysisEngine, meta: dict[str, WorkloadMeta]
) -> tuple[str, dict[str, float | int | None], ProviderSample | WorkloadSample] | None:
    """Feed one simulated record to the analysis: a catalogue entry goes to ``engine``, a
    sample becomes ``(series key, values, sample)`` (``p:`` provider, ``w:`` workload, whose
    placement is noted in ``meta``); anything else is ``None``.

    >>> route_record("not a record", AnalysisEngine(interval_ms=1000), {}) is None
    True
    """
    if isinstance(r, ProviderInfo):
        engine.set_provider(r.provider_id, region=r.region, gpu_model=r.gpu_model)
        return None
    if isinstance(r, ProviderSample):
        key, fields = f"p:{r.provider_id}", ProviderSample.NUMERIC_FIELDS
    elif isinstance(r, WorkloadSample):
        key, fields = f"w:{r.workload_id}", WorkloadSample.NUMERIC_FIELDS
        meta[r.workload_id] = WorkloadMeta(r.provider_id, r.tenant_id, r.workload_type.value)
    else:
        return None
    return key, {name: getattr(r, name) for name in fields}, r


@dataclass
class _Windows:
    """The scenario's closed 1-minute windows per series, with their raw samples."""

    closed: dict[int, dict[str, WindowAccumulator]]
    raw: dict[tuple[str, int], dict[str, list[float]]]
    meta: dict[str, WorkloadMeta]


@dataclass
class _Scores:
    """What the engine found, window by window, against the scenario's ground truth."""

    confusion: dict[str, dict[str, int]]
    scope_right: int = 0
    scope_total: int = 0
    false_findings: int = 0
    emitted: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    hour_rollups: dict[tuple[str, int], WindowAccumulator] = field(default_factory=dict)


def _window_records(
    sim: MarketplaceSim, engine: AnalysisEngine, end_ms: int, interval_ms: int
) -> _Windows:
    """Route the simulated records into event-time windows, as the analysis role does."""
    tumbling = TumblingWindows(window_ms=_MIN, grace_ms=interval_ms)
    watermark = Watermark()
    series: dict[str, SeriesWindows] = {}
    out = _Windows(defaultdict(dict), defaultdict(lambda: defaultdict(list)), {})

    def close(wm: int) -> None:
        for key, sw in series.items():
            for start, acc in tumbling.close(sw, watermark_ms=wm):
                out.closed[start][key] = acc

    for rec in sim.records(START_MS, end_ms):
        routed = route_record(rec.record, engine, out.meta)
        if routed is None:
            continue
        key, values, sample = routed
        wm = watermark.advance(sample.ts_ms, tumbling.grace_ms)
        sw = series.setdefault(key, SeriesWindows(partition=0))
        tumbling.add(sw, ts_ms=sample.ts_ms, seq=sample.seq, values=values, watermark_ms=wm)
        bucket = out.raw[(key, tumbling.start_of(sample.ts_ms))]
        for name, v in values.items():
            if v is not None:
                bucket[name].append(float(v))
        close(wm)
    close(end_ms + _MIN)
    return out


def _quantile_check(windows: _Windows) -> tuple[float, int]:
    """Worst relative quantile error of every 1-minute window against numpy, and checks."""
    q_err = 0.0
    n_checked = 0
    for start, by_key in windows.closed.items():
        for key, acc in by_key.items():
            for name, sketch in acc.metrics.items():
                exact = np.sort(np.asarray(windows.raw[(key, start)][name]))
                for q in _QUANTILES:
                    q_err = max(q_err, _quantile_error(sketch.quantile(q), exact, q))
                    n_checked += 1
    return q_err, n_checked


def _score_windows(
    engine: AnalysisEngine,
    windows: _Windows,
    incidents: Sequence[Incident],
    faults: Sequence[WorkloadFault],
    events: Sequence[TruthEvent],
) -> _Scores:
    """Analyse every closed window; score bottlenecks, scopes and false findings."""
    by_provider_incidents: dict[str, list[Incident]] = defaultdict(list)
    for inc in incidents:
        by_provider_incidents[inc.provider_id].append(inc)
    faults_of: dict[str, list[WorkloadFault]] = defaultdict(list)
    for fault in faults:
        faults_of[fault.workload_id].append(fault)
    classes = [k.value for k in BottleneckKind]
    scores = _Scores(confusion={t: dict.fromkeys(classes, 0) for t in classes})
    meta = windows.meta
    for start in sorted(windows.closed):
        by_key = windows.closed[start]
        prov_windows = {k[2:]: a for k, a in by_key.items() if k.startswith("p:")}
        wl_windows = {k[2:]: (meta[k[2:]], a) for k, a in by_key.items() if k.startswith("w:")}
        out = engine.analyse_window(start, prov_windows, wl_windows)
        for insight in out.insights:
            scores.emitted[
                insight.scope.value if insight.kind != "leaderboard_demotion" else "demotion"
            ] += 1
        for roll in out.closed_rollups:
            if roll.size_ms == _HOUR_MS and roll.series.startswith("workload:"):
                scores.hour_rollups[(roll.series.split(":", 1)[1], roll.start_ms)] = roll.acc
        for wid, diagnosis in out.diagnoses.items():
            m = meta[wid]
            wtype = WorkloadType(m.workload_type)
            incs = by_provider_incidents[m.provider_id]
            truth = {
                true_bottleneck(wtype, incs, faults_of[wid], ts)
                for ts in (start, start + _MIN // 2, start + _MIN - 1)
            }
            if len(truth) == 1 and None not in truth:
                t = truth.pop()
                assert t is not None
                scores.confusion[t.value][diagnosis.kind.value] += 1
        live = [ev for ev in events if ev.start_ms <= start and start + _MIN <= ev.end_ms]
        touching = [ev for ev in events if ev.start_ms < start + _MIN and start < ev.end_ms]
        for ev in live:
            covering = [
                f
                for f in out.findings
                if ev.workloads & set(f.workloads)
                or (f.scope is not RootCauseScope.WORKLOAD and ev.providers & set(f.providers))
            ]
            scores.scope_total += 1
            if len(covering) == 1 and (covering[0].scope, covering[0].entity_id) == (
                ev.scope,
                ev.entity_id,
            ):
                scores.scope_right += 1
        for f in out.findings:
            if not any(
                ev.workloads & set(f.workloads) or ev.providers & set(f.providers)
                for ev in touching
            ):
                scores.false_findings += 1
    return scores


def _rollup_check(
    hour_rollups: dict[tuple[str, int], WindowAccumulator], windows: _Windows
) -> tuple[float, float]:
    """1-hour roll-ups against one sketch of the hour's samples, and against numpy."""
    rollup_err = rollup_exact_err = 0.0
    for (wid, hour_start), merged in hour_rollups.items():
        direct = WindowAccumulator()
        samples: dict[str, list[float]] = defaultdict(list)
        for minute in range(hour_start, hour_start + _HOUR_MS, _MIN):
            for name, vals in windows.raw.get((f"w:{wid}", minute), {}).items():
                samples[name].extend(vals)
        n = max((len(v) for v in samples.values()), default=0)
        for i in range(n):
            direct.add({k: v[i] for k, v in samples.items() if i < len(v)})
        for name, sketch in merged.metrics.items():
            ref = direct.metrics[name]
            rollup_err = max(
                rollup_err,
                _rel(sketch.count, ref.count),
                _rel(sketch.mean, ref.mean),
                *(_rel(sketch.quantile(q), ref.quantile(q)) for q in _QUANTILES),
            )
            arr = np.sort(np.asarray(samples[name]))
            for q in _QUANTILES:
                rollup_exact_err = max(
                    rollup_exact_err, _quantile_error(sketch.quantile(q), arr, q)
                )
    return rollup_err, rollup_exact_err


def evaluate_insights(
    seed: int = 7,
    *,
    hours: float = 2.0,
    providers: int = 12,
    workloads: int = 36,
    interval_s: int = 5,
) -> dict[str, object]:
    """Run the scenario through the engine and return the figures (JSON-able)."""
    interval_ms = interval_s * 1000
    end_ms = START_MS + int(hours * _HOUR_MS)
    probe = MarketplaceSim(seed=seed, providers=providers, workloads=workloads)
    incidents, faults, events = build_scenario(probe, seed)
    if events[-1].end_ms > end_ms:
        raise ValueError(
            f"the scenario needs {math.ceil(events[-1].end_ms - START_MS) / _HOUR_MS:.2f} h"
        )
    sim = MarketplaceSim(
        seed=seed,
        providers=providers,
        workloads=workloads,
        interval_ms=interval_ms,
        incidents=incidents,
        workload_faults=faults,
    )
    engine = AnalysisEngine(interval_ms=interval_ms)
    windows = _window_records(sim, engine, end_ms, interval_ms)
    q_err, n_checked = _quantile_check(windows)
    scores = _score_windows(engine, windows, sim.incidents, faults, events)
    rollup_err, rollup_exact_err = _rollup_check(scores.hour_rollups, windows)
    return _figures(scores, events, q_err, n_checked, rollup_err, rollup_exact_err) | {
        "parameters": {
            "seed": seed,
            "hours": hours,
            "providers": providers,
            "workloads": workloads,
            "interval_s": interval_s,
            "windows_scored": sum(sum(row.values()) for row in scores.confusion.values()),
        }
    }


def _figures(
    scores: _Scores,
    events: Sequence[TruthEvent],
    q_err: float,
    n_checked: int,
    rollup_err: float,
    rollup_exact_err: float,
) -> dict[str, object]:
    """The JSON-able figures of :func:`evaluate_insights` (without its parameters)."""
    confusion, classes = scores.confusion, list(scores.confusion)
    total = sum(sum(row.values()) for row in confusion.values())
    right = sum(confusion[c][c] for c in classes)
    recalls = {
        c: confusion[c][c] / sum(confusion[c].values())
        for c in classes
        if sum(confusion[c].values())
    }
    return {
        "bottleneck_accuracy": right / total if total else math.nan,
        "bottleneck_balanced_accuracy": float(np.mean(list(recalls.values())))
        if recalls
        else math.nan,
        "bottleneck_recall": recalls,
        "confusion_matrix": confusion,
        "scope_accuracy": scores.scope_right / scores.scope_total
        if scores.scope_total
        else math.nan,
        "scope_windows": scores.scope_total,
        "false_findings": scores.false_findings,
        # Insights sent (an ongoing finding is sent once, when it starts), by scope.
        "insights_emitted": dict(sorted(scores.emitted.items())),
        "quantile_rel_error": q_err,
        "quantiles_checked": n_checked,
        "rollup_rel_error": rollup_err,
        "rollup_vs_exact_rel_error": rollup_exact_err,
        "rollup_hours_checked": len(scores.hour_rollups),
        "events": [
            {
                "scope": ev.scope.value,
                "entity_id": ev.entity_id,
                "start_ms": ev.start_ms,
                "end_ms": ev.end_ms,
                "workloads": len(ev.workloads),
            }
            for ev in events
        ],
    }
