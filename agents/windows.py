"""Agent: aggregate telemetry into event-time tumbling windows on ``perf.metrics``.

Per batch of raw events (``stream.take_events``, so a busy key costs one changelog write per
batch, not per sample): decode and validate each record (failures go to ``perf.dlq``
with their reason), offer it to its key's :class:`~models.windows.SeriesWindows`, advance
the partition's watermark, dead-letter late samples, persist touched series, then close
every window the watermark passed — for *all* keys of the partition, so idle keys close
too — and emit them durably before their removal from the state is written.

A partition that receives nothing for ``idle_close_s`` has its watermark advanced with the
wall clock (a processing-time fallback, like Flink's idleness), so the last windows of a
stream that stops still close.

State: table ``<entity>_to_window_state`` keyed by entity id (UTF-8 keys, so the changelog
is co-partitioned with the source topic), value :meth:`SeriesWindows.to_state` as JSON, plus
one record per partition with its watermark (``WATERMARK_KEY``), written once the states it
depends on are durable and recovered with them after a crash.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import faust
from faust.types import EventT, StreamT, TableT, TopicT

from agents.free_memory import release_free_memory
from agents.outputs import (
    dead_letter,
    delete_durably,
    persist_durably,
    send_dead_letters,
    send_durably,
)
from config.metrics import PipelineMetrics, observe_many
from config.settings import Settings
from models.summaries import summarize_window
from models.windows import (
    NO_WATERMARK,
    Outcome,
    SeriesWindows,
    TumblingWindows,
    Watermark,
    WindowAccumulator,
    batch_is_tame,
    recovered_watermark,
)
from schemas import DeadLetter, DecodeError, EntityType, MetricWindow, Record, decode

log = logging.getLogger(__name__)

#: Called after a partition's windows up to a watermark were emitted, with
#: ``(partition, watermark, [(entity id, window start, window sketches), ...])``; the list
#: may be empty (nothing was open below the watermark).
#: Asked for the end offsets of some partitions of the source topic (partition → offset).
EndOffsets = Callable[[list[int]], Awaitable[Mapping[int, int]]]

ClosedWindowsHook = Callable[[int, int, list[tuple[str, int, WindowAccumulator]]], Awaitable[None]]


@dataclass
class PartitionState:
    """What a worker keeps in memory for one assigned source partition."""

    watermark: Watermark = field(default_factory=Watermark)
    open_keys: set[str] = field(default_factory=set)
    last_arrival_s: float = field(default_factory=time.monotonic)
    last_offset: int = -1
    #: When the broker first confirmed that nothing past ``last_offset`` exists, since the
    #: last arrival (monotonic s); ``None`` until then, and again after any failed check.
    confirmed_quiet_s: float | None = None
    #: The watermark last written to the table (the partition's record, below).
    durable_watermark_ms: int = NO_WATERMARK


#: Table key of a partition's watermark record (``{"p": partition, "watermark_ms": ...}``),
#: written once the states it depends on are durable; not an entity id (those are text).
WATERMARK_KEY = "\x00watermark/{}"

#: A partition without a record for this long has its end offset checked each tick.
QUIET_CHECK_AFTER_S = 1.0


class WindowAggregator:
    """Runtime of one windowing agent (one source topic, one entity type)."""

    def __init__(
        self,
        *,
        settings: Settings,
        metrics: PipelineMetrics,
        source_name: str,
        record_type: type[Record],
        entity_type: EntityType,
        entity_of: Callable[[Any], str],
        values_of: Callable[[Any], Mapping[str, float | None]],
        table: TableT[Any, Any],
        metrics_topic: TopicT,
        dlq_topic: TopicT,
        summarize: Callable[
            [EntityType, str, int, int, WindowAccumulator], MetricWindow
        ] = summarize_window,
        on_closed: ClosedWindowsHook | None = None,
    ) -> None:
        self.settings = settings
        # Optional seams for a stage that needs more than the summary (the analysis role
        # fills KPIs and analyses the sketches themselves); the defaults change nothing.
        self.summarize = summarize
        self.on_closed = on_closed
        self.metrics = metrics
        self.source_name = source_name
        self.record_type = record_type
        self.entity_type = entity_type
        self.entity_of = entity_of
        self.values_of = values_of
        self.table = table
        self.metrics_topic = metrics_topic
        self.dlq_topic = dlq_topic
        self.windows = TumblingWindows(settings.window_ms, settings.grace_ms)
        self.series: dict[str, SeriesWindows] = {}
        #: When each key of ``series`` last had a sample (monotonic seconds; a key rebuilt
        #: from the table counts as seen then), for :meth:`evict_idle`.
        self.last_seen_s: dict[str, float] = {}
        self.next_eviction_s = 0.0
        self.next_trim_s = 0.0
        self.partitions: dict[int, PartitionState] = {}
        # The agent and the idle timer both close windows; they take turns.
        self.lock = asyncio.Lock()

    # -- state -------------------------------------------------------------------------

    def forget_partitions(self, partitions: set[int]) -> None:
        """Drop cached state of revoked partitions; it is rebuilt from the table on reuse."""
        for p in partitions:
            self.partitions.pop(p, None)
        self.series = {k: s for k, s in self.series.items() if s.partition not in partitions}
        self.last_seen_s = {k: t for k, t in self.last_seen_s.items() if k in self.series}

    async def adopt_partitions(self, partitions: Iterable[int]) -> None:
        """Take over recovered partitions: rebuild them and close what their watermark passed.

        Called after table recovery. A worker that inherits a partition whose input was
        all consumed already (offsets committed) would otherwise never look at it again,
        and the windows left open in its state would never close.
        """
        for p in partitions:
            if p not in self.partitions:
                self._partition(p)
                await self.close_partition(p)

    def _partition(self, p: int) -> PartitionState:
        part = self.partitions.get(p)
        if part is None:
            # First use since assignment: rebuild the index and the watermark from the
            # recovered table (the partition's watermark record and its keys' states).
            part = self.partitions[p] = PartitionState()
            recovered: list[SeriesWindows] = []
            for key, state in self.table.items():
                if state is None or state.get("p") != p:
                    continue
                if key == WATERMARK_KEY.format(p):
                    part.durable_watermark_ms = state["watermark_ms"]
                    continue
                series = self.series[key] = SeriesWindows.from_state(state)
                self.last_seen_s[key] = time.monotonic()
                recovered.append(series)
                if series.windows:
                    part.open_keys.add(key)
            # The durable watermark, not the newest event time less grace: a crash can
            # leave some keys of a batch written and others not.
            part.watermark = recovered_watermark(
                recovered, part.durable_watermark_ms, self.settings.grace_ms
            )
        return part

    def _series(self, key: str, p: int) -> SeriesWindows:
        series = self.series.get(key)
        if series is None:
            series = self.series[key] = SeriesWindows(partition=p)
        return series

    async def _persist(
        self, keys: Iterable[str], watermarks: Iterable[tuple[PartitionState, int, int]] = ()
    ) -> None:
        """Write the states of ``keys`` and, per ``(part, p, wm)``, partition ``p``'s watermark.

        A watermark may only be written once every state it depends on is durable (the
        batch's states first, then, in close_partition, the watermark), so that a restart
        never starts ahead of a key whose last write was lost.
        """
        items = [(key, self.series[key].to_state(), self.series[key].partition) for key in keys]
        moved = [(part, p, wm) for part, p, wm in watermarks if wm > part.durable_watermark_ms]
        items += [(WATERMARK_KEY.format(p), {"p": p, "watermark_ms": wm}, p) for _, p, wm in moved]
        await persist_durably(self.table, items)
        for part, _, wm in moved:
            part.durable_watermark_ms = max(part.durable_watermark_ms, wm)

    # -- processing --------------------------------------------------------------------

    def _offer(
        self,
        msg: Any,
        now_ms: int,
        touched: set[str],
        advanced: set[int],
        decoded: Any,
        values: Mapping[str, float | None] | None = None,
        pending: dict[int, tuple[WindowAccumulator, list[Mapping[str, float | None]]]]
        | None = None,
    ) -> DeadLetter | None:
        """Offer one decoded record to its series; return a dead letter if unusable.

        ``decoded`` is the record or its :class:`DecodeError`. With ``pending`` (a batch
        :func:`batch_is_tame` cleared), an accepted sample's values are queued per window
        for one :meth:`WindowAccumulator.add_many` after the batch instead of added now.
        """
        if isinstance(decoded, DecodeError):
            return dead_letter(msg, decoded.reason, decoded.error_type)
        p = msg.partition
        part = self.partitions[p]
        sample = decoded
        key = self.entity_of(sample)
        series = self._series(key, p)
        self.last_seen_s[key] = time.monotonic()
        if series.partition != p:
            # The topic was repartitioned: offsets of the old partition mean nothing here.
            series.partition, series.last_offset = p, -1
        before = part.watermark.value_ms
        if values is None:
            values = self.values_of(sample)
        if pending is None:
            outcome = self.windows.add(
                series,
                ts_ms=sample.ts_ms,
                seq=sample.seq,
                values=values,
                watermark_ms=before,
                offset=msg.offset,
            )
        else:
            outcome, acc = self.windows.admit(
                series, ts_ms=sample.ts_ms, seq=sample.seq, watermark_ms=before, offset=msg.offset
            )
            if acc is not None:
                pending.setdefault(id(acc), (acc, []))[1].append(values)
        grace_ms = self.settings.grace_ms
        # Event time as far as the watermark may follow it (the skew policy): a provider
        # whose clock runs ahead keeps its own samples, in windows that close once the
        # worker's clock gets there, but does not drag its partition's watermark and so
        # make its neighbours' samples late.
        horizon_ms = now_ms + self.settings.watermark_max_lead_ms
        if outcome is Outcome.ACCEPTED:
            touched.add(key)
            part.open_keys.add(key)
            if series.last_ts_ms > horizon_ms:
                self.metrics.ahead_samples.labels(topic=self.source_name).inc()
            seen_ms = min(series.last_ts_ms, horizon_ms)
            part.watermark.advance(seen_ms, grace_ms)
            if part.watermark.catch_up(seen_ms, grace_ms) > before:
                advanced.add(p)
            return None
        if outcome is Outcome.UNREPRESENTABLE:
            acc = series.windows.get(self.windows.start_of(sample.ts_ms))
            why = (acc or WindowAccumulator()).unrepresentable(values)
            return dead_letter(msg, f"out of range: {why}", "range")
        if outcome is Outcome.LATE:
            self.metrics.late_samples.labels(topic=self.source_name).inc()
            end = self.windows.start_of(sample.ts_ms) + self.windows.window_ms
            reason = f"late: window ending {end} already closed (watermark {before})"
            return dead_letter(msg, reason, "late")
        self.metrics.duplicates.labels(topic=self.source_name).inc()
        # A replayed record moves a recovered watermark up as it did the first time.
        seen_ms = min(sample.ts_ms, horizon_ms)
        if part.watermark.catch_up(seen_ms, grace_ms) > before:
            advanced.add(p)
        return None

    async def process(self, events: list[EventT[Any]]) -> None:
        """Process one batch of raw events end to end."""
        started = time.monotonic()
        now_ms = int(time.time() * 1000)
        letters: list[DeadLetter] = []
        touched: set[str] = set()
        advanced: set[int] = set()
        messages = [event.message for event in events]
        for msg in messages:
            self._partition(msg.partition)
        decoded, rows, pending = self._decode_batch(messages, now_ms)
        for i, msg in enumerate(messages):
            part = self.partitions[msg.partition]
            part.last_arrival_s = started
            part.last_offset = msg.offset
            part.confirmed_quiet_s = None
            try:
                letter = self._offer(msg, now_ms, touched, advanced, decoded[i], rows[i], pending)
            except Exception as exc:
                # A bug must neither kill the agent (faust#175) nor lose the record.
                log.exception("cannot process %s[%d]@%d", msg.topic, msg.partition, msg.offset)
                letter = dead_letter(msg, f"internal error: {exc!r}", "internal")
            if letter is not None:
                letters.append(letter)
        for acc, queued in (pending or {}).values():
            acc.add_many(queued)
        self.metrics.events_in.labels(topic=self.source_name).inc(len(events))
        await send_dead_letters(self.dlq_topic, letters, self.metrics, self.source_name)
        await self._persist(touched)
        # Partitions whose watermark moved without closing a window: their watermark
        # records go in one write after the loop (one round trip per batch, not one per
        # partition: it is on the latency path).
        moved: list[tuple[PartitionState, int, int]] = []
        for p in sorted(advanced):
            await self.close_partition(p, moved)
        if moved:
            await self._persist([], moved)
        elapsed = time.monotonic() - started
        hist = self.metrics.processing_latency.labels(topic=self.source_name)
        observe_many(hist, elapsed, len(events))

    def _decode_batch(
        self, messages: list[Any], now_ms: int
    ) -> tuple[
        list[Any],
        list[Mapping[str, float | None] | None],
        dict[int, tuple[WindowAccumulator, list[Mapping[str, float | None]]]] | None,
    ]:
        """Decode a batch; say whether its window updates may be deferred.

        Returns each message's record (or :class:`DecodeError`), each record's values
        (``None`` for a bad record) and, when :func:`batch_is_tame` clears the batch, an
        empty queue of per-window updates for :meth:`_offer` (``None``: add per sample,
        the exact path for values near the float limit).
        """
        # One validation per record: a list TypeAdapter over the joined batch or orjson
        # plus one validate_python measured no faster here (the validators are the
        # cost, not the calls), so records are decoded as before, each with its reason.
        decoded: list[Any] = []
        for msg in messages:
            try:
                decoded.append(
                    decode(
                        self.record_type,
                        msg.value or b"",
                        now_ms=now_ms,
                        max_future_ms=self.settings.max_future_ms,
                    )
                )
            except DecodeError as exc:
                decoded.append(exc)
        rows: list[Mapping[str, float | None] | None] = []
        keys: set[str] = set()
        try:
            for record in decoded:
                if isinstance(record, DecodeError):
                    rows.append(None)
                    continue
                rows.append(self.values_of(record))
                keys.add(self.entity_of(record))
        except Exception:
            # A record the per-sample path must handle (and dead-letter) itself.
            return decoded, [None] * len(decoded), None
        open_windows = (
            acc for key in keys if key in self.series for acc in self.series[key].windows.values()
        )
        good = [row for row in rows if row is not None]
        if not batch_is_tame(good, open_windows):
            return decoded, rows, None
        return decoded, rows, {}

    async def close_partition(
        self, p: int, moved: list[tuple[PartitionState, int, int]] | None = None
    ) -> int:
        """Emit and forget every window of partition ``p`` that its watermark passed.

        When none is ready, the watermark record is written now or, given ``moved``,
        appended to it for the caller to write (after this batch's states, as required).
        """
        part = self.partitions.get(p)
        if part is None:
            return 0
        wm = part.watermark.value_ms
        out: list[tuple[str, MetricWindow]] = []
        closed: list[tuple[str, int, WindowAccumulator]] = []
        ready: dict[str, list[int]] = {}
        failed: list[DeadLetter] = []
        for key in sorted(part.open_keys):
            series = self.series[key]
            starts = ready[key] = self.windows.ready(series, watermark_ms=wm)
            for start in starts:
                acc = series.windows[start]
                try:
                    window = self.summarize(
                        self.entity_type, key, start, self.windows.window_ms, acc
                    )
                except Exception as exc:
                    # One window that cannot be summarised (a state written before its
                    # samples were checked, a bug) must not stop the partition: it goes,
                    # with its sketches, to the dead letters, and is forgotten like the rest.
                    log.exception("cannot summarise window %s of %s", start, key)
                    failed.append(self._window_letter(p, key, start, acc, exc))
                    continue
                out.append((f"{self.entity_type.value}:{key}", window))
                closed.append((key, start, acc))
        await send_dead_letters(self.dlq_topic, failed, self.metrics, self.source_name)
        if not out and not failed:
            await self._notify_closed(p, wm, closed)
            if moved is None:
                await self._persist([], [(part, p, wm)])
            else:
                moved.append((part, p, wm))
            return 0
        # In event-time order across keys (not key by key), so consumers that keep a
        # partition clock - absence rules - see time advance as it did, however many
        # windows one batch closes.
        out.sort(key=lambda item: item[1].window_start_ms)
        # Outputs first, then the state that forgets them: a crash (or an error) in between
        # re-emits a window (same key, same content), it never loses one.
        await send_durably(self.metrics_topic, out, self.metrics, "perf.metrics")
        self.metrics.windows_emitted.labels(entity_type=self.entity_type.value).inc(len(out))
        await self._notify_closed(p, wm, closed)
        changed = [key for key, starts in ready.items() if starts]
        for key in changed:
            series = self.series[key]
            # Same watermark as above, so this forgets exactly the windows just emitted.
            self.windows.close(series, watermark_ms=wm)
            if not series.windows:
                part.open_keys.discard(key)
        await self._persist(changed, [(part, p, wm)])
        return len(out)

    def _window_letter(
        self, p: int, key: str, start: int, acc: WindowAccumulator, exc: Exception
    ) -> DeadLetter:
        """The dead letter of a closed window that could not be summarised."""
        return DeadLetter.wrap(
            source_topic=self.settings.topic(self.source_name),
            partition=p,
            offset=max(self.series[key].last_offset, 0),
            ts_ms=int(time.time() * 1000),
            key=key.encode(),
            value=json.dumps({"window_start_ms": start, "state": acc.to_state()}).encode(),
            reason=f"window {start} of {key} cannot be summarised: {exc!r}",
            error_type="window",
        )

    async def _notify_closed(
        self, p: int, wm: int, closed: list[tuple[str, int, WindowAccumulator]]
    ) -> None:
        if self.on_closed is None:
            return
        try:
            await self.on_closed(p, wm, closed)
        except Exception:
            # A downstream consumer of the sketches must not stop the windows.
            log.exception("closed-window hook failed for %d windows", len(closed))

    async def close_idle(self, end_offsets: EndOffsets | None = None) -> None:
        """Advance idle partitions' watermarks with the wall clock and close their windows.

        ``end_offsets(partitions)`` asks the broker for the partitions' end offsets. A
        partition's quiet time counts from the broker's *first confirmation* that nothing
        past its last record exists, not from its last record: quiet because the broker is
        down, or because this check could not run (the tick waited 23 s for the lock that
        a batch held while its state write waited for the restarted broker, and the
        samples resent after the restart were then late — issue 17), is not idle. A
        failed check or a lag starts it over. ``None``: no check; quiet counts from the
        last record.
        """
        now = time.monotonic()
        horizon_ms = int(time.time() * 1000) + self.settings.watermark_max_lead_ms
        idle_s = self.settings.idle_close_s
        check_after_s = min(QUIET_CHECK_AFTER_S, idle_s)
        quiet = [
            p
            for p, part in self.partitions.items()
            if now - part.last_arrival_s >= check_after_s
            and part.watermark.max_event_ms != NO_WATERMARK
        ]
        if not quiet:
            return
        if end_offsets is not None:
            await self._confirm_quiet(quiet, end_offsets)
            now = time.monotonic()
        for p in quiet:
            # A rebalance during the check (or a close before) may have revoked it.
            if (part := self.partitions.get(p)) is None:
                continue
            since = part.last_arrival_s if end_offsets is None else part.confirmed_quiet_s
            if since is None or now - since < idle_s:
                continue
            quiet_s = now - since
            # Event time is assumed to go on with the wall clock, but only up to the end of
            # the newest window: that closes everything open, and samples that resume
            # after the pause are late only if they belong to that last window. The newest
            # event time counts only up to the skew horizon, as in _offer (a state
            # recovered after a restart still has a fast clock's times).
            newest = min(part.watermark.max_event_ms, horizon_ms)
            limit = self.windows.start_of(newest) + self.windows.window_ms
            guess = min(newest - self.settings.grace_ms + int(quiet_s * 1000), limit)
            if guess > part.watermark.value_ms:
                part.watermark.value_ms = guess
                await self.close_partition(p)

    async def _confirm_quiet(self, quiet: list[int], end_offsets: EndOffsets) -> None:
        """Start (or keep) the quiet clock of partitions the broker says are at their end."""
        try:
            ends = await end_offsets(quiet)
        except Exception as exc:
            log.info("end offsets unavailable (%r): partitions %s not idle", exc, quiet)
            ends = {}
        confirmed_at = time.monotonic()
        for p in quiet:
            if (part := self.partitions.get(p)) is None:
                continue  # revoked while the broker was asked
            end = ends.get(p)
            if end is None or (part.last_offset >= 0 and end > part.last_offset + 1):
                part.confirmed_quiet_s = None
            elif part.confirmed_quiet_s is None:
                part.confirmed_quiet_s = confirmed_at

    async def evict_idle(self, chunk: int = 5000) -> int:
        """Forget keys without open windows that were idle long enough, or over the bound.

        Their state goes from memory and, by tombstones, from the changelog, so a
        recovery does not bring them back (issue 17: 100,000 provider ids that each sent
        once kept ~21 kB each for good). Nothing accepted is lost: only keys whose windows
        all closed (and were emitted) go. Their replay cursor goes with them, but a
        replayed or resent sample of such a key belongs to a closed window and is late,
        not counted again. Scans at most every 10 s; returns the number evicted.
        """
        now = time.monotonic()
        if now < self.next_eviction_s:
            return 0
        self.next_eviction_s = now + 10.0
        idle_s = self.settings.state_evict_after_s
        quiet = sorted(
            (self.last_seen_s.get(key, now), key)
            for key, series in self.series.items()
            if not series.windows
        )
        over = len(self.series) - self.settings.state_max_keys
        victims = [key for i, (seen, key) in enumerate(quiet) if i < over or now - seen >= idle_s]
        for at in range(0, len(victims), chunk):
            part = victims[at : at + chunk]
            await delete_durably(self.table, [(key, self.series[key].partition) for key in part])
            for key in part:
                del self.series[key]
                self.last_seen_s.pop(key, None)
        if victims:
            self.metrics.evicted_keys.labels(topic=self.source_name).inc(len(victims))
            log.info("evicted %d idle keys of %s", len(victims), self.source_name)
        if len(victims) >= 1000 or (victims and now >= self.next_trim_s):
            # Otherwise the freed memory stays with the process (agents/free_memory.py);
            # with churn, keys go a few at a time: trim at most once a minute for those.
            self.next_trim_s = now + 60.0
            release_free_memory()
        return len(victims)

    def observe_lag(self, highwater: Callable[[int], int | None]) -> None:
        """Export consumer lag and watermark lag per partition, and the keys held."""
        now_ms = time.time() * 1000
        self.metrics.state_keys.labels(topic=self.source_name).set(len(self.series))
        for p, part in self.partitions.items():
            hw = highwater(p)
            if hw is not None and part.last_offset >= 0:
                self.metrics.consumer_lag.labels(topic=self.source_name, partition=str(p)).set(
                    max(0, hw - part.last_offset - 1)
                )
            if part.watermark.value_ms != NO_WATERMARK:
                lag_s = (now_ms - part.watermark.value_ms) / 1000
                self.metrics.watermark_lag.labels(topic=self.source_name, partition=str(p)).set(
                    lag_s if math.isfinite(lag_s) else 0
                )


def register_window_agent(
    app: faust.App,
    aggregator: WindowAggregator,
    source: TopicT,
    name: str,
) -> None:
    """Wire ``aggregator`` to ``source`` as agent ``name`` plus its idle/lag timer."""
    settings = aggregator.settings
    source_name = source.get_topic_name()

    async def aggregate(stream: StreamT[Any]) -> None:
        async for events in stream.take_events(  # type: ignore[attr-defined]
            settings.batch_max, settings.batch_within_s
        ):
            async with aggregator.lock:
                await aggregator.process(list(events))

    aggregate.__name__ = aggregate.__qualname__ = name
    app.agent(source, name=name)(aggregate)

    recovered: list[bool] = []

    async def on_recovered() -> None:
        recovered.append(True)

    aggregator.table.on_recover(on_recovered)

    async def tick() -> None:
        consumer = app.consumer
        assigned = {tp.partition: tp for tp in consumer.assignment() if tp.topic == source_name}

        async def end_offsets(partitions: list[int]) -> Mapping[int, int]:
            tps = [assigned[p] for p in partitions if p in assigned]
            # Bounded: with the broker down the request would wait for its own timeout.
            ends = await asyncio.wait_for(consumer.highwaters(*tps), timeout=5.0)
            return {tp.partition: offset for tp, offset in ends.items()}

        async with aggregator.lock:
            if recovered:
                recovered.clear()
                await aggregator.adopt_partitions(sorted(assigned))
            await aggregator.close_idle(end_offsets)
            await aggregator.evict_idle()

        def highwater(p: int) -> int | None:
            tp = assigned.get(p)
            return consumer.highwater(tp) if tp is not None else None

        aggregator.observe_lag(highwater)

    tick.__name__ = tick.__qualname__ = f"{name}_tick"
    app.timer(1.0, name=f"{name}_tick")(tick)

    async def on_revoked(sender: Any, revoked: set[Any], **kwargs: Any) -> None:
        lost: defaultdict[str, set[int]] = defaultdict(set)
        for tp in revoked:
            lost[tp.topic].add(tp.partition)
        aggregator.forget_partitions(lost.get(source_name, set()))

    app.on_partitions_revoked.connect(on_revoked, weak=False)  # type: ignore[arg-type]
