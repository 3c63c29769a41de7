"""Session fixtures: a real Apache Kafka broker for tests marked ``kafka``.

Order of preference: ``KAFKA_BOOTSTRAP_SERVERS`` (an existing cluster); a reachable Docker
engine (testcontainers' Kafka); otherwise the project's own broker from Maven jars
(infra/kafka/broker.py — the same code path as ``make kafka-up``), on free ports in a
temporary folder, stopped at the end of the session (and killed with us if we die).

Tests marked ``cluster`` get ``kafka_cluster``: three nodes of the project's own broker
(:func:`infra.kafka.broker.start_cluster`, the code path of ``make kafka-up BROKERS=3``),
always started here, since fault tests kill and restart its nodes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from infra.kafka import broker as kafka


def _docker_reachable() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


BROKER_USED: list[str] = []
FIGURES: list[str] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say which real broker the ``kafka`` tests talked to, and the figures they measured."""
    for line in BROKER_USED:
        terminalreporter.write_line(f"kafka tests ran against: {line}")
    for line in FIGURES:
        terminalreporter.write_line(f"measured: {line}")


@pytest.fixture
def report_figure(
    request: pytest.FixtureRequest, record_property: Callable[[str, object], None]
) -> Callable[[str, float, str], None]:
    """``report_figure(name, value, unit)``: shown at the end of the run and in JUnit XML."""

    def report(name: str, value: float, unit: str) -> None:
        record_property(name, value)
        FIGURES.append(f"{request.node.name}: {name} = {value:.1f} {unit}")

    return report


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap address of a real Kafka broker for this test session."""
    existing = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if existing:
        BROKER_USED.append(f"existing cluster at {existing} (KAFKA_BOOTSTRAP_SERVERS)")
        yield existing
        return
    if os.environ.get("COMPUTEPERF_TEST_DOCKER") == "1" and _docker_reachable():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer() as container:
            BROKER_USED.append(f"testcontainers Kafka at {container.get_bootstrap_server()}")
            yield container.get_bootstrap_server()
        return
    port = kafka.free_port()
    running = kafka.start(
        data_dir=Path(tmp_path_factory.mktemp("kafka")),
        port=port,
        controller_port=kafka.free_port(),
        die_with_parent=True,
    )
    BROKER_USED.append(
        f"Apache Kafka from Maven jars (infra/kafka) at {running.bootstrap_servers}, "
        f"pid {running.process.pid}"
    )
    try:
        yield running.bootstrap_servers
    finally:
        running.stop()


#: Nodes of the ``kafka_cluster`` fixture: enough for replication factor 3 and min ISR 2.
CLUSTER_BROKERS = 3


@pytest.fixture(scope="module")
def kafka_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[kafka.Cluster]:
    """A cluster of :data:`CLUSTER_BROKERS` local Kafka nodes for one test module.

    Module scoped: three JVMs are heavy, they stop once the module's tests are done. Started
    from the test thread, so that a node a test restarts from that thread lives on.
    """
    cluster = kafka.start_cluster(
        brokers=CLUSTER_BROKERS, data_dir=Path(tmp_path_factory.mktemp("kafka-cluster"))
    )
    BROKER_USED.append(
        f"a {CLUSTER_BROKERS}-node Apache Kafka cluster (infra/kafka) at "
        f"{cluster.bootstrap_servers}, pids {[n.process.pid for n in cluster.nodes]}"
    )
    try:
        yield cluster
    finally:
        cluster.stop()
