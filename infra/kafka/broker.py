"""Provision, start and stop a real Apache Kafka broker (KRaft, single node) from Maven jars.

This is the one code path behind ``make kafka-up``/``make kafka-down``, ``make run`` and the
test fixtures. The broker and its runtime jars come from Maven Central through
``infra/kafka/pom.xml`` (``mvn dependency:copy-dependencies``) into an ignored cache folder;
storage is formatted once per data directory, and the process is a plain ``java`` child.

Command line::

    python -m infra.kafka.broker up      # provision if needed, start, wait for metadata
    python -m infra.kafka.broker down    # stop the broker started by `up`
    python -m infra.kafka.broker status

A broker started with ``die_with_parent=True`` (fixtures, ``computeperf run``) gets
``PR_SET_PDEATHSIG`` so that even a SIGKILLed parent leaves no Java process behind.

>>> render_properties(port=9092, controller_port=9093, log_dir=Path("/tmp/k")).splitlines()[0]
'process.roles=broker,controller'
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

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
DEFAULT_CACHE = Path(os.environ.get("COMPUTEPERF_CACHE_DIR", ROOT / ".cache"))
DEFAULT_PORT = 19092
DEFAULT_CONTROLLER_PORT = 19093
KAFKA_MAIN = "kafka.Kafka"
STORAGE_TOOL = "kafka.tools.StorageTool"


def render_properties(*, port: int, controller_port: int, log_dir: Path) -> str:
    """Return ``server.properties`` for a single broker+controller node on 127.0.0.1."""
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{controller_port}",
            f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            f"log.dirs={log_dir}",
            "num.partitions=4",
            # Single node: every internal topic must have replication factor 1.
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=8",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
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


async def _probe(bootstrap: str) -> bool:
    from aiokafka import AIOKafkaClient

    # aiokafka logs every refused connection; while we poll a starting broker that is noise.
    log = logging.getLogger("aiokafka")
    level = log.level
    log.setLevel(logging.CRITICAL)
    client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await client.bootstrap()
        return bool(client.cluster.brokers())
    except Exception:
        return False
    finally:
        await client.close()
        log.setLevel(level)


def serves_metadata(bootstrap: str) -> bool:
    """True when a Kafka broker at ``bootstrap`` answers a metadata request."""
    return asyncio.run(_probe(bootstrap))


@dataclass
class Broker:
    """A running single-node Kafka broker started by :func:`start`."""

    process: subprocess.Popen[bytes]
    port: int
    controller_port: int
    data_dir: Path

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop the broker: SIGTERM (controlled shutdown), then SIGKILL after ``timeout_s``."""
        terminate(self.process.pid, timeout_s)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=1)


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


def start(
    *,
    data_dir: Path,
    port: int = DEFAULT_PORT,
    controller_port: int = DEFAULT_CONTROLLER_PORT,
    cache_dir: Path = DEFAULT_CACHE,
    die_with_parent: bool = True,
    timeout_s: float = 90.0,
    heap: str = "512m",
) -> Broker:
    """Provision if needed, format ``data_dir`` once, start the broker and wait for metadata."""
    libs = provision(cache_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    log_dir = data_dir / "logs"
    props = data_dir / "server.properties"
    props.write_text(render_properties(port=port, controller_port=controller_port, log_dir=log_dir))
    classpath = f"{libs}/*"
    java = _java()
    if not (log_dir / "meta.properties").exists():
        cluster_id = uuid.uuid4().hex[:22]
        subprocess.run(
            [java, "-cp", classpath, STORAGE_TOOL, "format", "-t", cluster_id, "-c", str(props)],
            check=True,
            capture_output=True,
        )
    out = (data_dir / "broker.log").open("ab")
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
    broker = Broker(process, port, controller_port, data_dir)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = (data_dir / "broker.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"Kafka broker exited with {process.returncode}:\n{tail}")
        if serves_metadata(broker.bootstrap_servers):
            return broker
        time.sleep(0.5)
    broker.stop()
    raise RuntimeError(f"Kafka broker did not serve metadata within {timeout_s:.0f}s")


def _pidfile(cache_dir: Path) -> Path:
    return cache_dir / "kafka" / "broker.pid"


def up(cache_dir: Path = DEFAULT_CACHE, port: int = DEFAULT_PORT) -> str:
    """Start a detached broker for ``make kafka-up`` (idempotent) and return its address."""
    bootstrap = f"127.0.0.1:{port}"
    pidfile = _pidfile(cache_dir)
    if pidfile.exists() and _alive(int(pidfile.read_text().split()[0])):
        print(f"[kafka] already running at {bootstrap} (pid {pidfile.read_text().split()[0]})")
        return bootstrap
    broker = start(
        data_dir=cache_dir / "kafka" / "data",
        port=port,
        controller_port=port + 1,
        cache_dir=cache_dir,
        die_with_parent=False,
    )
    pidfile.write_text(f"{broker.process.pid}\n")
    print(f"[kafka] broker up at {bootstrap} (pid {broker.process.pid})")
    return bootstrap


def down(cache_dir: Path = DEFAULT_CACHE) -> None:
    """Stop the broker started by :func:`up`; a no-op when none runs."""
    pidfile = _pidfile(cache_dir)
    if not pidfile.exists():
        print("[kafka] not running")
        return
    pid = int(pidfile.read_text().split()[0])
    terminate(pid)
    pidfile.unlink()
    print(f"[kafka] stopped (pid {pid})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.kafka.broker", description=__doc__)
    parser.add_argument("command", choices=["provision", "up", "down", "status"])
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    args = parser.parse_args(argv)
    if args.command == "provision":
        print(provision(args.cache_dir))
    elif args.command == "up":
        up(args.cache_dir, args.port)
    elif args.command == "down":
        down(args.cache_dir)
    else:
        bootstrap = f"127.0.0.1:{args.port}"
        ok = serves_metadata(bootstrap)
        print(f"[kafka] {bootstrap}: {'serving metadata' if ok else 'not reachable'}")
        return 0 if ok else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
