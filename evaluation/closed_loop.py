"""The closed loop: one simulated marketplace day, run once per scheduler, and the verdict.

:func:`run_day` plays a :class:`~sim.market_day.MarketDay` minute by minute: workloads
arrive and wait; every ``tick_ms`` the scheduler sees a :class:`MarketView` and returns
actions, which the marketplace applies if they still fit (a migration costs
``migration_downtime_ms`` without throughput, paid at the target's price); every minute
each running workload realises throughput from the simulator's performance model and
pays its provider's current price; a provider outage evicts its workloads back to the
queue. Both arms share the day, the performance model, the noise and the accounting;
only the scheduler differs.

:func:`evaluate_closed_loop` runs the engine (CP-SAT placement, migrations, approval
workflow with auto policies and rate limits, validation) against cheapest-first and
returns the figures of ``computeperf evaluate closed-loop``, with a third reference arm
that knows the simulator's ground truth (:class:`~evaluation.schedulers.BestValueOracle`).
Pinned on a short, small day (a regression breaks the doctest; the full-day figures are
in docs/architecture.md):

>>> r = evaluate_closed_loop(seed=3, providers=16, hours=4, scenario="uniform")
>>> print(f"perf/$ {r['perf_per_dollar_gain']:+.1%}, "
...       f"SLA-violation minutes {-r['sla_violation_reduction']:+.1%}, "
...       f"oracle perf/$ {r['oracle_perf_per_dollar_gain']:+.1%}")
perf/$ +1.6%, SLA-violation minutes -10.8%, oracle perf/$ +4.0%
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from config.settings import DEFAULT_POLICIES_PATH
from evaluation.schedulers import (
    BestValueOracle,
    CheapestFirstScheduler,
    EngineConfig,
    EngineScheduler,
    GreedyBestFitScheduler,
    HindsightOracle,
)
from sim.market_day import (
    MINUTE_MS,
    DayWorkload,
    MarketDay,
    a100_equivalent,
    generate_day,
    realised_throughput,
)
from sim.market_state import Action, MarketView, Placement
from sim.marketplace import ProviderProfile
from sim.scenario import Scenario, load_scenario
from workflow.policy import PolicyBook

__all__ = ["Scheduler", "evaluate_closed_loop", "run_day"]


class Scheduler(Protocol):
    """What :func:`run_day` needs from a scheduler."""

    name: str

    def observe_provider(self, provider_id: str, clock_factor: float, rtt_factor: float) -> None:
        """Provider telemetry of the tick."""

    def observe(
        self, workload: DayWorkload, provider: ProviderProfile, ts_ms: int, tput: float, cost: float
    ) -> None:
        """One minute of a running workload's telemetry."""

    def decide(self, view: MarketView) -> list[Action]:
        """Actions for this tick."""

    def applied(self, action: Action, ts_ms: int, ok: bool, workload: DayWorkload) -> None:
        """Feedback on an action."""

    def figures(self) -> dict[str, object]:
        """Scheduler-specific figures."""


class _Market:
    """Mutable state of one arm's day."""

    def __init__(self, day: MarketDay) -> None:
        self.day = day
        self.providers = {p.provider_id: p for p in day.providers}
        self.free = {p.provider_id: p.gpu_count for p in day.providers}
        self.pending: list[DayWorkload] = []
        self.running: dict[str, tuple[DayWorkload, Placement]] = {}

    def fits(self, w: DayWorkload, pid: str, online: frozenset[str], price: float) -> bool:
        p = self.providers.get(pid)
        return (
            p is not None
            and pid in online
            and self.free[pid] >= w.gpus
            and p.gpu.vram_gb >= w.vram_gb_per_gpu
            and (not w.allowed_regions or p.region.name in w.allowed_regions)
            and (w.max_price_usd_per_gpu_hour is None or price <= w.max_price_usd_per_gpu_hour)
        )

    def release(self, wid: str) -> DayWorkload:
        w, placement = self.running.pop(wid)
        self.free[placement.provider_id] += w.gpus
        return w


def run_day(
    day: MarketDay,
    scheduler: Scheduler,
    tick_ms: int = 5 * MINUTE_MS,
    migration_downtime_ms: int = 5 * MINUTE_MS,
    checkpoint_ms: int = 30 * MINUTE_MS,
    on_minute: Callable[[], None] = lambda: None,
) -> dict[str, Any]:
    """Play ``day`` with ``scheduler``; returns the arm's figures (see module docstring).

    ``on_minute`` is called once per simulated minute, as it starts (a progress bar's hook).
    """
    m = _Market(day)
    arrivals = sorted(day.workloads, key=lambda w: (w.arrival_ms, w.index))
    noise = {w.workload_id: day.noise(w) for w in day.workloads}
    totals = {
        "a100_gpu_hours": 0.0,
        "cost_usd": 0.0,
        "sla_violation_minutes": 0,
        "waiting_minutes": 0,
        "lost_a100_gpu_hours": 0.0,
    }
    unsaved: dict[str, float] = {}  # A100-hours since each running job's last checkpoint
    counts = {"placements": 0, "migrations": 0, "failed_actions": 0, "evictions": 0}
    nxt = 0
    minutes = (day.end_ms - day.start_ms) // MINUTE_MS
    for k in range(minutes):
        on_minute()
        ts = day.start_ms + k * MINUTE_MS
        fx = {pid: day.effects(pid, ts) for pid in m.providers}
        online = frozenset(pid for pid, f in fx.items() if not f.offline)
        price = {
            pid: p.price_usd_per_gpu_hour * fx[pid].price_factor for pid, p in m.providers.items()
        }
        while nxt < len(arrivals) and arrivals[nxt].arrival_ms <= ts:
            m.pending.append(arrivals[nxt])
            nxt += 1
        for wid, (w, pl) in list(m.running.items()):
            if w.end_ms <= ts:
                m.release(wid)
                unsaved.pop(wid, None)
                _ended(scheduler, w, ts)
            elif pl.provider_id not in online:
                m.pending.append(m.release(wid))
                counts["evictions"] += 1
                # Work since the last checkpoint is lost with the host.
                totals["lost_a100_gpu_hours"] += unsaved.pop(wid, 0.0)
                _interrupted(scheduler, w, pl.provider_id, ts)
        m.pending = [w for w in m.pending if w.end_ms > ts]
        if k % max(1, tick_ms // MINUTE_MS) == 0:
            for pid in online:
                scheduler.observe_provider(pid, fx[pid].clock_factor, fx[pid].rtt_factor)
            view = MarketView(
                ts, m.providers, online, price, dict(m.free), tuple(m.pending), dict(m.running)
            )
            for action in scheduler.decide(view):
                ok = _apply(m, action, ts, online, price, migration_downtime_ms, counts)
                target = _workload(m, action.workload_id)
                if target is not None:
                    scheduler.applied(action, ts, ok, target)
        totals["sla_violation_minutes"] += len(m.pending)
        totals["waiting_minutes"] += len(m.pending)
        for w, pl in m.running.values():
            p = m.providers[pl.provider_id]
            cost = price[pl.provider_id] * w.gpus
            totals["cost_usd"] += cost / 60.0
            tput = 0.0
            if ts >= pl.down_until_ms:
                tput = realised_throughput(w, p, fx[pl.provider_id], float(noise[w.workload_id][k]))
                scheduler.observe(w, p, ts, tput, cost)
            done = a100_equivalent(w.workload_type, tput) / 60.0
            totals["a100_gpu_hours"] += done
            if (ts - pl.since_ms) % checkpoint_ms == 0:
                unsaved[w.workload_id] = 0.0
            unsaved[w.workload_id] = unsaved.get(w.workload_id, 0.0) + done
            totals["sla_violation_minutes"] += tput < w.sla_min_throughput
    cost = totals["cost_usd"]
    useful = totals["a100_gpu_hours"] - totals["lost_a100_gpu_hours"]
    return {
        "perf_per_dollar": useful / cost if cost > 0 else 0.0,
        "a100_gpu_hours": round(useful, 3),
        "lost_a100_gpu_hours": round(totals["lost_a100_gpu_hours"], 3),
        "cost_usd": round(cost, 2),
        "sla_violation_minutes": int(totals["sla_violation_minutes"]),
        "waiting_minutes": int(totals["waiting_minutes"]),
        "actions": counts["placements"] + counts["migrations"],
        **counts,
        **scheduler.figures(),
    }


def _ended(scheduler: Scheduler, w: DayWorkload, ts: int) -> None:
    ended = getattr(scheduler, "ended", None)
    if ended is not None:
        ended(w, ts)


def _interrupted(scheduler: Scheduler, w: DayWorkload, provider_id: str, ts: int) -> None:
    interrupted = getattr(scheduler, "interrupted", None)
    if interrupted is not None:
        interrupted(w, provider_id, ts)
    else:
        _ended(scheduler, w, ts)


def _workload(m: _Market, wid: str) -> DayWorkload | None:
    if wid in m.running:
        return m.running[wid][0]
    return next((w for w in m.pending if w.workload_id == wid), None)


def _apply(
    m: _Market,
    action: Action,
    ts: int,
    online: frozenset[str],
    price: dict[str, float],
    downtime_ms: int,
    counts: dict[str, int],
) -> bool:
    pid = action.provider_id
    if action.kind == "place":
        w = next((w for w in m.pending if w.workload_id == action.workload_id), None)
        if w is None or not m.fits(w, pid, online, price.get(pid, 0.0)):
            counts["failed_actions"] += 1
            return False
        m.pending.remove(w)
        m.free[pid] -= w.gpus
        m.running[w.workload_id] = (w, Placement(pid, ts, ts))
        counts["placements"] += 1
        return True
    entry = m.running.get(action.workload_id)
    if (
        action.kind not in ("migrate", "rebalance")
        or entry is None
        or entry[1].provider_id != action.from_provider_id
        or pid == action.from_provider_id
        or not m.fits(entry[0], pid, online, price.get(pid, 0.0))
    ):
        counts["failed_actions"] += 1
        return False
    w = m.release(action.workload_id)
    m.free[pid] -= w.gpus
    m.running[w.workload_id] = (w, Placement(pid, ts, ts + downtime_ms))
    counts["migrations"] += 1
    return True


def evaluate_closed_loop(
    seed: int,
    providers: int = 40,
    hours: int = 24,
    load: float | None = None,
    incidents_per_provider: float | None = None,
    policies: PolicyBook | None = None,
    config: EngineConfig | None = None,
    scenario: str | Path | Scenario = "p2p",
    on_minute: Callable[[], None] = lambda: None,
) -> dict[str, Any]:
    """The same day with the engine in the loop and with cheapest-first alone.

    ``on_minute`` is called once per simulated minute of each of the five arms
    (``5 * hours * 60`` calls in all).

    ``perf_per_dollar_gain`` is ``engine / cheapest_first - 1`` of realised A100-equivalent
    GPU-hours per dollar; ``sla_violation_reduction`` is ``1 - engine / cheapest_first`` of
    SLA-violation minutes (a workload's minute below its minimum throughput, waiting
    included). A third arm, ``best_value_oracle`` (:class:`~evaluation.schedulers.
    BestValueOracle`: best true perf per dollar first, with the simulator's ground truth),
    is a reference for what placement alone can buy in this market;
    ``oracle_perf_per_dollar_gain`` is its gain over cheapest-first. The upper reference
    is ``hindsight_oracle`` (:class:`~evaluation.schedulers.HindsightOracle`: every host's
    true speed and outages of the whole day, SLAs first); ``share_of_hindsight_gain`` is
    the engine's gain over its gain. ``greedy_best_fit`` places by listed value.

    ``scenario`` is a name of :data:`sim.scenario.SCENARIOS`, a YAML path or a
    :class:`~sim.scenario.Scenario`; ``load`` and ``incidents_per_provider`` default to
    the scenario's.
    """
    market = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    load = market.gpu_load if load is None else load
    incidents = market.incidents_per_provider
    if incidents_per_provider is not None:
        incidents = incidents_per_provider
    day = generate_day(seed, providers, hours, load, incidents, scenario=market)
    config = config or EngineConfig()
    book = policies or PolicyBook.load(DEFAULT_POLICIES_PATH)
    engine = run_day(
        day,
        EngineScheduler(book, config, seed=seed),
        migration_downtime_ms=config.migration_downtime_ms,
        on_minute=on_minute,
    )
    baseline = run_day(
        day,
        CheapestFirstScheduler(),
        migration_downtime_ms=config.migration_downtime_ms,
        on_minute=on_minute,
    )
    downtime = config.migration_downtime_ms
    greedy = run_day(
        day, GreedyBestFitScheduler(), migration_downtime_ms=downtime, on_minute=on_minute
    )
    oracle = run_day(day, BestValueOracle(day), migration_downtime_ms=downtime, on_minute=on_minute)
    hindsight = run_day(
        day, HindsightOracle(day), migration_downtime_ms=downtime, on_minute=on_minute
    )
    base_ppd = baseline["perf_per_dollar"]
    base_sla = baseline["sla_violation_minutes"]

    def gain(arm: dict[str, Any]) -> float | None:
        return arm["perf_per_dollar"] / base_ppd - 1.0 if base_ppd > 0 else None

    engine_gain, hindsight_gain = gain(engine), gain(hindsight)
    return {
        "seed": seed,
        "scenario": {
            "name": market.name,
            "providers": providers,
            "hours": hours,
            "load": load,
            "incidents": len(day.incidents),
            "workloads": len(day.workloads),
        },
        "engine": engine,
        "cheapest_first": baseline,
        "greedy_best_fit": greedy,
        "best_value_oracle": oracle,
        "hindsight_oracle": hindsight,
        "perf_per_dollar_gain": engine_gain,
        "sla_violation_reduction": 1.0 - engine["sla_violation_minutes"] / base_sla
        if base_sla > 0
        else None,
        "greedy_perf_per_dollar_gain": gain(greedy),
        "oracle_perf_per_dollar_gain": gain(oracle),
        "hindsight_perf_per_dollar_gain": hindsight_gain,
        # Share of what hindsight gains over cheapest-first that the engine gains.
        "share_of_hindsight_gain": engine_gain / hindsight_gain
        if engine_gain is not None and hindsight_gain
        else None,
    }
