"""``computeperf scheduler``: the reference scheduler (:mod:`streams.scheduler`) as a process."""

from __future__ import annotations

import asyncio
import logging

import click

from config.settings import Settings
from sim.reference_market import SimulatedMarketplace
from streams.scheduler import run_scheduler

__all__ = ["scheduler_command"]


@click.command("scheduler")
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Seed of the simulated marketplace's hosts.",
)
@click.option("--providers", type=click.IntRange(min=1), default=12, show_default=True)
@click.option(
    "--exit-when-idle-s",
    type=click.FloatRange(min=0.5),
    default=None,
    help="Stop after this long without recommendations (default: run forever).",
)
def scheduler_command(seed: int, providers: int, exit_when_idle_s: float | None) -> None:
    """Apply approved recommendations to the simulated marketplace, exactly once each."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    market = SimulatedMarketplace(seed=seed, providers=providers)
    applied = asyncio.run(run_scheduler(Settings(), market, idle_exit_s=exit_when_idle_s))
    click.echo(f"applied {applied} recommendations", err=True)
