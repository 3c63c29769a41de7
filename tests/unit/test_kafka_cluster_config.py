"""Issue 17: a local cluster's nodes agree on one quorum; topics of ours are durable on it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from faust.transport.drivers.aiokafka import Producer

from config.settings import Settings
from infra.kafka import broker as kafka
from streams.app import create_app
from streams.topics import TOPICS


def properties(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line)


def test_three_nodes_share_one_quorum_on_distinct_ports_and_replicate_three_times() -> None:
    ports = kafka.cluster_ports(3, 20000)
    voters = ",".join(f"{i + 1}@127.0.0.1:{c}" for i, (_, c) in enumerate(ports))
    nodes = [
        properties(
            kafka.render_properties(
                port=p, controller_port=c, log_dir=Path(f"/k/{i}"), node_id=i + 1, voters=voters
            )
        )
        for i, (p, c) in enumerate(ports)
    ]
    assert [n["node.id"] for n in nodes] == ["1", "2", "3"]
    assert {n["controller.quorum.voters"] for n in nodes} == {voters}
    assert len({n["listeners"] for n in nodes}) == 3
    assert len({n["log.dirs"] for n in nodes}) == 3
    for n in nodes:
        assert n["offsets.topic.replication.factor"] == "3"
        assert n["transaction.state.log.min.isr"] == "2"
        assert n["min.insync.replicas"] == "2"
        assert n["unclean.leader.election.enable"] == "false"


def test_a_single_node_keeps_replication_factor_one() -> None:
    one = properties(kafka.render_properties(port=1, controller_port=2, log_dir=Path("/k")))
    assert one["controller.quorum.voters"] == "1@127.0.0.1:2"
    assert one["offsets.topic.replication.factor"] == "1"
    assert one["min.insync.replicas"] == "1"


@pytest.mark.parametrize(("factor", "isr"), [(1, "1"), (2, "1"), (3, "2")])
def test_every_registry_topic_carries_min_insync_replicas(factor: int, isr: str) -> None:
    settings = Settings(replication_factor=factor)
    assert {spec.configs(settings)["min.insync.replicas"] for spec in TOPICS} == {isr}


def test_min_insync_replicas_above_the_replication_factor_is_refused() -> None:
    with pytest.raises(ValueError, match="exceeds replication_factor"):
        Settings(replication_factor=2, min_insync_replicas=3)
    assert Settings(replication_factor=3, min_insync_replicas=3).topic_min_insync_replicas == 3


def test_fausts_own_topics_get_min_insync_replicas_and_the_replication_factor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    created: list[dict[str, Any]] = []

    async def record(
        self: Producer, topic: str, partitions: int, replication: int, **kw: Any
    ) -> None:
        created.append({"topic": topic, "replication": replication, **kw})

    # What Faust's producer would send to the cluster: the changelog declared as Faust does.
    monkeypatch.setattr(Producer, "create_topic", record)

    async def declare() -> None:
        settings = Settings(
            kafka_bootstrap_servers="127.0.0.1:1", replication_factor=3, agents="windows"
        )
        app = create_app(settings)
        assert app.conf.topic_replication_factor == 3
        changelog = app.tables["provider_to_window_state"].changelog_topic
        await app.producer.create_topic(
            changelog.get_topic_name(),
            settings.partitions,
            app.conf.topic_replication_factor,
            config=changelog.config,
            compacting=True,
        )

    asyncio.run(declare())
    (changelog,) = created
    assert changelog["topic"].endswith("provider_to_window_state-changelog")
    assert changelog["replication"] == 3
    assert changelog["config"]["min.insync.replicas"] == "2"
    assert changelog["compacting"] is True
