"""``computeperf run``: the whole system on this machine, and nothing left behind on Ctrl-C.

Starts (or reuses) the Kafka broker, a worker with the default roles (windows, alerts,
anomalies, fleet, reports, api: the dashboard), a "planner" worker with the single-instance
roles (analysis, recommendations, approvals: proposals approved by the policy book;
budgets: tenant spend against the budget file), the
reference scheduler and the simulator in real-time
mode, as child processes that die with this one (``PR_SET_PDEATHSIG``); prints where to
look, and on Ctrl-C or SIGTERM stops the simulator and scheduler, the workers and the
broker, in that order.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from types import FrameType

import click

from config.settings import Settings
from infra.kafka import broker as kafka
from streams.workers import WorkerProcess, settings_env, spawn


def api_lines(settings: Settings, url: str) -> list[str]:
    """Where the dashboard and API are; the tokens only when they are the dev defaults.

    >>> api_lines(Settings(), "http://127.0.0.1:6066")[0]
    'dashboard: http://127.0.0.1:6066/#token=dev-operator'
    """
    if "api" not in settings.agent_set:
        return []
    default = Settings.model_fields["api_tokens"].default
    if settings.api_tokens != default:
        return [f"dashboard: {url}/", f"API: {url}/api/v1/ (OpenAPI: {url}/openapi.json)"]
    return [
        f"dashboard: {url}/#token=dev-operator",
        f"API: {url}/api/v1/ (OpenAPI: {url}/openapi.json); dev tokens: "
        "dev-operator (operator), dev-reader (reader); set COMPUTEPERF_API_TOKENS for real ones",
    ]


PLANNER_ROLES = ("analysis", "recommendations", "approvals", "budgets")


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
    """Run broker, workers, simulator and reference scheduler until Ctrl-C."""
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
    worker = WorkerProcess(settings, logs / "worker.log")
    # The single-instance roles (fleet-wide analysis, placement) in a worker of their own,
    # as in production; and the reference scheduler applying approved recommendations.
    planner = WorkerProcess(
        settings.model_copy(
            update={"agents": ",".join(PLANNER_ROLES), "web_port": settings.web_port + 1}
        ),
        logs / "planner.log",
    )
    simulator = scheduler = None
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        click.echo("[run] starting the workers ...")
        worker.start()
        planner.start()
        scheduler = spawn(
            ["scheduler", "--seed", str(seed), "--providers", str(providers)],
            settings_env(settings),
            logs / "scheduler.log",
        )
        simulate = ["simulate", "--seed", str(seed), "--providers", str(providers)]
        simulate += ["--workloads", str(workloads), "--random-incidents", str(random_incidents)]
        simulator = spawn(simulate, settings_env(settings), logs / "simulator.log")
        click.echo(f"[run] worker metrics: {worker.url}/metrics   logs: {logs}/")
        click.echo(f"[run] planner ({planner.settings.agents}) metrics: {planner.url}/metrics")
        click.echo(
            f"[run] kafka: {bootstrap}; outputs on perf.metrics, perf.alerts, perf.anomalies, "
            "perf.insights, perf.recommendations, perf.budgets, scheduler.feedback, perf.dlq"
        )
        for line in api_lines(settings, worker.url):
            click.echo(f"[run] {line}")
        click.echo("[run] Ctrl-C stops everything")
        while not stopping:
            children = (
                ("worker", worker.process),
                ("planner", planner.process),
                ("simulator", simulator),
                ("scheduler", scheduler),
            )
            for name, child in children:
                if child is not None and child.poll() is not None:
                    click.echo(f"[run] {name} exited with {child.returncode}", err=True)
                    stopping = True
            time.sleep(0.5)
    finally:
        click.echo("[run] stopping ...")
        for child in (simulator, scheduler):
            if child is not None:
                kafka.terminate(child.pid, timeout_s=20)
        planner.stop()
        worker.stop()
        if broker is not None:
            broker.stop()
        click.echo("[run] stopped")
