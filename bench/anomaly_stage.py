"""Cost of the anomaly stage per window: the old ensemble against the series window detector.

``computeperf bench anomaly-stage`` warms each detector on ``--warm-days`` of one simulated
provider's 60-s windows, then times ``--timed`` further windows the way the agent handles
them: decode the table value (a cache miss; a hit skips it), score and learn, encode the
new value. Printed per method: ms per window for a miss and a hit, the three parts, the
table value's bytes (base64 JSON, what the changelog carries) and the memory of one
decoded detector (what a cache entry costs).

* ``ensemble``: :func:`~models.detectors.compact.compact_ensemble` with the agent's
  earlier encoding (pickle, zlib level 6), the baseline;
* ``series``: the agent's :func:`~agents.anomalies.decode_state` /
  :func:`~agents.anomalies.score_window` / :func:`~agents.anomalies.encode_state` with
  :func:`~models.detectors.window_detector.window_detector`.

Times are the process's CPU time (``time.process_time``): the machine is shared, and
wall clock would measure the neighbours. A bench, not a test: the figures depend on the
machine.

>>> figures = bench_anomaly_stage(warm_days=0.05, timed=3)
>>> sorted(figures), figures["series"]["windows_timed"]
(['ensemble', 'series'], 3.0)
"""

from __future__ import annotations

import base64
import json
import pickle
import time
import tracemalloc
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import click

from agents.anomalies import (
    DetectorState,
    decode_state,
    encode_state,
    encoded_size,
    score_window,
)
from evaluation.detection import simulated_windows
from models.detectors.compact import compact_ensemble, ensemble_features
from models.detectors.ensemble import EnsembleDetector
from models.detectors.window_detector import window_detector
from schemas import MetricWindow

__all__ = ["anomaly_stage_command", "bench_anomaly_stage"]

Codec = tuple[Callable[[Any], dict[str, Any]], Callable[[dict[str, Any]], Any]]


@dataclass
class _EnsembleState:
    detector: EnsembleDetector
    last_window_end_ms: int | None = None


def _ensemble_codec() -> Codec:
    def encode(state: _EnsembleState) -> dict[str, Any]:
        blob = zlib.compress(pickle.dumps(state.detector, protocol=pickle.HIGHEST_PROTOCOL), 6)
        return {"last_window_end_ms": state.last_window_end_ms, "detector": base64.b64encode(blob)}

    def decode(value: dict[str, Any]) -> _EnsembleState:
        # The bench's own values, written just above: not untrusted input.
        detector = pickle.loads(zlib.decompress(base64.b64decode(value["detector"])))
        return _EnsembleState(detector, value["last_window_end_ms"])

    return encode, decode


def _ensemble_score(state: _EnsembleState, window: MetricWindow) -> None:
    x = ensemble_features(window)
    state.detector.score_one(x, window.window_start_ms)
    state.detector.learn_one(x, window.window_start_ms)
    state.last_window_end_ms = window.window_end_ms


def _series_score(state: DetectorState, window: MetricWindow) -> None:
    score_window(state, window, threshold=0.9)


def _memory_bytes(value: dict[str, Any], decode: Callable[[dict[str, Any]], Any]) -> int:
    tracemalloc.start()
    try:
        state = decode(value)
        current, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del state
    return current


def _stage(
    state: Any,
    windows: Sequence[MetricWindow],
    timed: int,
    score: Callable[[Any, MetricWindow], None],
    codec: Codec,
) -> dict[str, float]:
    encode, decode = codec
    warm, measured = windows[:-timed], windows[-timed:]
    for w in warm:
        score(state, w)
    value = encode(state)
    decode_s = score_s = encode_s = 0.0
    for w in measured:
        t0 = time.process_time()
        state = decode(value)  # a miss; a hit has the object already
        t1 = time.process_time()
        score(state, w)
        t2 = time.process_time()
        value = encode(state)
        t3 = time.process_time()
        decode_s, score_s, encode_s = decode_s + t1 - t0, score_s + t2 - t1, encode_s + t3 - t2
    n = float(len(measured))
    text = {k: v.decode() if isinstance(v, bytes) else v for k, v in value.items()}
    return {
        "ms_per_window_miss": (decode_s + score_s + encode_s) / n * 1e3,
        "ms_per_window_hit": (score_s + encode_s) / n * 1e3,
        "decode_ms": decode_s / n * 1e3,
        "score_learn_ms": score_s / n * 1e3,
        "encode_ms": encode_s / n * 1e3,
        "state_bytes": float(encoded_size(text)),
        "decoded_bytes": float(_memory_bytes(value, decode)),
        "windows_warm": float(len(warm)),
        "windows_timed": n,
    }


def bench_anomaly_stage(
    *, warm_days: float = 7.0, timed: int = 200, seed: int = 0
) -> dict[str, dict[str, float]]:
    """Per method (``ensemble``, ``series``): ms per window (miss, hit, parts), bytes."""
    days = warm_days + (timed + 2) * 60 / 86_400
    by_provider, _ = simulated_windows(seed, days=days, providers=1, window_s=60)
    windows = next(iter(by_provider.values()))
    if len(windows) <= timed:
        raise ValueError("need more windows than timed")
    return {
        "ensemble": _stage(
            _EnsembleState(compact_ensemble(seed)),
            windows,
            timed,
            _ensemble_score,
            _ensemble_codec(),
        ),
        "series": _stage(
            DetectorState(window_detector()),
            windows,
            timed,
            _series_score,
            (encode_state, decode_state),
        ),
    }


@click.command("anomaly-stage")
@click.option("--warm-days", type=click.FloatRange(min=0.01), default=7.0, show_default=True)
@click.option("--timed", type=click.IntRange(min=1), default=200, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def anomaly_stage_command(warm_days: float, timed: int, as_json: bool) -> None:
    """ms per window of the anomaly stage (decode, score+learn, encode) and state bytes."""
    click.echo(f"warming both detectors on {warm_days:g} day(s) of 60-s windows ...", err=True)
    figures = bench_anomaly_stage(warm_days=warm_days, timed=timed)
    if as_json:
        click.echo(json.dumps(figures, sort_keys=True))
        return
    for name, row in figures.items():
        click.echo(
            f"{name:<9} miss {row['ms_per_window_miss']:.2f} ms/window "
            f"(decode {row['decode_ms']:.2f} + score/learn {row['score_learn_ms']:.2f} + "
            f"encode {row['encode_ms']:.2f}), hit {row['ms_per_window_hit']:.2f}; "
            f"state {row['state_bytes'] / 1e3:.0f} kB, decoded {row['decoded_bytes'] / 1e6:.2f} MB"
        )
