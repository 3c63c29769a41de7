"""The anomaly agent without a broker: its pure core and its adapter over fake topics."""

from __future__ import annotations

import asyncio
import base64
import json
import pickle
import random
import zlib
from dataclasses import dataclass
from typing import Any

import pytest
from faust.topics import Topic

from agents.anomalies import (
    AnomalyScorer,
    DetectorState,
    decode_state,
    encode_state,
    encoded_size,
    load_state,
    score_window,
)
from config.metrics import PipelineMetrics
from config.settings import Settings
from models.detectors.window_detector import WindowDetector, window_detector
from schemas import Anomaly, MetricStats, MetricWindow, encode
from streams.app import create_app
from tests.fakes import FakeTable, FakeTopic

STEP_MS = 60_000
T0_MS = 1_700_000_000_000
WARM = 40  # well past warm-up (warm from window 28: robust baseline 8 + calibration 20)


def window(
    i: int,
    *,
    temp_offset: float = 0.0,
    entity: str = "prov-1",
    kind: str = "provider",
    seed: int = 0,
) -> MetricWindow:
    rng = random.Random(seed * 100_003 + i)
    metrics = {}
    for name, level, noise in (("gpu_temp_c", 65.0, 0.8), ("gpu_util_pct", 80.0, 2.0)):
        v = level + rng.gauss(0.0, noise) + (temp_offset if name == "gpu_temp_c" else 0.0)
        metrics[name] = MetricStats(
            count=6, mean=v, min=v - 1, max=v + 1, p50=v, p95=v + 0.8, p99=v + 1
        )
    return MetricWindow(
        entity_type=kind,
        entity_id=entity,
        window_start_ms=T0_MS + i * STEP_MS,
        window_end_ms=T0_MS + (i + 1) * STEP_MS,
        count=6,
        metrics=metrics,
        error_rate=0.01,
    )


def warm_state(n: int = WARM) -> DetectorState:
    state = DetectorState(window_detector())
    for i in range(n):
        score_window(state, window(i), threshold=0.9)
    return state


@pytest.fixture(scope="module")
def warm_value() -> dict[str, Any]:
    return encode_state(warm_state())


# --- state -----------------------------------------------------------------------------


def test_state_round_trip_is_json_and_scores_identically(warm_value: dict[str, Any]) -> None:
    value = json.loads(json.dumps(warm_value))  # what the JSON table store gives back
    a, b = decode_state(value), decode_state(value)
    assert a.last_window_end_ms == T0_MS + WARM * STEP_MS
    va = score_window(a, window(WARM), threshold=0.9)
    vb = score_window(b, window(WARM), threshold=0.9)
    assert va.score == vb.score and va.warm
    assert encode_state(a) == encode_state(b)


def test_state_is_small(warm_value: dict[str, Any]) -> None:
    # 5 features here; 20 provider features measure ~51 kB (see the agent's docs).
    assert encoded_size(warm_value) < 40_000


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ({"v": 99, "detector": ""}, "unknown state version"),
        ({"v": 2, "detector": "not base64!"}, "unreadable"),
        ({"v": 2, "detector": "AAAA"}, "unreadable"),
        ({"v": 2}, "unreadable"),
    ],
)
def test_unreadable_state_restarts_cold(value: dict[str, Any], reason: str) -> None:
    state, why = load_state(value, window_detector)
    assert why is not None and reason in why
    assert state.last_window_end_ms is None and isinstance(state.detector, WindowDetector)


def test_state_of_another_type_is_refused() -> None:
    value = encode_state(DetectorState(window_detector()))

    value["detector"] = base64.b64encode(zlib.compress(pickle.dumps([1, 2]))).decode()
    assert "holds a list" in (load_state(value, window_detector)[1] or "")


def test_new_entity_starts_cold() -> None:
    state, why = load_state(None, window_detector)
    assert why is None and state.last_window_end_ms is None


# --- deciding --------------------------------------------------------------------------


def test_cold_detector_never_alarms_even_on_extreme_values() -> None:
    state = DetectorState(window_detector())
    verdicts = [
        score_window(state, window(i, temp_offset=40.0 * (i % 2)), threshold=0.9) for i in range(10)
    ]
    assert not any(v.warm for v in verdicts)
    assert all(v.anomaly is None for v in verdicts)


def test_incident_emits_anomaly_with_driving_feature(warm_value: dict[str, Any]) -> None:
    state = decode_state(warm_value)
    healthy = score_window(state, window(WARM), threshold=0.9)
    assert healthy.warm and healthy.anomaly is None
    # One hot window is not yet an incident (the agent's ensemble confirms over two).
    first = score_window(state, window(WARM + 1, temp_offset=25.0), threshold=0.9)
    assert first.warm and first.anomaly is None
    verdict = score_window(state, window(WARM + 2, temp_offset=25.0), threshold=0.9)
    anomaly = verdict.anomaly
    assert isinstance(anomaly, Anomaly)
    assert (anomaly.entity_type.value, anomaly.entity_id) == ("provider", "prov-1")
    assert anomaly.ts_ms == T0_MS + (WARM + 2) * STEP_MS
    assert anomaly.score >= 0.9 and anomaly.detector == "ensemble"
    top = max(anomaly.contributing_features, key=anomaly.contributing_features.__getitem__)
    assert top.startswith("gpu_temp_c.")
    assert anomaly.observed[top] > anomaly.expected[top] + 15


def test_threshold_is_respected(warm_value: dict[str, Any]) -> None:
    state = decode_state(warm_value)
    score_window(state, window(WARM, temp_offset=25.0), threshold=1.01)
    verdict = score_window(state, window(WARM + 1, temp_offset=25.0), threshold=1.01)
    assert verdict.score is not None and verdict.score.value >= 0.9 and verdict.anomaly is None


@pytest.mark.parametrize("back", [1, 5])
def test_replayed_window_is_ignored(warm_value: dict[str, Any], back: int) -> None:
    state = decode_state(warm_value)
    verdict = score_window(state, window(WARM - back, temp_offset=25.0), threshold=0.9)
    assert verdict.replayed and verdict.anomaly is None and verdict.score is None
    assert encode_state(state) == warm_value


# --- the adapter over fake topics and table ----------------------------------------------


@dataclass
class FakeMessage:
    value: bytes
    partition: int = 3
    topic: str = "perf.metrics"
    offset: int = 7
    key: bytes | None = None


def scorer_and_log() -> tuple[AnomalyScorer, FakeTable, list[tuple[str, Any]]]:
    log: list[tuple[str, Any]] = []
    table = FakeTable(changelog_topic=FakeTopic("changelog", log))
    scorer = AnomalyScorer(
        metrics=PipelineMetrics(),
        anomalies_topic=FakeTopic("anomalies", log),
        dlq_topic=FakeTopic("dlq", log),
        table=table,
    )
    return scorer, table, log


def run(scorer: AnomalyScorer, windows: list[MetricWindow]) -> None:
    async def go() -> None:
        for w in windows:
            await scorer.process(FakeMessage(encode(w)))

    asyncio.run(go())


def test_adapter_sends_anomaly_before_state_and_keys_by_entity(warm_value: dict[str, Any]) -> None:
    scorer, table, log = scorer_and_log()
    table.data["provider:prov-1"] = warm_value
    run(scorer, [window(WARM + 1, temp_offset=25.0), window(WARM + 2, temp_offset=25.0)])
    assert [name for name, _ in log] == ["changelog", "anomalies", "changelog"]
    key, anomaly, _ = log[1][1]
    assert key == "provider:prov-1" and isinstance(anomaly, Anomaly)
    assert log[2][1][0] == "provider:prov-1" and log[2][1][2] == 3  # source partition
    assert table.data["provider:prov-1"]["last_window_end_ms"] == T0_MS + (WARM + 3) * STEP_MS
    assert b"computeperf_anomalies_emitted_total" in scorer.metrics.render()


def test_adapter_ignores_replays_skips_other_entities_and_dead_letters_garbage() -> None:
    scorer, table, log = scorer_and_log()
    run(scorer, [window(0), window(1), window(0), window(0, kind="workload")])
    assert [name for name, _ in log] == ["changelog", "changelog"]
    asyncio.run(scorer.process(FakeMessage(b"{not json")))
    assert log[-1][0] == "dlq" and log[-1][1][1].source_topic == "perf.metrics"
    text = scorer.metrics.render().decode()
    assert 'outcome="replayed"} 1.0' in text and 'outcome="skipped"} 1.0' in text
    assert 'outcome="warmup"} 2.0' in text
    assert table.data["provider:prov-1"]["last_window_end_ms"] == T0_MS + 2 * STEP_MS


# --- the registered agent in a fresh Faust app (agent.test_context, sends mocked) ---------


def test_registered_agent_scores_windows_in_a_fresh_app() -> None:
    sent: list[dict[str, Any]] = []

    async def fake_send(self: Topic, **kwargs: Any) -> Any:
        sent.append(kwargs)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def scenario() -> None:
        settings = Settings(topic_prefix="unit.", partitions=2)
        app = create_app(settings)

        # create_app wires the agent (all agents by default); use that very one.
        table = app.tables["entity_to_detector_state"]
        app.finalize()
        app.flow_control.resume()
        agent = app.agents["score_entity_windows"]
        async with agent.test_context() as ctx:
            for i in range(WARM + 3):
                w = window(i, temp_offset=25.0 if i > WARM else 0.0)
                await ctx.put(encode(w), key=b"provider:prov-1", partition=1)
        assert table.data["provider:prov-1"]["last_window_end_ms"] == T0_MS + (WARM + 3) * STEP_MS

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Topic, "send", fake_send)
        asyncio.run(scenario())
    kinds = [type(s["value"]).__name__ for s in sent]
    assert kinds.count("dict") == WARM + 3  # one state write per window
    assert all(s["partition"] == 1 for s in sent if isinstance(s["value"], dict))
    # Every anomaly is durable before the state write of its window.
    assert all(kinds[i + 1] == "dict" for i, k in enumerate(kinds) if k == "Anomaly")
    assert kinds[-2:] == ["Anomaly", "dict"]
    spike = sent[-2]["value"]
    assert sent[-2]["key"] == "provider:prov-1" and spike.ts_ms == T0_MS + (WARM + 2) * STEP_MS
    top = max(spike.contributing_features, key=spike.contributing_features.__getitem__)
    assert top.startswith("gpu_temp_c.")
