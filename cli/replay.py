"""``computeperf replay``: historical telemetry through the pipeline, in a namespace.

The work is :mod:`streams.replay`; this is the command, its options and its progress.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import click

from config.settings import Settings
from infra.kafka.broker import free_port
from schemas.times import parse_time_ms
from streams.progress import terminal_progress
from streams.replay import copy_history, namespace_settings, plan_copy, wait_until_settled
from streams.topics import ensure_topics
from streams.workers import WorkerProcess

__all__ = ["replay_command"]


def _parse_time(text: str, option: str) -> int:
    try:
        return parse_time_ms(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None


def say(text: str) -> None:
    """A progress line on stderr."""
    click.echo(f"[replay] {text}", err=True)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")


@click.command("replay")
@click.option(
    "--since", "since_text", required=True, help="Start time (ISO 8601; UTC if no offset)."
)
@click.option("--until", "until_text", required=True, help="End time, exclusive.")
@click.option(
    "--speed",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Pace at this multiple of the original rate; 0 = as fast as possible.",
)
@click.option("--into", "name", default=None, help="Namespace name (default replay-<now>).")
@click.option(
    "--agents",
    default=None,
    help="Agents of the replay worker (as COMPUTEPERF_AGENTS; default: this worker's).",
)
@click.option(
    "--logs",
    type=click.Path(path_type=Path),
    default=Path(".cache/replay"),
    show_default=True,
    help="Folder for the replay worker's log.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
def replay_command(
    since_text: str,
    until_text: str,
    speed: float,
    name: str | None,
    agents: str | None,
    logs: Path,
    as_json: bool,
) -> None:
    """Replay live telemetry of [--since, --until) through the pipeline into a namespace."""
    since_ms, until_ms = _parse_time(since_text, "--since"), _parse_time(until_text, "--until")
    if until_ms <= since_ms:
        raise click.BadParameter("must be after --since", param_hint="--until")
    live = Settings()
    name = name or "replay-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    try:
        target = namespace_settings(live, name, web_port=free_port()).model_copy(
            update={"agents": Settings(agents=agents or live.agents).agents}
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    say(
        f"{_iso(since_ms)} .. {_iso(until_ms)} into topics {target.topic('*')}, "
        f"group {target.group_id}"
    )
    plan = asyncio.run(plan_copy(live, since_ms))
    asyncio.run(ensure_topics(target))
    Path(target.data_dir).mkdir(parents=True, exist_ok=True)
    worker = WorkerProcess(target, logs / f"{name}.log")
    say(f"starting a worker ({target.agents}); log {logs / (name + '.log')}")
    worker.start()
    started = time.monotonic()
    try:
        with terminal_progress("[replay] copying", total=plan.upper_bound) as advance:
            copied = asyncio.run(
                copy_history(live, target, plan, until_ms, speed=speed, on_progress=advance)
            )
        say(f"copied {sum(copied.values())} records; waiting for the pipeline to settle ...")
        with terminal_progress("[replay] output records", total=None) as advance:
            outputs = asyncio.run(
                wait_until_settled(
                    target,
                    sum(copied.values()),
                    settle_s=target.idle_close_s + 5,
                    on_outputs=advance,
                )
            )
    finally:
        worker.stop()
    summary = {
        "namespace": name,
        "topic_prefix": target.topic_prefix,
        "group": target.group_id,
        "since": _iso(since_ms),
        "until": _iso(until_ms),
        "copied": copied,
        "outputs": outputs,
        "elapsed_s": round(time.monotonic() - started, 1),
    }
    say(f"done: {json.dumps(outputs)} in {summary['elapsed_s']} s")
    if as_json:
        click.echo(json.dumps(summary, sort_keys=True))
    else:
        click.echo(f"replay {name}: outputs under topic prefix {target.topic_prefix!r}")
