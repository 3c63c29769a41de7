"""Market scenarios of the closed loop, as data files with their sources (issue 15).

A scenario (``sim/scenarios/<name>.yaml``, or any path) says how the simulated market day
departs from the simulator's closed, uniform fleet: spread of delivered vs listed speed
per host, listings that over-state their hardware, dispersed asking prices, hosts that
interrupt jobs, hosts that join or leave during the day, load and incident rate. Each
file cites where its figures come from; they were fixed before anything was measured and
are not tuned to move a result. :func:`apply_scenario` turns the simulator's fleet into
the scenario's; the day generator (:func:`sim.market_day.generate_day`) calls it.

>>> p2p = load_scenario("p2p")
>>> p2p.perf_factor_range, p2p.unreliable_share, len(p2p.sources) > 0
((0.85, 1.15), 0.25, True)
>>> load_scenario("uniform").perf_factor_range is None
True
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
from pydantic import Field

from config.documents import DocumentError, YamlDocument
from sim.incidents import Incident, IncidentKind
from sim.marketplace import ProviderProfile

__all__ = ["SCENARIOS", "SCENARIO_DIR", "Scenario", "Source", "apply_scenario", "load_scenario"]

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
#: The scenarios shipped with the code, by name.
SCENARIOS = ("uniform", "p2p", "stressed")
_DAY_MS = 86_400_000


class Source(YamlDocument):
    """Where a figure comes from: what it says, and its address."""

    what: str
    url: str


class Scenario(YamlDocument):
    """Parameters of a market day (see the module docstring and the data files).

    Examples
    --------
    >>> Scenario(name="x", description="d").unreliable_share
    0.0
    """

    name: str
    description: str
    sources: tuple[Source, ...] = ()
    gpu_load: float = Field(default=0.7, gt=0, le=2)  # GPUs asked / fleet GPUs
    incidents_per_provider: float = Field(default=0.75, ge=0)
    # delivered / listed speed per host, uniform in the range (None: the simulator's +-10 %)
    perf_factor_range: tuple[float, float] | None = None
    overstated_share: float = Field(default=0.0, ge=0, le=1)
    overstated_factor_range: tuple[float, float] = (0.6, 0.8)
    # sigma of a log-normal multiplier on each host's asking price
    price_dispersion: float = Field(default=0.0, ge=0)
    unreliable_share: float = Field(default=0.0, ge=0, le=1)
    unreliable_interruptions_per_day: float = Field(default=0.0, ge=0)
    reliable_interruptions_per_day: float = Field(default=0.0, ge=0)
    interruption_minutes: tuple[float, float] = (10.0, 60.0)
    join_share: float = Field(default=0.0, ge=0, le=1)
    leave_share: float = Field(default=0.0, ge=0, le=1)


def load_scenario(name_or_path: str | Path) -> Scenario:
    """A shipped scenario by name (:data:`SCENARIOS`) or a YAML file by path."""
    if isinstance(name_or_path, str) and name_or_path in SCENARIOS:
        return Scenario.load(SCENARIO_DIR / f"{name_or_path}.yaml")
    path = Path(name_or_path)
    if not path.is_file():
        raise DocumentError(f"{name_or_path}: not a scenario name {SCENARIOS} nor a file")
    return Scenario.load(path)


def apply_scenario(
    scenario: Scenario,
    fleet: tuple[ProviderProfile, ...],
    seed: int,
    start_ms: int,
    end_ms: int,
) -> tuple[tuple[ProviderProfile, ...], tuple[Incident, ...]]:
    """The scenario's fleet (speed and price per host) and its host outages.

    Outages are :class:`~sim.incidents.Incident` values of kind ``provider_outage``:
    interruptions, hosts that join late (down from the start) and hosts that leave (down
    to the end). Draws use their own stream, so a scenario with nothing set returns the
    fleet unchanged and no outages.

    >>> from sim.marketplace import MarketplaceSim
    >>> fleet = tuple(MarketplaceSim(seed=1, providers=4, workloads=0).provider_profiles)
    >>> same, outages = apply_scenario(load_scenario("uniform"), fleet, 1, 0, 3_600_000)
    >>> same == fleet, outages
    (True, ())
    """
    rng = np.random.default_rng([seed, 15])
    hosts, outages = [], []
    for p in fleet:
        perf, price = p.perf_factor, p.price_usd_per_gpu_hour
        if scenario.perf_factor_range is not None:
            perf = float(rng.uniform(*scenario.perf_factor_range))
        if rng.random() < scenario.overstated_share:
            perf *= float(rng.uniform(*scenario.overstated_factor_range))
        if scenario.price_dispersion > 0:
            price = round(price * float(rng.lognormal(0.0, scenario.price_dispersion)), 4)
        hosts.append(replace(p, perf_factor=perf, price_usd_per_gpu_hour=price))
        unreliable = rng.random() < scenario.unreliable_share
        rate = (
            scenario.unreliable_interruptions_per_day
            if unreliable
            else scenario.reliable_interruptions_per_day
        )
        for _ in range(int(rng.poisson(rate * (end_ms - start_ms) / _DAY_MS))):
            lo, hi = scenario.interruption_minutes
            length = int(rng.uniform(lo, hi) * 60_000)
            begin = int(rng.integers(start_ms, max(start_ms + 1, end_ms - length)))
            outages.append(_down(p.provider_id, begin, begin + length))
        if rng.random() < scenario.join_share:
            outages.append(_down(p.provider_id, start_ms, int(rng.uniform(start_ms, end_ms))))
        elif rng.random() < scenario.leave_share:
            outages.append(_down(p.provider_id, int(rng.uniform(start_ms, end_ms)), end_ms))
    return tuple(hosts), tuple(outages)


def _down(provider_id: str, start_ms: int, end_ms: int) -> Incident:
    return Incident(IncidentKind.PROVIDER_OUTAGE, provider_id, start_ms, max(end_ms, start_ms + 1))
