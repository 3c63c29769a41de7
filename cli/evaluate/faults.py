"""``computeperf evaluate faults``: broker and worker SIGKILLs and hostile input on a
temporary 3-node cluster, with the figures of issue 17.

A plain click command; ``cli/main.py`` attaches it to the ``evaluate`` group. The runs
are :mod:`bench.faults`, the figures and targets :mod:`evaluation.faults`. A line per
run goes to stderr (a progress bar too when it is a terminal); ``--json`` prints one JSON
document on stdout. The exit code is 1 when a target is missed; the run's folder (worker
logs) is then kept and named on stderr.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

import click

from cli.evaluate import finite_or_none

__all__ = ["faults_command"]


@click.command("faults")
@click.option("--seed", type=int, default=17, show_default=True, help="Kill moments, fuzz.")
@click.option("--worker-kills", type=click.IntRange(min=1), default=5, show_default=True)
@click.option("--fuzz-records", type=click.IntRange(min=1), default=10_000, show_default=True)
@click.option(
    "--valid-records",
    type=click.IntRange(min=1),
    default=10_000,
    show_default=True,
    help="Valid records mixed with the fuzzed ones.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def faults_command(
    seed: int, worker_kills: int, fuzz_records: int, valid_records: int, as_json: bool
) -> None:
    """Broker leader and worker SIGKILLs and fuzzed input: windows, alerts, records lost."""
    from bench.faults import STAGES, run_faults
    from streams.progress import terminal_progress

    data_dir = Path(tempfile.mkdtemp(prefix="computeperf-faults-"))
    click.echo(
        f"3-node cluster, a broker kill, {worker_kills} worker kills, {fuzz_records} fuzzed "
        f"records among {valid_records} valid ones (in {data_dir}) ...",
        err=True,
    )
    started = time.monotonic()
    with terminal_progress("evaluate faults", total=STAGES) as advance:
        figures = run_faults(
            data_dir,
            seed=seed,
            kills=worker_kills,
            fuzz_bad=fuzz_records,
            fuzz_valid=valid_records,
            advance=advance,
            say=lambda line: click.echo(line, err=True),
        )
    result = figures.as_dict()
    result["duration_s"] = round(time.monotonic() - started, 1)
    missed = result["targets_missed"]
    if missed:
        click.echo(f"targets missed: {missed}; logs kept in {data_dir}", err=True)
    else:
        shutil.rmtree(data_dir, ignore_errors=True)
    if as_json:
        click.echo(json.dumps(finite_or_none(result)))
    else:
        for name, value in result.items():
            click.echo(f"{name:28s} {value}")
    if missed:
        raise SystemExit(1)
