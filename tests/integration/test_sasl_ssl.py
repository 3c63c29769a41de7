"""Issue 17: a cluster behind SASL_SSL, reached through our settings and nothing else.

A broker of its own with a SASL_SSL listener (SCRAM-SHA-512, a keystore made by keytool
for this test, the clients trusting its ``ca.pem`` and checking the host name): the
topic registry, our producer factory and a worker started with the same settings work
through that listener only; a wrong password fails at once and names the refused login
(a worker given it stops at start-up with the same message: ``ComputeperfApp.on_start``
creates the topics with :func:`config.kafka.start_client` first).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from agents.produce import durable_producer
from config.kafka import KafkaConnectError
from config.settings import Settings
from infra.kafka import broker as kafka
from infra.kafka.sasl import make_listener
from schemas import MetricWindow
from streams.topics import ensure_topics
from tests.integration.harness import decode_all, drain, fresh_settings, produce, start_worker
from tests.integration.scenario import assert_window_matches_oracle, thermal_scenario

pytestmark = pytest.mark.kafka

USER = "computeperf-svc"


@pytest.fixture(scope="module")
def sasl_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[kafka.Broker]:
    """A broker with PLAINTEXT (unused here) and a SASL_SSL listener with one SCRAM user."""
    tmp = Path(tmp_path_factory.mktemp("kafka-sasl"))
    password = secrets.token_urlsafe(12)
    listener = make_listener(tmp / "tls", kafka.free_port(), ((USER, password),))
    broker = kafka.start(
        data_dir=tmp / "data",
        port=kafka.free_port(),
        controller_port=kafka.free_port(),
        sasl_ssl=listener,
    )
    try:
        yield broker
    finally:
        broker.stop()


def sasl_settings(broker: kafka.Broker, tmp: Path, password: str | None = None) -> Settings:
    listener = broker.sasl_ssl
    assert listener is not None
    return fresh_settings(
        listener.bootstrap_servers,
        tmp,
        agents="windows",
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username=USER,
        kafka_sasl_password=password or listener.users[0][1],
        kafka_ssl_cafile=listener.ca_pem,
    )


def test_worker_and_clients_over_sasl_ssl(sasl_broker: kafka.Broker, tmp_path: Path) -> None:
    settings = sasl_settings(sasl_broker, tmp_path)
    assert settings.kafka_bootstrap_servers != sasl_broker.bootstrap_servers  # not PLAINTEXT
    asyncio.run(ensure_topics(settings))
    scenario = thermal_scenario(providers=2, span_s=8, seed=3)
    expected = scenario.expected_windows(settings.window_ms)
    worker = start_worker(settings, tmp_path)
    try:
        assert asyncio.run(produce(settings, scenario.messages())) == len(scenario.samples)
        records = asyncio.run(
            drain(
                settings,
                "perf.metrics",
                until=lambda r: len({w.key for w in decode_all(MetricWindow, r)}) >= len(expected),
                timeout_s=60,
            )
        )
    finally:
        worker.stop()
    windows = {w.key: w for w in decode_all(MetricWindow, records)}
    assert windows.keys() == expected.keys()
    for key, samples in expected.items():
        assert_window_matches_oracle(windows[key], samples)


def test_wrong_password_fails_naming_the_refused_login(
    sasl_broker: kafka.Broker, tmp_path: Path
) -> None:
    settings = sasl_settings(sasl_broker, tmp_path, password="not-the-password")

    async def connect() -> None:
        async with durable_producer(settings):
            pass

    with pytest.raises(KafkaConnectError) as refused:
        asyncio.run(connect())
    message = str(refused.value)
    assert "SaslAuthenticationFailed" in message, message
    assert USER in message and "SCRAM-SHA-512" in message
    assert "not-the-password" not in message
