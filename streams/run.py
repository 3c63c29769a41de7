"""``computeperf run``: the whole system on this machine, and nothing left behind on Ctrl-C.

Starts (or reuses) the Kafka broker, one worker and the simulator in real-time mode, as
child processes that die with this one (``PR_SET_PDEATHSIG``), prints where to look, and on
Ctrl-C or SIGTERM stops the simulator, the worker and the broker, in that order.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

import click

from infra.kafka import broker as kafka
from streams.settings import Settings


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start ``computeperf ARGS`` as a child that dies with us, logging to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "streams", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=kafka._set_pdeathsig,
        )


@click.command("run")
@click.option("--providers", default=12, show_default=True, help="Simulated providers.")
@click.option("--workloads", default=24, show_default=True, help="Simulated workloads.")
@click.option("--random-incidents", default=4, show_default=True, help="Incidents to inject.")
@click.option("--seed", default=1, show_default=True)
@click.option(
    "--logs",
    type=click.Path(path_type=Path),
    default=Path(".cache/run"),
    show_default=True,
    help="Folder for the broker, worker and simulator logs.",
)
def run_command(
    providers: int, workloads: int, random_incidents: int, seed: int, logs: Path
) -> None:
    """Run broker, worker and simulator until Ctrl-C."""
    settings = Settings()
    broker = None
    bootstrap = settings.kafka_bootstrap_servers
    if not kafka.serves_metadata(bootstrap):
        if bootstrap != f"127.0.0.1:{kafka.DEFAULT_PORT}":
            raise click.ClickException(f"no Kafka broker answers at {bootstrap}")
        click.echo(f"[run] starting Kafka at {bootstrap} (data in .cache/kafka/run) ...")
        broker = kafka.start(
            data_dir=Path(".cache/kafka/run"),
            port=kafka.DEFAULT_PORT,
            controller_port=kafka.DEFAULT_CONTROLLER_PORT,
        )
    env = {
        **os.environ,
        "COMPUTEPERF_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
    }
    children = [
        spawn(
            ["worker", "-l", "info", "--web-port", str(settings.web_port)], env, logs / "worker.log"
        ),
        spawn(
            [
                "simulate",
                "--seed",
                str(seed),
                "--providers",
                str(providers),
                "--workloads",
                str(workloads),
                "--random-incidents",
                str(random_incidents),
            ],
            env,
            logs / "simulator.log",
        ),
    ]
    url = f"http://{settings.web_host}:{settings.web_port}"
    click.echo(f"[run] worker metrics: {url}/metrics   logs: {logs}/")
    click.echo("[run] topics: perf.metrics, perf.alerts, perf.dlq — Ctrl-C stops everything")

    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        while not stopping:
            for child in children:
                if child.poll() is not None:
                    role = child.args[3]  # type: ignore[index]
                    click.echo(f"[run] {role!s} exited with {child.returncode}", err=True)
                    stopping = True
            time.sleep(0.5)
    finally:
        click.echo("[run] stopping ...")
        for child in reversed(children):
            kafka.terminate(child.pid, timeout_s=20)
        if broker is not None:
            broker.stop()
        click.echo("[run] stopped")
