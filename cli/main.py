"""The ``computeperf`` command: every command of ours, registered here and nowhere else.

Commands, by what a user wants to do (``computeperf COMMAND --help`` for each):

- **run**: ``run`` (broker, workers, reference scheduler and simulator on this machine:
  what ``make run`` runs), ``worker`` (one worker process; roles from
  ``COMPUTEPERF_AGENTS``), ``scheduler`` (the reference scheduler: applies approved
  recommendations exactly once), ``topics`` (create the registry's topics).
- **data**: ``simulate`` (marketplace telemetry, live or backfilled, with incidents),
  ``replay`` (historical telemetry through the pipeline into a namespace).
- **analyse**: ``detect`` (an anomaly score per line of a CSV series on stdin),
  ``evaluate`` (``placement``, ``prediction``, ``detection``, ``alerts``, ``insights``,
  ``forecast``, ``closed-loop``: quality figures of each core on simulated data;
  ``faults``: broker and worker SIGKILLs and hostile input on a 3-node cluster),
  ``bench`` (``pipeline``, ``analysis``, ``detection``, ``soak``: speed and memory
  figures),
  ``report`` (the daily or weekly performance report), ``rules`` (``export`` alert rules
  as Prometheus rules), ``alerts`` (``history`` of an entity from ``perf.alerts``).

Faust's own commands (``agents``, ``tables``, ``send``, ``reset``, ...) are still there,
listed apart at the end of ``--help``. The root options (``-l info``, ``--datadir``, ...)
are Faust's, since ``worker`` is Faust's worker. Settings come from the environment
(``COMPUTEPERF_*``, ``KAFKA_BOOTSTRAP_SERVERS``; :mod:`config.settings`).
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import click

from config.settings import Settings

__all__ = ["COMMAND_SECTIONS", "build_cli", "main", "root_group_class"]

HELP = """computeperf: performance tracking and optimisation for GPU compute marketplaces.

Kafka topics carry provider and workload telemetry through workers that compute
rolling metrics, detect anomalies, alert, predict and recommend placements.
`computeperf run` starts the whole system on this machine; settings come from
COMPUTEPERF_* environment variables (README: "Configuration").
"""

# Our commands in the order --help lists them; everything else is Faust's.
COMMAND_SECTIONS: dict[str, tuple[str, ...]] = {
    "Run the system": ("run", "worker", "scheduler", "topics"),
    "Data in": ("simulate", "replay"),
    "Analyse and measure": ("detect", "evaluate", "bench", "report", "rules", "alerts"),
}


def root_group_class() -> type[click.Group]:
    """Faust's root group class with our help text and commands listed in sections.

    Built on first use, so that ``computeperf detect`` never imports Faust.
    """
    from faust.cli.base import _Group

    class ComputeperfGroup(_Group):
        """Faust's root group with our help text and commands listed in sections."""

        def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
            """List our commands by section, then Faust's own commands apart."""
            ours = {name for names in COMMAND_SECTIONS.values() for name in names}
            sections = [*COMMAND_SECTIONS.items()]
            sections.append(("Faust's own commands", tuple(sorted(set(self.commands) - ours))))
            limit = formatter.width - 6 - max(len(n) for n in self.commands)
            for title, names in sections:
                rows = [
                    (name, self.commands[name].get_short_help_str(limit))
                    for name in names
                    if name in self.commands and not self.commands[name].hidden
                ]
                if rows:
                    with formatter.section(title):
                        formatter.write_dl(rows)

    return ComputeperfGroup


def topics_command() -> None:
    """Create every topic of the registry that does not exist yet."""
    from streams.topics import ensure_topics

    created = asyncio.run(ensure_topics(Settings()))
    click.echo(json.dumps({"created": created}))


def build_cli() -> click.Group:
    """The root command: Faust's options and commands, ours added in their sections."""
    from faust.cli.faust import cli as faust_cli

    from bench.analysis import analysis_bench_command
    from bench.anomaly_stage import anomaly_stage_command
    from bench.pipeline import bench_group
    from bench.soak import soak_command
    from cli.alerts import alerts_command, alerts_group
    from cli.detect import detect
    from cli.evaluate import evaluate_group
    from cli.evaluate.closed_loop import closed_loop_command
    from cli.evaluate.detection import detection_bench_command, detection_command
    from cli.evaluate.faults import faults_command
    from cli.evaluate.forecast import forecast_command
    from cli.evaluate.insights import insights_command
    from cli.replay import replay_command
    from cli.report import report_command
    from cli.rules import rules_group
    from cli.run import run_command
    from cli.scheduler import scheduler_command
    from cli.simulate import simulate

    for command in (
        detection_command,
        alerts_command,
        insights_command,
        forecast_command,
        closed_loop_command,
        faults_command,
    ):
        evaluate_group.add_command(command)
    bench_group.add_command(detection_bench_command)
    bench_group.add_command(analysis_bench_command)
    bench_group.add_command(anomaly_stage_command)
    bench_group.add_command(soak_command)

    root = root_group_class()(
        name="computeperf",
        params=list(faust_cli.params),
        callback=faust_cli.callback,
        commands=dict(faust_cli.commands),
        help=HELP,
    )
    for command in (
        simulate,
        detect,
        bench_group,
        evaluate_group,
        run_command,
        replay_command,
        report_command,
        click.command("topics")(topics_command),
        scheduler_command,
        rules_group,
        alerts_group,
    ):
        root.add_command(command)
    return root


def wait_for_role_lease(settings: Settings) -> None:
    """A worker of a single-instance role starts only as its active instance (a standby
    waits here until the active one stops: streams/lease.py)."""
    from streams.lease import hold_lease, needs_lease
    from streams.topics import ensure_topics

    if needs_lease(settings):
        asyncio.run(ensure_topics(settings))
        hold_lease(settings, announce=lambda text: print(text, flush=True))


def main() -> None:
    """Entry point of the ``computeperf`` console script (what Faust's ``app.main()`` does).

    ``detect`` runs without Faust: it starts once per exported file (58 times for NAB),
    and importing Faust, the app and its settings costs about 2.5 s, the detector a tenth.
    """
    if sys.argv[1:2] == ["detect"]:
        from cli.detect import detect

        detect.main(sys.argv[2:], prog_name="computeperf detect")
        return
    from streams.app import create_app

    settings = Settings()
    if sys.argv[1:2] == ["worker"]:
        wait_for_role_lease(settings)
    app: Any = create_app(settings)
    app.finalize()
    app.worker_init()
    app.worker_init_post_autodiscover()
    build_cli()(app=app)
