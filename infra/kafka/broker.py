"""Provision, start and stop real Apache Kafka brokers (KRaft) from Maven jars.

This is the one code path behind ``make kafka-up``/``make kafka-down``, ``make run``, the
test fixtures and the benchmarks. The broker and its runtime jars come from Maven Central
through ``infra/kafka/pom.xml`` (``mvn dependency:copy-dependencies``) into an ignored cache
folder; storage is formatted once per data directory, and each node is a plain ``java``
child. One node (:func:`start`) or a cluster of N nodes on 127.0.0.1 (:func:`start_cluster`,
each node broker and controller, all N voters of one quorum): with three or more nodes the
internal topics get replication factor 3 and ``min.insync.replicas=2``, as topics of ours do
(``Settings.replication_factor``, ``Settings.topic_min_insync_replicas``).

Command line::

    python -m infra.kafka.broker up               # provision if needed, start, wait for metadata
    python -m infra.kafka.broker up --brokers 3   # three nodes on 19092, 19094, 19096
    python -m infra.kafka.broker down             # stop what `up` started
    python -m infra.kafka.broker status

A broker started with ``die_with_parent=True`` (fixtures, ``computeperf run``) gets
``PR_SET_PDEATHSIG`` so that even a SIGKILLed parent leaves no Java process behind.

>>> render_properties(port=9092, controller_port=9093, log_dir=Path("/tmp/k")).splitlines()[0]
'process.roles=broker,controller'
>>> props = render_properties(
...     port=9094, controller_port=9095, log_dir=Path("/tmp/k2"), node_id=2,
...     voters="1@127.0.0.1:9093,2@127.0.0.1:9095,3@127.0.0.1:9097",
... )
>>> [line for line in props.splitlines() if "insync" in line or "offsets.topic.rep" in line]
['min.insync.replicas=2', 'offsets.topic.replication.factor=3']
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from infra.kafka.sasl import SaslSslListener

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
DEFAULT_CACHE = Path(os.environ.get("COMPUTEPERF_CACHE_DIR", ROOT / ".cache"))
DEFAULT_PORT = 19092
DEFAULT_CONTROLLER_PORT = 19093
KAFKA_MAIN = "kafka.Kafka"
STORAGE_TOOL = "kafka.tools.StorageTool"


def internal_replication(brokers: int) -> tuple[int, int]:
    """Replication factor and ``min.insync.replicas`` for a cluster of ``brokers`` nodes.

    Three copies, two of which must acknowledge a write, once there are three nodes: one
    node may die without losing an acknowledged record or refusing writes.

    >>> internal_replication(1), internal_replication(3), internal_replication(5)
    ((1, 1), (3, 2), (3, 2))
    """
    factor = min(3, brokers)
    return factor, 2 if factor >= 3 else 1


def render_properties(
    *,
    port: int,
    controller_port: int,
    log_dir: Path,
    node_id: int = 1,
    voters: str | None = None,
    sasl_ssl: SaslSslListener | None = None,
) -> str:
    """Return ``server.properties`` for one broker+controller node on 127.0.0.1.

    ``voters`` is the quorum (``id@host:controller_port`` comma list, the same on every
    node); by default this node alone. ``sasl_ssl`` adds a SASL_SSL listener beside the
    PLAINTEXT one (:mod:`infra.kafka.sasl`).
    """
    voters = voters or f"{node_id}@127.0.0.1:{controller_port}"
    factor, min_isr = internal_replication(len(voters.split(",")))
    extra = f",SASL_SSL://127.0.0.1:{sasl_ssl.port}" if sasl_ssl else ""
    return "\n".join(
        [
            "process.roles=broker,controller",
            f"node.id={node_id}",
            f"controller.quorum.voters={voters}",
            f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}"
            + extra,
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}{extra}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
            + (",SASL_SSL:SASL_SSL" if sasl_ssl else ""),
            *(sasl_ssl.properties() if sasl_ssl else []),
            f"log.dirs={log_dir}",
            "num.partitions=4",
            # Topics created without explicit settings (none of ours) get the cluster's.
            f"default.replication.factor={factor}",
            f"min.insync.replicas={min_isr}",
            f"offsets.topic.replication.factor={factor}",
            "offsets.topic.num.partitions=8",
            f"transaction.state.log.replication.factor={factor}",
            f"transaction.state.log.min.isr={min_isr}",
            f"share.coordinator.state.topic.replication.factor={factor}",
            f"share.coordinator.state.topic.min.isr={min_isr}",
            "group.initial.rebalance.delay.ms=0",
            # A replica never in sync must not become leader: that would lose acked records.
            "unclean.leader.election.enable=false",
            # Topics are created explicitly by the topic registry; a typo must not
            # silently create a topic with the wrong partition count.
            "auto.create.topics.enable=false",
            "log.retention.check.interval.ms=60000",
            "",
        ]
    )


def provision(cache_dir: Path = DEFAULT_CACHE) -> Path:
    """Fetch the broker jars into ``cache_dir/kafka/libs`` (once) and return that folder."""
    libs = cache_dir / "kafka" / "libs"
    marker = libs / ".complete"
    if marker.exists():
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise RuntimeError("Maven (mvn) is needed to fetch the Kafka broker jars; install it")
    print(f"[kafka] fetching Apache Kafka jars from Maven Central into {libs} ...", flush=True)
    libs.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            mvn,
            "-q",
            "-B",
            "-f",
            str(HERE / "pom.xml"),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={libs}",
        ],
        check=True,
    )
    marker.write_text("ok\n")
    return libs


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        raise RuntimeError("Java 17+ is needed to run the Kafka broker; install a JDK")
    return java


def set_pdeathsig() -> None:
    # Linux only: the kernel sends SIGTERM to the broker when its parent dies, even by SIGKILL.
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        prset_pdeathsig = 1
        libc.prctl(prset_pdeathsig, signal.SIGTERM)


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _probe(bootstrap: str, brokers: int = 1, **security: object) -> bool:
    from aiokafka import AIOKafkaClient

    # aiokafka logs every refused connection; while we poll a starting broker that is noise.
    log = logging.getLogger("aiokafka")
    level = log.level
    log.setLevel(logging.CRITICAL)
    client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=3000, **security)
    try:
        await client.bootstrap()
        return len(client.cluster.brokers()) >= brokers
    except Exception:
        return False
    finally:
        await client.close()
        log.setLevel(level)


def serves_metadata(bootstrap: str, brokers: int = 1, **security: object) -> bool:
    """True when Kafka at ``bootstrap`` answers a metadata request naming ``brokers`` nodes.

    ``security``: the TLS and SASL options of the client (``config.kafka.client_options``).
    """
    return asyncio.run(_probe(bootstrap, brokers, **security))


@dataclass
class Broker:
    """A running Kafka node (broker and controller) started by :func:`start`."""

    process: subprocess.Popen[bytes]
    port: int
    controller_port: int
    data_dir: Path
    node_id: int = 1
    sasl_ssl: SaslSslListener | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop the broker: SIGTERM (controlled shutdown), then SIGKILL after ``timeout_s``."""
        terminate(self.process.pid, timeout_s)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=1)

    def kill(self) -> None:
        """SIGKILL the node (a crash: no controlled shutdown) and reap it."""
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)


def terminate(pid: int, timeout_s: float = 30.0) -> None:
    """SIGTERM ``pid`` and wait for it to exit; SIGKILL it when it does not in time."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not _alive(pid):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def terminate_all(pids: list[int], timeout_s: float = 30.0) -> None:
    """:func:`terminate` several nodes of one cluster at once.

    One after the other, the last node waits in vain for a quorum to acknowledge its
    controlled shutdown until it is killed; together, they are all gone in seconds.
    """
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for pid in pids:
        terminate(pid, max(0.0, deadline - time.monotonic()))


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    # A zombie is dead for our purposes.
    return not (stat.exists() and ") Z " in stat.read_text())


@dataclass(frozen=True)
class NodeSpec:
    """Where one node of a cluster lives: its id, ports and data directory."""

    node_id: int
    port: int
    controller_port: int
    data_dir: Path


def _launch(
    spec: NodeSpec,
    *,
    voters: str,
    cluster_id: str,
    cache_dir: Path,
    die_with_parent: bool,
    heap: str,
    sasl_ssl: SaslSslListener | None = None,
) -> Broker:
    """Write the node's properties, format its storage once and start its ``java`` process."""
    libs = provision(cache_dir)
    spec.data_dir.mkdir(parents=True, exist_ok=True)
    log_dir = spec.data_dir / "logs"
    props = spec.data_dir / "server.properties"
    props.write_text(
        render_properties(
            port=spec.port,
            controller_port=spec.controller_port,
            log_dir=log_dir,
            node_id=spec.node_id,
            voters=voters,
            sasl_ssl=sasl_ssl,
        )
    )
    classpath = f"{libs}/*"
    java = _java()
    if not (log_dir / "meta.properties").exists():
        subprocess.run(
            [java, "-cp", classpath, STORAGE_TOOL, "format", "-t", cluster_id, "-c", str(props)]
            + (sasl_ssl.format_args() if sasl_ssl else []),
            check=True,
            capture_output=True,
        )
    out = (spec.data_dir / "broker.log").open("ab")
    process = subprocess.Popen(
        [
            java,
            f"-Xmx{heap}",
            "-XX:+UseG1GC",
            "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
            "-cp",
            classpath,
            KAFKA_MAIN,
            str(props),
        ],
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        preexec_fn=set_pdeathsig if die_with_parent else None,
        # Never in the caller's process group: a terminal's Ctrl-C must not stop the broker
        # before the clients that still talk to it (the parent stops it last).
        start_new_session=True,
    )
    out.close()
    return Broker(process, spec.port, spec.controller_port, spec.data_dir, spec.node_id, sasl_ssl)


def _await_metadata(nodes: list[Broker], timeout_s: float, via: Broker | None = None) -> None:
    """Wait until the nodes (or node ``via``) serve metadata naming all of them.

    All of them are stopped when one exits or time runs out.
    """
    bootstrap = via.bootstrap_servers if via else ",".join(n.bootstrap_servers for n in nodes)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for node in nodes:
            if node.process.poll() is not None:
                tail = (node.data_dir / "broker.log").read_text(errors="replace")[-3000:]
                for other in nodes:
                    other.stop()
                raise RuntimeError(
                    f"Kafka node {node.node_id} exited with {node.process.returncode}:\n{tail}"
                )
        if serves_metadata(bootstrap, len(nodes)):
            return
        time.sleep(0.5)
    for node in nodes:
        node.stop()
    raise RuntimeError(f"Kafka did not serve metadata within {timeout_s:.0f}s")


def _voters(specs: list[NodeSpec]) -> str:
    return ",".join(f"{s.node_id}@127.0.0.1:{s.controller_port}" for s in specs)


def _cluster_id(data_dir: Path) -> str:
    """The cluster id kept beside the nodes' folders: every node must be formatted with it."""
    path = data_dir / "cluster.id"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(uuid.uuid4().hex[:22])
    return path.read_text().strip()


def start(
    *,
    data_dir: Path,
    port: int = DEFAULT_PORT,
    controller_port: int = DEFAULT_CONTROLLER_PORT,
    cache_dir: Path = DEFAULT_CACHE,
    die_with_parent: bool = True,
    timeout_s: float = 90.0,
    heap: str = "512m",
    sasl_ssl: SaslSslListener | None = None,
) -> Broker:
    """Provision if needed, format ``data_dir`` once, start the broker and wait for metadata.

    With ``sasl_ssl`` (:func:`infra.kafka.sasl.make_listener`) the broker also serves
    SASL_SSL clients on that listener's port (``Broker.sasl_ssl.bootstrap_servers``).
    """
    spec = NodeSpec(1, port, controller_port, data_dir)
    node = _launch(
        spec,
        voters=_voters([spec]),
        cluster_id=uuid.uuid4().hex[:22],
        cache_dir=cache_dir,
        die_with_parent=die_with_parent,
        heap=heap,
        sasl_ssl=sasl_ssl,
    )
    _await_metadata([node], timeout_s)
    return node


@dataclass
class Cluster:
    """N Kafka nodes on 127.0.0.1 started by :func:`start_cluster`; nodes can die and return."""

    nodes: list[Broker]
    cluster_id: str
    cache_dir: Path
    die_with_parent: bool
    heap: str

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(n.bootstrap_servers for n in self.nodes)

    def node(self, node_id: int) -> Broker:
        """The node with id ``node_id`` (ids start at 1)."""
        return next(n for n in self.nodes if n.node_id == node_id)

    def restart(self, node_id: int, timeout_s: float = 90.0) -> Broker:
        """Start node ``node_id`` again on its data and ports; return once the cluster names it.

        The node dies with the *thread* that calls this when ``die_with_parent`` is set.
        """
        old = self.node(node_id)
        if old.process.poll() is None:
            raise RuntimeError(f"node {node_id} is still running (pid {old.process.pid})")
        specs = [NodeSpec(n.node_id, n.port, n.controller_port, n.data_dir) for n in self.nodes]
        fresh = _launch(
            specs[self.nodes.index(old)],
            voters=_voters(specs),
            cluster_id=self.cluster_id,
            cache_dir=self.cache_dir,
            die_with_parent=self.die_with_parent,
            heap=self.heap,
        )
        self.nodes[self.nodes.index(old)] = fresh
        # Asked of the new node itself: the others still name the dead one for a while.
        _await_metadata(self.nodes, timeout_s, via=fresh)
        return fresh

    def restart_all(self, timeout_s: float = 120.0) -> None:
        """Start every stopped node again at once (a quorum needs most of them); wait for all.

        The nodes die with the *thread* that calls this when ``die_with_parent`` is set.
        """
        specs = [NodeSpec(n.node_id, n.port, n.controller_port, n.data_dir) for n in self.nodes]
        for i, node in enumerate(self.nodes):
            if node.process.poll() is not None:
                self.nodes[i] = _launch(
                    specs[i],
                    voters=_voters(specs),
                    cluster_id=self.cluster_id,
                    cache_dir=self.cache_dir,
                    die_with_parent=self.die_with_parent,
                    heap=self.heap,
                )
        _await_metadata(self.nodes, timeout_s)

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop every node that runs (SIGTERM to all at once, then SIGKILL)."""
        terminate_all([n.process.pid for n in self.nodes if n.process.poll() is None], timeout_s)
        for node in self.nodes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                node.process.wait(timeout=1)


def start_cluster(
    *,
    brokers: int,
    data_dir: Path,
    ports: list[tuple[int, int]] | None = None,
    cache_dir: Path = DEFAULT_CACHE,
    die_with_parent: bool = True,
    timeout_s: float = 120.0,
    heap: str = "256m",
) -> Cluster:
    """Start ``brokers`` nodes (ids 1..N, all controller voters) and wait for all of them.

    ``ports`` gives each node's ``(port, controller_port)``; free ports by default. Node
    ``i`` keeps its data in ``data_dir/node-i``, formatted once with the cluster id kept in
    ``data_dir/cluster.id``.
    """
    if brokers < 1:
        raise ValueError(f"a cluster needs at least one broker, not {brokers}")
    ports = ports or [(free_port(), free_port()) for _ in range(brokers)]
    if len(ports) != brokers:
        raise ValueError(f"{brokers} brokers need {brokers} port pairs, got {len(ports)}")
    specs = [
        NodeSpec(i + 1, port, cport, data_dir / f"node-{i + 1}")
        for i, (port, cport) in enumerate(ports)
    ]
    cluster_id = _cluster_id(data_dir)
    nodes = [
        _launch(
            spec,
            voters=_voters(specs),
            cluster_id=cluster_id,
            cache_dir=cache_dir,
            die_with_parent=die_with_parent,
            heap=heap,
        )
        for spec in specs
    ]
    _await_metadata(nodes, timeout_s)
    return Cluster(nodes, cluster_id, cache_dir, die_with_parent, heap)


def _pidfile(cache_dir: Path) -> Path:
    return cache_dir / "kafka" / "broker.pid"


def cluster_ports(brokers: int, port: int = DEFAULT_PORT) -> list[tuple[int, int]]:
    """The fixed ports of ``make kafka-up BROKERS=N``: node i on ``port + 2i`` (controller +1).

    >>> cluster_ports(3)
    [(19092, 19093), (19094, 19095), (19096, 19097)]
    """
    return [(port + 2 * i, port + 2 * i + 1) for i in range(brokers)]


def up(cache_dir: Path = DEFAULT_CACHE, port: int = DEFAULT_PORT, brokers: int = 1) -> str:
    """Start detached broker(s) for ``make kafka-up`` (idempotent) and return the address."""
    ports = cluster_ports(brokers, port)
    bootstrap = ",".join(f"127.0.0.1:{p}" for p, _ in ports)
    pidfile = _pidfile(cache_dir)
    if pidfile.exists():
        pids = [int(p) for p in pidfile.read_text().split()]
        if any(_alive(pid) for pid in pids):
            print(f"[kafka] already running (pids {' '.join(map(str, pids))}); make kafka-down")
            return bootstrap
    if brokers == 1:
        nodes = [
            start(
                data_dir=cache_dir / "kafka" / "data",
                port=port,
                controller_port=port + 1,
                cache_dir=cache_dir,
                die_with_parent=False,
            )
        ]
    else:
        nodes = start_cluster(
            brokers=brokers,
            # A folder per size: a node formatted for another quorum would not start.
            data_dir=cache_dir / "kafka" / f"data-{brokers}",
            ports=ports,
            cache_dir=cache_dir,
            die_with_parent=False,
        ).nodes
    pidfile.write_text("".join(f"{n.process.pid}\n" for n in nodes))
    started = " ".join(str(n.process.pid) for n in nodes)
    print(f"[kafka] {brokers} broker(s) up at {bootstrap} (pids {started})")
    if brokers >= 3:
        print("[kafka] set COMPUTEPERF_REPLICATION_FACTOR=3 for topics with 3 replicas")
    return bootstrap


def down(cache_dir: Path = DEFAULT_CACHE) -> None:
    """Stop the broker(s) started by :func:`up`; a no-op when none runs."""
    pidfile = _pidfile(cache_dir)
    if not pidfile.exists():
        print("[kafka] not running")
        return
    pids = [int(p) for p in pidfile.read_text().split()]
    terminate_all(pids)
    pidfile.unlink()
    print(f"[kafka] stopped (pids {' '.join(map(str, pids))})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.kafka.broker", description=__doc__)
    parser.add_argument("command", choices=["provision", "up", "down", "status"])
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--brokers", type=int, default=1, help="nodes of the cluster (up)")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    args = parser.parse_args(argv)
    if args.command == "provision":
        print(provision(args.cache_dir))
    elif args.command == "up":
        up(args.cache_dir, args.port, args.brokers)
    elif args.command == "down":
        down(args.cache_dir)
    else:
        bootstrap = ",".join(f"127.0.0.1:{p}" for p, _ in cluster_ports(args.brokers, args.port))
        ok = serves_metadata(bootstrap, args.brokers)
        print(f"[kafka] {bootstrap}: {'serving metadata' if ok else 'not reachable'}")
        return 0 if ok else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
