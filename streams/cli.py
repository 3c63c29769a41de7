"""The ``computeperf`` command: Faust's click CLI (``worker``, ``tables``, ...) plus ours.

Our commands: ``simulate`` (the marketplace simulator), ``detect`` (score a CSV series
from stdin), ``bench pipeline`` (throughput and
latency against a raw aiokafka passthrough), ``evaluate placement|prediction`` (optimizer
and predictor figures), ``run`` (broker + worker + simulator on this machine), ``topics``
(create the topic registry's topics), ``replay`` (historical telemetry through the
pipeline into a namespace), ``report`` (the daily/weekly performance report). Settings come from the
environment (``COMPUTEPERF_*``, ``KAFKA_BOOTSTRAP_SERVERS``); see streams/settings.py.
"""

from __future__ import annotations

import asyncio
import json

import click
from faust.cli.faust import cli

from streams.app import create_app
from streams.settings import Settings
from streams.topics import ensure_topics


@click.command("topics")
def topics_command() -> None:
    """Create every topic of the registry that does not exist yet."""
    created = asyncio.run(ensure_topics(Settings()))
    click.echo(json.dumps({"created": created}))


def main() -> None:
    """Entry point of the ``computeperf`` console script."""
    from bench.analysis import analysis_bench_command
    from bench.pipeline import bench_group
    from sim.cli import simulate
    from streams.alerts_cli import alerts_command, alerts_group
    from streams.closed_loop_cli import closed_loop_command
    from streams.detect_cli import detect
    from streams.detection_cli import detection_bench_command, detection_command
    from streams.evaluate_cli import evaluate_group
    from streams.forecast_cli import forecast_command
    from streams.insights_cli import insights_command
    from streams.replay import replay_command
    from streams.report_cli import report_command
    from streams.rules_cli import rules_group
    from streams.run import run_command
    from streams.scheduler_cli import scheduler_command

    evaluate_group.add_command(detection_command)  # computeperf evaluate detection
    bench_group.add_command(detection_bench_command)  # computeperf bench detection
    evaluate_group.add_command(alerts_command)  # computeperf evaluate alerts
    cli.add_command(rules_group)  # computeperf rules export
    cli.add_command(alerts_group)  # computeperf alerts history
    evaluate_group.add_command(insights_command)  # computeperf evaluate insights
    bench_group.add_command(analysis_bench_command)  # computeperf bench analysis
    evaluate_group.add_command(forecast_command)  # computeperf evaluate forecast
    evaluate_group.add_command(closed_loop_command)  # computeperf evaluate closed-loop

    for command in (
        simulate,
        detect,
        bench_group,
        evaluate_group,
        run_command,
        replay_command,
        report_command,
        topics_command,
        scheduler_command,  # computeperf scheduler (the reference scheduler)
    ):
        cli.add_command(command)
    create_app(Settings()).main()
