"""Agent: score every closed window with its entity's own detector; emit ``perf.anomalies``.

Per window of ``perf.metrics`` (provider windows for now): decode (bad records are
dead-lettered), load the entity's
:class:`~models.detectors.window_detector.WindowDetector` (the series detector of
``computeperf detect``, configured for windows) from table ``entity_to_detector_state``,
score the window's features, then learn them; when the
detector is warm and the score reaches the threshold, send an :class:`~schemas.Anomaly`
durably (key ``entity_type:entity_id``), and only then write the new state durably.

* **Replays** (a window whose end is not after the last one scored for its entity, as
  re-emitted after a crash) are ignored: the state is not touched, nothing is sent.
* A crash between the anomaly and the state write re-scores the window from the old state
  after restart and sends the same anomaly again (same key, ``ts_ms``, content): at least
  once, deduplicated downstream by ``(entity, ts_ms, detector)``.
* **State** is the pickled detector, zlib-compressed (level 1: measured cheaper than 6
  for a few % more bytes) and base64-encoded inside a JSON value (Faust's default table
  serializer): pickle because the detectors are object graphs of numpy blocks with no
  other serialized form (the contract suite guarantees the round trip); unpickling only
  ever reads our own changelog. A state that cannot be read (e.g. written by an
  incompatible version of a detector class, or ``STATE_VERSION`` 1: the earlier
  ensemble) restarts that entity's detector cold, counted in
  ``computeperf_anomaly_state_resets_total``, instead of dead-lettering every later window.
* **Decoded states are cached** (:class:`~agents.anomaly_cache.StateCache`, at most
  ``anomaly_cache_entities``), tagged with the ``last_window_end_ms`` they hold and used
  only when the table's value has the same tag; lookups are counted in
  ``computeperf_anomaly_state_cache_lookups_total{outcome}``. The state is still encoded
  and written every window (the table is what survives a crash or a rebalance).
* Cost and size: ``computeperf bench anomaly-stage`` (docs/benchmarks.md); done inline,
  not in an executor (one window per entity per minute; FAUST-NOTES: only long blocking
  work needs one).
* ``computeperf_events_in_total{topic="perf.metrics"}`` is counted by the alert agent on
  the same topic; this agent counts its windows in ``computeperf_anomaly_windows_total``.

The pure part (:func:`load_state`, :func:`encode_state`, :func:`score_window`) takes no
Faust object, so it is tested without a broker; the adapter (:class:`AnomalyScorer`) only
decodes, calls it and writes.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import pickle
import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import faust
from faust.types import Message, StreamT, TableT, TopicT
from prometheus_client import CollectorRegistry, Counter, Histogram

from agents.anomaly_cache import StateCache
from agents.outputs import dead_letter, persist_durably, send_dead_letters, send_durably
from config.metrics import PipelineMetrics
from models.detectors import Score
from models.detectors.window_detector import (
    WindowDetector,
    window_detector,
    window_detector_features,
)
from schemas import Anomaly, DecodeError, EntityType, MetricWindow, decode

log = logging.getLogger(__name__)

#: 2: the series detector (:class:`WindowDetector`); 1 was the compact ensemble.
STATE_VERSION = 2
#: The ``detector`` label of our anomalies, kept from the ensemble: consumers deduplicate
#: by ``(entity, ts_ms, detector)`` and dashboards select on it.
DETECTOR_NAME = "ensemble"
#: zlib level of the state: 1 costs less CPU than 6 for a few % more bytes (measured).
ZLIB_LEVEL = 1


@dataclass
class DetectorState:
    """One entity's detector and the end of the last window it scored."""

    detector: WindowDetector
    last_window_end_ms: int | None = None


def encode_state(state: DetectorState) -> dict[str, Any]:
    """JSON-able table value: ``{"v", "last_window_end_ms", "detector": base64(zlib(pickle))}``."""
    blob = zlib.compress(pickle.dumps(state.detector, protocol=pickle.HIGHEST_PROTOCOL), ZLIB_LEVEL)
    return {
        "v": STATE_VERSION,
        "last_window_end_ms": state.last_window_end_ms,
        "detector": base64.b64encode(blob).decode("ascii"),
    }


def encoded_size(value: Mapping[str, Any]) -> int:
    """Bytes of a table value as Faust's JSON serializer writes it (its changelog record)."""
    return len(json.dumps(value, separators=(",", ":")).encode())


def decode_state(value: Mapping[str, Any]) -> DetectorState:
    """Inverse of :func:`encode_state`; ValueError when the value cannot be read."""
    if value.get("v") != STATE_VERSION:
        raise ValueError(f"unknown state version {value.get('v')!r}")
    try:
        blob = zlib.decompress(base64.b64decode(value["detector"], validate=True))
        # Our own changelog, written by encode_state: not untrusted input.
        detector = pickle.loads(blob)  # noqa: S301
    except (KeyError, TypeError, binascii.Error, zlib.error, pickle.UnpicklingError) as exc:
        raise ValueError(f"unreadable detector state: {exc!r}") from None
    except (AttributeError, ImportError, EOFError) as exc:  # class moved or changed shape
        raise ValueError(f"incompatible detector state: {exc!r}") from None
    if not isinstance(detector, WindowDetector):
        raise ValueError(f"detector state holds a {type(detector).__name__}")
    last = value.get("last_window_end_ms")
    return DetectorState(detector, None if last is None else int(last))


def load_state(
    value: Mapping[str, Any] | None, new_detector: Callable[[], WindowDetector]
) -> tuple[DetectorState, str | None]:
    """The entity's state from its table value (None: a new entity, cold detector).

    Returns the state and, when the stored value could not be read and a cold detector
    replaces it, the reason (the caller logs and counts it).
    """
    if not value:
        return DetectorState(new_detector()), None
    try:
        return decode_state(value), None
    except ValueError as exc:
        return DetectorState(new_detector()), str(exc)


@dataclass(frozen=True)
class Verdict:
    """What scoring one window decided: ``score`` None when it was a replay."""

    replayed: bool
    score: Score | None = None
    anomaly: Anomaly | None = None

    @property
    def warm(self) -> bool:
        return self.score is not None and self.score.warm


def entity_key(window: MetricWindow) -> str:
    """Table and ``perf.anomalies`` key of a window's entity (``provider:prov-1``)."""
    return f"{window.entity_type.value}:{window.entity_id}"


def score_window(state: DetectorState, window: MetricWindow, *, threshold: float) -> Verdict:
    """Score ``window`` with ``state``'s detector, then learn it (``state`` is updated).

    An anomaly is decided only when the detector is warm (a cold one knows nothing, it
    neither alarms nor reassures) and the score is at least ``threshold``. Its ``ts_ms`` is
    the window's start, the event time of the window.
    """
    last = state.last_window_end_ms
    if last is not None and window.window_end_ms <= last:
        return Verdict(replayed=True)
    x = window_detector_features(window)
    ts_ms = window.window_start_ms
    score = state.detector.score_one(x, ts_ms)
    state.detector.learn_one(x, ts_ms)
    state.last_window_end_ms = window.window_end_ms
    anomaly = None
    if score is not None and score.warm and score.value >= threshold:
        anomaly = score.to_anomaly(window.entity_type, window.entity_id, ts_ms, DETECTOR_NAME)
    return Verdict(replayed=False, score=score, anomaly=anomaly)


class AnomalyMetrics:
    """The agent's own series, on the worker's registry (PipelineMetrics has none yet)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.windows = Counter(
            "computeperf_anomaly_windows",
            "Windows seen by the anomaly agent, per outcome (scored, warmup, replayed, skipped)",
            ["entity_type", "outcome"],
            registry=registry,
        )
        self.anomalies_emitted = Counter(
            "computeperf_anomalies_emitted",
            "Anomalies written to perf.anomalies",
            ["entity_type"],
            registry=registry,
        )
        self.state_resets = Counter(
            "computeperf_anomaly_state_resets",
            "Detector states that could not be read and restarted cold",
            ["entity_type"],
            registry=registry,
        )
        self.state_bytes = Histogram(
            "computeperf_anomaly_state_bytes",
            "Size of one entity's detector state (its changelog record)",
            ["entity_type"],
            buckets=tuple(2.0**k for k in range(10, 21)),
            registry=registry,
        )
        self.scoring_seconds = Histogram(
            "computeperf_anomaly_scoring_seconds",
            "Load, score, learn and encode of one window (excludes the sends)",
            ["entity_type"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25),
            registry=registry,
        )
        self.cache_lookups = Counter(
            "computeperf_anomaly_state_cache_lookups",
            "Lookups of decoded detector states (hit: the table's value was not decoded)",
            ["entity_type", "outcome"],
            registry=registry,
        )


class AnomalyScorer:
    """The adapter: one consumed ``perf.metrics`` message in, outputs durable before return."""

    def __init__(
        self,
        *,
        metrics: PipelineMetrics,
        anomalies_topic: TopicT,
        dlq_topic: TopicT,
        table: TableT[Any, Any],
        threshold: float = 0.9,
        entity_types: Iterable[EntityType] = (EntityType.PROVIDER,),
        new_detector: Callable[[], WindowDetector] = window_detector,
        dead_letters: bool = True,
        cache_entities: int = 0,
    ) -> None:
        self.metrics = metrics
        self.own = AnomalyMetrics(metrics.registry)
        self.anomalies_topic = anomalies_topic
        self.dlq_topic = dlq_topic
        self.table = table
        self.threshold = threshold
        self.entity_types = frozenset(entity_types)
        self.new_detector = new_detector
        self.cache: StateCache[DetectorState] = StateCache(cache_entities)
        #: Whether bad windows are this stage's to dead-letter (``owns_dead_letters``).
        self.dead_letters = dead_letters

    async def process(self, msg: Message) -> Verdict | None:
        """Handle one message; never raises (bad or failing records are dead-lettered)."""
        try:
            window = decode(MetricWindow, msg.value or b"")
            return await self._score(window, msg.partition)
        except DecodeError as exc:
            if not self.dead_letters:
                return None  # another stage of this worker dead-letters perf.metrics
            letter = dead_letter(msg, exc.reason, exc.error_type)
        except Exception as exc:
            # A bug must neither kill the agent (faust#175) nor pass silently.
            log.exception("cannot score window %s@%d", msg.topic, msg.offset)
            letter = dead_letter(msg, f"internal error: {exc!r}", "internal")
        await send_dead_letters(self.dlq_topic, [letter], self.metrics, "perf.metrics")
        return None

    async def _score(self, window: MetricWindow, partition: int) -> Verdict | None:
        kind = window.entity_type.value
        if window.entity_type not in self.entity_types:
            self.own.windows.labels(entity_type=kind, outcome="skipped").inc()
            return None
        started = time.perf_counter()
        key = entity_key(window)
        state, reset = self._load(key, kind)
        if reset is not None:
            log.warning("detector state of %s restarted cold: %s", key, reset)
            self.own.state_resets.labels(entity_type=kind).inc()
        try:
            verdict = score_window(state, window, threshold=self.threshold)
        except Exception:
            self.cache.discard(key)  # the object may be half-updated under an unchanged tag
            raise
        if verdict.replayed:
            self.own.windows.labels(entity_type=kind, outcome="replayed").inc()
            return verdict
        value = encode_state(state)
        # Kept before the write: if the write fails, the table's older tag makes it a miss.
        self.cache.put(key, state)
        self.own.scoring_seconds.labels(entity_type=kind).observe(time.perf_counter() - started)
        if verdict.anomaly is not None:
            await send_durably(
                self.anomalies_topic, [(key, verdict.anomaly)], self.metrics, "perf.anomalies"
            )
            self.own.anomalies_emitted.labels(entity_type=kind).inc()
        await persist_durably(self.table, [(key, value, partition)])
        self.own.state_bytes.labels(entity_type=kind).observe(encoded_size(value))
        outcome = "scored" if verdict.warm else "warmup"
        self.own.windows.labels(entity_type=kind, outcome=outcome).inc()
        return verdict

    def _load(self, key: str, kind: str) -> tuple[DetectorState, str | None]:
        """The cached state when it holds the table's ``last_window_end_ms``, else decoded."""
        value = self.table.get(key)
        if self.cache.enabled:
            tag = value.get("last_window_end_ms") if value else None
            cached = self.cache.get(key, None if tag is None else int(tag))
            outcome = "miss" if cached is None else "hit"
            self.own.cache_lookups.labels(entity_type=kind, outcome=outcome).inc()
            if cached is not None:
                return cached, None
        return load_state(value, self.new_detector)


def register_anomaly_agent(
    app: faust.App,
    *,
    metrics: PipelineMetrics,
    source: TopicT,
    anomalies_topic: TopicT,
    dlq_topic: TopicT,
    table: TableT[Any, Any],
    threshold: float = 0.9,
    entity_types: Iterable[EntityType] = (EntityType.PROVIDER,),
    new_detector: Callable[[], WindowDetector] = window_detector,
    dead_letters: bool = True,
    cache_entities: int = 0,
) -> AnomalyScorer:
    """Wire per-entity anomaly scoring to the closed windows of ``source`` (raw bytes)."""
    scorer = AnomalyScorer(
        metrics=metrics,
        anomalies_topic=anomalies_topic,
        dlq_topic=dlq_topic,
        table=table,
        threshold=threshold,
        entity_types=entity_types,
        new_detector=new_detector,
        dead_letters=dead_letters,
        cache_entities=cache_entities,
    )

    async def score_entity_windows(stream: StreamT[Any]) -> None:
        async for event in stream.events():
            await scorer.process(event.message)

    app.agent(source, name="score_entity_windows")(score_entity_windows)
    return scorer


__all__ = [
    "AnomalyScorer",
    "DetectorState",
    "Verdict",
    "decode_state",
    "encode_state",
    "encoded_size",
    "entity_key",
    "load_state",
    "register_anomaly_agent",
    "score_window",
]
