"""``computeperf simulate``: run the marketplace simulator against Kafka.

Realtime mode (default) starts event time at the current wall-clock time and sends
each record when its time comes, until ``--duration-s`` elapses or Ctrl-C. Backfill
mode (``--backfill``) generates history starting at ``--start`` (default: now minus
the duration) and sends it as fast as the broker accepts it.

Incidents are injected with ``--incident KIND:PROVIDER_INDEX:START_OFFSET_S:DURATION_S``
(optionally ``:SEVERITY``), offsets relative to the run start, and/or drawn at random
with ``--random-incidents N``. ``--json`` prints a one-line summary with the ground
truth on stdout at the end; progress goes to stderr.

>>> parse_incident("thermal_throttling:2:60:300")
IncidentArg(kind=<IncidentKind.THERMAL_THROTTLING: 'thermal_throttling'>, provider_index=2, start_offset_s=60.0, duration_s=300.0, severity=1.0)
"""  # noqa: E501

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import partial
from typing import NamedTuple

import click

from config.settings import Settings
from schemas.times import parse_time_ms
from sim.demo import DemoScenario, demo_scenario
from sim.incidents import Incident, IncidentKind
from sim.marketplace import MarketplaceSim, SimRecord
from streams.publish import Producer, default_producer, publish

__all__ = ["IncidentArg", "parse_incident", "simulate"]

_PROGRESS_EVERY_S = 5.0


class IncidentArg(NamedTuple):
    """A parsed ``--incident`` value (provider by index, times relative to the start).

    Examples
    --------
    >>> a = parse_incident("price_spike:0:10:20:0.5")
    >>> a.resolve("prov-000", 1_700_000_000_000).to_dict()["end_ms"]
    1700000030000
    """

    kind: IncidentKind
    provider_index: int
    start_offset_s: float
    duration_s: float
    severity: float

    def resolve(self, provider_id: str, run_start_ms: int) -> Incident:
        """The absolute :class:`Incident` for a run starting at ``run_start_ms``."""
        start = run_start_ms + round(self.start_offset_s * 1000)
        return Incident(
            self.kind, provider_id, start, start + round(self.duration_s * 1000), self.severity
        )


def parse_incident(text: str) -> IncidentArg:
    """Parse ``KIND:PROVIDER_INDEX:START_OFFSET_S:DURATION_S[:SEVERITY]``.

    Raises ``ValueError`` with a readable message on bad input.

    Examples
    --------
    >>> parse_incident("provider_outage:1:0:30").severity
    1.0
    >>> parse_incident("meltdown:1:0:30")
    Traceback (most recent call last):
    ...
    ValueError: unknown incident kind 'meltdown'; choose from thermal_throttling, network_degradation, provider_outage, noisy_neighbour, memory_creep, price_spike
    """  # noqa: E501
    parts = text.split(":")
    if len(parts) not in (4, 5):
        raise ValueError(
            f"expected KIND:PROVIDER_INDEX:START_OFFSET_S:DURATION_S[:SEVERITY], got {text!r}"
        )
    try:
        kind = IncidentKind(parts[0])
    except ValueError:
        choices = ", ".join(k.value for k in IncidentKind)
        raise ValueError(f"unknown incident kind {parts[0]!r}; choose from {choices}") from None
    try:
        index = int(parts[1])
        offset = float(parts[2])
        duration = float(parts[3])
        severity = float(parts[4]) if len(parts) == 5 else 1.0
    except ValueError:
        raise ValueError(f"non-numeric field in incident {text!r}") from None
    if index < 0:
        raise ValueError(f"provider index must be >= 0 in {text!r}")
    if not offset >= 0:
        raise ValueError(f"start offset must be >= 0 s in {text!r}")
    if not duration > 0:
        raise ValueError(f"duration must be > 0 s in {text!r}")
    if not 0 < severity <= 1:
        raise ValueError(f"severity must be in (0, 1] in {text!r}")
    return IncidentArg(kind, index, offset, duration, severity)


def _iso(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).isoformat(timespec="milliseconds")


class _Progress:
    """Rate-limited progress line on stderr (every few seconds, not per batch)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.t0 = self.last = time.monotonic()

    def __call__(self, sent: int) -> None:
        now = time.monotonic()
        if self.enabled and now - self.last >= _PROGRESS_EVERY_S:
            self.last = now
            rate = sent / max(now - self.t0, 1e-9)
            click.echo(f"simulate: {sent} records sent ({rate:,.0f}/s)", err=True)


@click.command("simulate")
@click.option("--seed", type=click.IntRange(min=0), default=1, show_default=True)
@click.option("--providers", type=click.IntRange(min=1), default=12, show_default=True)
@click.option("--workloads", type=click.IntRange(min=0), default=24, show_default=True)
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True, max=1000),
    default=1.0,
    show_default=True,
    help="Samples per second per provider and per workload.",
)
@click.option(
    "--duration-s",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Event-time length of the run (realtime default: until Ctrl-C).",
)
@click.option("--backfill", is_flag=True, help="Historical mode: send as fast as possible.")
@click.option(
    "--start",
    "start_text",
    default=None,
    metavar="ISO-8601",
    help="Backfill start time (UTC if no offset); default now minus --duration-s.",
)
@click.option(
    "--incident",
    "incident_texts",
    multiple=True,
    metavar="KIND:PROVIDER_INDEX:START_OFFSET_S:DURATION_S[:SEVERITY]",
    help="Inject an incident (repeatable). Kinds: "
    + ", ".join(k.value for k in IncidentKind)
    + ".",
)
@click.option("--random-incidents", type=click.IntRange(min=0), default=0, show_default=True)
@click.option(
    "--id-prefix",
    default="",
    help="Prefix for provider/workload/tenant ids, to keep runs apart on shared topics.",
)
@click.option(
    "--demo",
    is_flag=True,
    help="The scripted demo of `computeperf run` (sim/demo.py): 30 min of history, then "
    "thermal, noisy-neighbour and degrading-provider incidents and arrivals in minutes.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a one-line JSON summary.")
@click.option("--quiet", is_flag=True, help="No progress lines on stderr.")
def simulate(
    seed: int,
    providers: int,
    workloads: int,
    rate: float,
    duration_s: float | None,
    backfill: bool,
    start_text: str | None,
    incident_texts: tuple[str, ...],
    random_incidents: int,
    id_prefix: str,
    demo: bool,
    as_json: bool,
    quiet: bool,
) -> None:
    """Simulate a GPU marketplace and produce its telemetry to Kafka."""
    if demo and (backfill or incident_texts or random_incidents):
        raise click.UsageError("--demo scripts its own incidents, in real time")
    _run(
        seed=seed,
        providers=providers,
        workloads=workloads,
        rate=rate,
        duration_s=duration_s,
        backfill=backfill,
        start_text=start_text,
        incident_texts=incident_texts,
        random_incidents=random_incidents,
        id_prefix=id_prefix,
        demo=demo,
        as_json=as_json,
        quiet=quiet,
    )


def _time_range(
    backfill: bool, start_text: str | None, duration_ms: int | None, now: int
) -> tuple[int, int | None]:
    """``(start_ms, end_ms)`` of the run; ``end_ms`` None runs until stopped."""
    if backfill:
        if start_text is not None:
            try:
                start_ms = parse_time_ms(start_text)
            except ValueError as exc:
                raise click.BadParameter(str(exc), param_hint="--start") from None
            end_ms: int | None = start_ms + duration_ms if duration_ms is not None else now
        elif duration_ms is not None:
            start_ms, end_ms = now - duration_ms, now
        else:
            raise click.UsageError("--backfill needs --duration-s and/or --start")
        if end_ms is not None and end_ms <= start_ms:
            raise click.UsageError("the backfill window is empty (start is not before its end)")
        if end_ms is not None and end_ms > now:
            click.echo(
                "simulate: warning: backfill reaches into the future; consumers may reject "
                "records dated after their max-future limit",
                err=True,
            )
    else:
        if start_text is not None:
            raise click.UsageError("--start is only valid with --backfill")
        start_ms = now
        end_ms = start_ms + duration_ms if duration_ms is not None else None
    return start_ms, end_ms


def _publish_until_stopped(
    records: Iterable[SimRecord],
    *,
    settings: Settings,
    realtime: bool,
    progress: _Progress,
    counts: dict[str, int],
    producer_factory: Callable[[Settings], Producer],
    send_at_ms: Callable[[int], int] | None,
) -> tuple[int, bool]:
    """Publish until the records end or Ctrl-C/SIGTERM; ``(records sent, interrupted)``."""
    stop_event: list[asyncio.Event] = []

    async def main() -> int:
        stop = asyncio.Event()
        stop_event.append(stop)
        loop = asyncio.get_running_loop()

        def on_signal() -> None:
            # First Ctrl-C: stop gracefully (deliver, summarise); a second one falls back
            # to the default handler and interrupts hard.
            stop.set()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

        for sig in (signal.SIGINT, signal.SIGTERM):
            # Not available on every platform/thread; Ctrl-C then interrupts hard.
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, on_signal)
        return await publish(
            records,
            settings=settings,
            realtime=realtime,
            progress=progress,
            stop=stop,
            topic_counts=counts,
            # Looked up at call time so tests can swap in an in-memory producer.
            producer_factory=producer_factory,
            send_at_ms=send_at_ms,
        )

    try:
        sent = asyncio.run(main())
        return sent, bool(stop_event and stop_event[0].is_set())
    except KeyboardInterrupt:
        return sum(counts.values()), True
    except Exception as exc:  # broker unreachable, delivery failure, ...
        raise click.ClickException(f"publishing failed: {type(exc).__name__}: {exc}") from exc


def _run(
    *,
    seed: int,
    providers: int,
    workloads: int,
    rate: float,
    duration_s: float | None,
    backfill: bool,
    start_text: str | None,
    incident_texts: tuple[str, ...],
    random_incidents: int,
    id_prefix: str,
    as_json: bool,
    quiet: bool,
    demo: bool = False,
    producer_factory: Callable[[Settings], Producer] | None = None,
    now_ms: int | None = None,
) -> None:
    settings = Settings()
    now = now_ms if now_ms is not None else time.time_ns() // 1_000_000
    interval_ms = max(1, round(1000.0 / rate))
    duration_ms = round(duration_s * 1000) if duration_s is not None else None
    start_ms, end_ms = _time_range(backfill, start_text, duration_ms, now)

    try:
        args = [parse_incident(text) for text in incident_texts]
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--incident") from None
    base = MarketplaceSim(seed, providers, workloads, interval_ms, id_prefix=id_prefix)
    try:
        explicit = [a.resolve(base.provider_id(a.provider_index), start_ms) for a in args]
    except IndexError as exc:
        raise click.BadParameter(str(exc), param_hint="--incident") from None
    sim = MarketplaceSim(
        seed,
        providers,
        workloads,
        interval_ms,
        incidents=explicit,
        random_incidents=random_incidents,
        id_prefix=id_prefix,
    )
    records = sim.records(start_ms, end_ms)  # draws the random incidents too
    scenario: DemoScenario | None = None
    if demo:
        try:
            scenario = demo_scenario(
                seed=seed,
                providers=providers,
                workloads=workloads,
                now_ms=now,
                interval_ms=interval_ms,
                id_prefix=id_prefix,
            )
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--providers") from None
        sim, start_ms = scenario.sim, scenario.start_ms
        records = scenario.records(end_ms)
    mode = "backfill" if backfill else "realtime"
    if not quiet:
        until = _iso(end_ms) if end_ms is not None else "Ctrl-C"
        click.echo(
            f"simulate: {mode}, seed {seed}, {providers} providers, {workloads} workloads, "
            f"every {interval_ms} ms from {_iso(start_ms)} until {until}, "
            f"{len(sim.incidents)} incident(s), brokers {settings.kafka_bootstrap_servers}",
            err=True,
        )

    counts: dict[str, int] = {}
    sent, interrupted = _publish_until_stopped(
        records,
        settings=settings,
        realtime=not backfill,
        progress=_Progress(enabled=not quiet),
        counts=counts,
        producer_factory=producer_factory or default_producer,
        send_at_ms=None if scenario is None else partial(scenario.send_at_ms, started_ms=now),
    )

    summary = {
        "mode": mode,
        "seed": seed,
        "providers": providers,
        "workloads": workloads,
        "interval_ms": interval_ms,
        "start_ms": start_ms,
        "end_ms": end_ms,
        "records_sent": sent,
        "records_by_topic": dict(sorted(counts.items())),
        "interrupted": interrupted,
        "incidents": [
            {**inc.to_dict(), "start": _iso(inc.start_ms), "end": _iso(inc.end_ms)}
            for inc in sim.incidents
        ],
    }
    if as_json:
        click.echo(json.dumps(summary, separators=(",", ":")))
    elif not quiet:
        click.echo(
            f"simulate: sent {sent} records"
            + (" (interrupted)" if interrupted else "")
            + ": "
            + ", ".join(f"{t}={n}" for t, n in sorted(counts.items())),
            err=True,
        )
        for inc in sim.incidents:
            click.echo(
                f"simulate: incident {inc.kind.value} on {inc.provider_id} "
                f"{_iso(inc.start_ms)} .. {_iso(inc.end_ms)} severity {inc.severity}",
                err=True,
            )
    sys.stdout.flush()
