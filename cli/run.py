"""``computeperf run``: the whole system on this machine, and nothing left behind on Ctrl-C.

Starts (or reuses) the Kafka broker, a worker with the default roles (windows, alerts,
anomalies, fleet, reports, api: the dashboard), a "planner" worker with the single-instance
roles (analysis, recommendations, approvals: proposals approved by the policy book;
budgets: tenant spend against the budget file), the
reference scheduler and the simulator in real-time
mode, as child processes that die with this one (``PR_SET_PDEATHSIG``); prints where to
look, and on Ctrl-C or SIGTERM stops the simulator, scheduler and workers together, then
the broker, all within :data:`STOP_BUDGET_S` (children that do not exit in time are killed).
A worker that exits with ``EXIT_WRITE_STALLED`` (a write the broker never acknowledged)
is started again; any other exit of a child stops everything.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from types import FrameType

import click

from agents.outputs import EXIT_WRITE_STALLED
from config.kafka import client_options
from config.settings import Settings
from infra.kafka import broker as kafka
from streams.workers import WorkerProcess, settings_env, spawn, stop_all


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

#: Seconds Ctrl-C may take to stop the children: clients first (they leave their consumer
#: groups while the broker still answers), killed after CLIENTS_STOP_S, then the broker
#: (controlled shutdown) with what is left of the budget, at least BROKER_MIN_STOP_S. The
#: rest of the 10 s a user waits is for this process to exit (about 2 s on a loaded machine).
#: A Faust worker commits, leaves its group and closes its loop within ~1.5 s of SIGTERM
#: even at load average 10, then its process lingered (seen: killed at 5 s every time),
#: so waiting longer for the clients only takes time from the broker's clean shutdown.
STOP_BUDGET_S = 7.5
CLIENTS_STOP_S = 3.5
BROKER_MIN_STOP_S = 1.5


@click.command("run")
@click.option("--providers", default=12, show_default=True, help="Simulated providers.")
@click.option(
    "--workloads",
    default=12,
    show_default=True,
    help="Simulated running workloads (the demo needs free GPUs for arrivals and moves).",
)
@click.option(
    "--random-incidents",
    default=4,
    show_default=True,
    help="Incidents to inject at random (with --quiet-sim).",
)
# Seed 2: the demo's degrading host runs a workload that only pays to move once degraded.
@click.option("--seed", default=2, show_default=True)
@click.option(
    "--quiet-sim",
    is_flag=True,
    help="A plain simulator run (random incidents, every workload placed) instead of the "
    "scripted demo (sim/demo.py: history to warm the detectors, then incidents, a degrading "
    "provider and arrivals within minutes).",
)
@click.option(
    "--logs",
    type=click.Path(path_type=Path),
    default=Path(".cache/run"),
    show_default=True,
    help="Folder for the broker, worker and simulator logs.",
)
def run_command(
    providers: int, workloads: int, random_incidents: int, seed: int, quiet_sim: bool, logs: Path
) -> None:
    """Run broker, workers, simulator and reference scheduler until Ctrl-C."""
    settings = Settings()
    broker = None
    security = client_options(settings)
    bootstrap = security.pop("bootstrap_servers")
    if not kafka.serves_metadata(bootstrap, **security):
        host, _, port = bootstrap.rpartition(":")
        if host != "127.0.0.1" or "," in bootstrap or not port.isdigit():
            raise click.ClickException(f"no Kafka broker answers at {bootstrap}")
        # The project's broker on its usual ports and data folder; on another local port
        # (a second run beside it, the tests) with its data next to the logs.
        default = int(port) == kafka.DEFAULT_PORT
        data_dir = Path(".cache/kafka/run") if default else logs / "kafka"
        click.echo(f"[run] starting Kafka at {bootstrap} (data in {data_dir}) ...")
        broker = kafka.start(
            data_dir=data_dir,
            port=int(port),
            controller_port=kafka.DEFAULT_CONTROLLER_PORT if default else kafka.free_port(),
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
        simulate += ["--workloads", str(workloads)]
        simulate += ["--random-incidents", str(random_incidents)] if quiet_sim else ["--demo"]
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
                if child is None or child.poll() is None:
                    continue
                if child.returncode == EXIT_WRITE_STALLED and name in ("worker", "planner"):
                    # A write the broker never acknowledged: restarted, the worker
                    # processes again what it had not committed (agents/outputs.py).
                    click.echo(f"[run] {name} exited with {child.returncode}: restarting", err=True)
                    (worker if name == "worker" else planner).launch()
                    continue
                click.echo(f"[run] {name} exited with {child.returncode}", err=True)
                stopping = True
            time.sleep(0.2)
    finally:
        click.echo("[run] stopping ...")
        started = time.monotonic()
        clients = [simulator, scheduler, planner.process, worker.process]
        killed = stop_all(clients, CLIENTS_STOP_S)
        if broker is not None:
            left_s = STOP_BUDGET_S - (time.monotonic() - started)
            killed += stop_all([broker.process], max(BROKER_MIN_STOP_S, left_s))
        late = f" (killed {len(killed)} late: pids {killed})" if killed else ""
        click.echo(f"[run] stopped in {time.monotonic() - started:.1f}s{late}")
