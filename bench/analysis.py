"""``computeperf bench analysis``: cost per sample, state per series, RSS at 100,000 series.

1. **us_per_sample**: simulated workload and provider samples (generated beforehand, not
   timed) go through the pipeline's window code (:class:`models.windows.TumblingWindows`)
   and every closed fleet window through :class:`models.analysis.AnalysisEngine`
   (diagnosis, scope, leaderboards, roll-ups, trends); wall time / samples (and CPU time
   / samples as ``cpu_us_per_sample``).
2. **bytes_per_series**: state of one tracked workload series as it is stored: its open
   1-minute window plus its open 5-minute and 1-hour roll-ups, compact JSON compressed
   with zlib (:func:`models.rollups.pack_state`), mean over the simulated series.
3. **rss_mb_100k_series**: a fresh interpreter imports the analysis core, holds 100,000
   distinct packed series states the way ``RollupLadder(packed=True)`` does (bytes and
   next window end per series; an update unpacks only the series it touches) and reports
   its resident set size. Live sketch objects cost ~50 kB per series with three open
   windows (measured), so 100,000 series only fit in 1 GiB packed: the agent's roll-ups
   are packed, its open 1-minute windows (the foundation's window aggregator) are not.

The figures are this machine's (shared, 2 cores): compare runs, never assert on them.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import click

from evaluation.insights import route_record
from models.analysis import AnalysisEngine, WorkloadMeta
from models.rollups import pack_state
from models.windows import SeriesWindows, TumblingWindows, Watermark, WindowAccumulator
from schemas import ProviderSample, WorkloadSample
from sim.marketplace import MarketplaceSim

__all__ = ["analysis_bench_command", "bench_analysis"]

_START_MS = 1_793_491_200_000  # an hour boundary
_MIN = 60_000

# Child process: hold N distinct copies of the sample states, report VmRSS / VmHWM in MB.
_RSS_PROBE = """
import json, sys
import models.analysis  # the analysis core's imports are part of the footprint
samples = [bytes.fromhex(h) for h in json.load(open(sys.argv[1]))]
n = int(sys.argv[2])
# What RollupLadder(packed=True) holds per series: the packed bytes and the next end.
store = {f"workload:wl-{i:06d}": bytes(bytearray(samples[i % len(samples)])) for i in range(n)}
next_end = {key: 1_793_491_200_000 + i for i, key in enumerate(store)}
status = open("/proc/self/status").read()
def mb(key):
    return int(status.split(key + ":")[1].split()[0]) / 1024
print(json.dumps({"rss_mb": mb("VmRSS"), "hwm_mb": mb("VmHWM"), "series": len(store)}))
"""


def _say(message: str) -> None:
    click.echo(message, err=True)


def _records(seed: int, minutes: int) -> list[Any]:
    sim = MarketplaceSim(seed=seed, providers=12, workloads=36, interval_ms=1000)
    return [r.record for r in sim.records(_START_MS, _START_MS + minutes * _MIN)]


def bench_analysis(*, seed: int = 1, minutes: int = 20, series: int = 100_000) -> dict[str, Any]:
    """Measure and return the three figures (plus what they were measured on)."""
    _say(f"simulating {minutes} min of 12 providers / 36 workloads at 1 Hz ...")
    records = _records(seed, minutes)
    samples = sum(isinstance(r, ProviderSample | WorkloadSample) for r in records)
    tumbling = TumblingWindows(window_ms=_MIN, grace_ms=2_000)
    watermark = Watermark()
    open_series: dict[str, SeriesWindows] = {}
    meta: dict[str, WorkloadMeta] = {}
    engine = AnalysisEngine(interval_ms=1000)
    closed: dict[int, dict[str, WindowAccumulator]] = defaultdict(dict)
    last_wm = watermark.value_ms

    def close(wm: int) -> None:
        for key, sw in open_series.items():
            for start, acc in tumbling.close(sw, watermark_ms=wm):
                closed[start][key] = acc
        for start in sorted(closed):
            by_key = closed.pop(start)
            provs = {k[2:]: a for k, a in by_key.items() if k.startswith("p:")}
            wls = {k[2:]: (meta[k[2:]], a) for k, a in by_key.items() if k.startswith("w:")}
            engine.analyse_window(start, provs, wls)

    _say(f"timing windows + analysis over {samples:,} samples ...")
    t0, c0 = time.perf_counter(), time.process_time()
    for r in records:
        routed = route_record(r, engine, meta)
        if routed is None:
            continue
        key, values, sample = routed
        wm = watermark.advance(sample.ts_ms, tumbling.grace_ms)
        sw = open_series.setdefault(key, SeriesWindows(partition=0))
        tumbling.add(sw, ts_ms=sample.ts_ms, seq=sample.seq, values=values, watermark_ms=wm)
        if wm != last_wm:
            close(wm)
            last_wm = wm
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0

    # State of each workload series mid-run: open 1-minute window + open roll-ups.
    packed: list[bytes] = []
    for wid in sorted(meta):
        state = {
            "windows": open_series[f"w:{wid}"].to_state(),
            "rollups": engine.rollups.series_state(f"workload:{wid}"),
        }
        packed.append(pack_state(state))
    bytes_per_series = statistics.fmean(len(b) for b in packed)

    _say(f"holding {series:,} packed series states in a fresh interpreter ...")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "states.json"
        path.write_text(json.dumps([b.hex() for b in packed]))
        out = subprocess.run(
            [sys.executable, "-c", _RSS_PROBE, str(path), str(series)],
            check=True,
            capture_output=True,
            text=True,
        )
    probe = json.loads(out.stdout)
    return {
        "us_per_sample": elapsed / samples * 1e6,
        # CPU time of this process: less sensitive than wall time to a shared machine.
        "cpu_us_per_sample": cpu / samples * 1e6,
        "bytes_per_series": bytes_per_series,
        "rss_mb_100k_series": probe["rss_mb"],
        "peak_rss_mb_100k_series": probe["hwm_mb"],
        "series_measured": probe["series"],
        "samples": samples,
        "raw_json_bytes_per_series": statistics.fmean(
            len(
                json.dumps(
                    {
                        "windows": open_series[f"w:{wid}"].to_state(),
                        "rollups": engine.rollups.series_state(f"workload:{wid}"),
                    },
                    separators=(",", ":"),
                )
            )
            for wid in sorted(meta)
        ),
    }


@click.command("analysis")
@click.option("--series", type=click.IntRange(min=1), default=100_000, show_default=True)
@click.option("--minutes", type=click.IntRange(min=2), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def analysis_bench_command(series: int, minutes: int, as_json: bool) -> None:
    """µs per sample, bytes of state per tracked series, RSS with 100,000 series."""
    figures = bench_analysis(minutes=minutes, series=series)
    if as_json:
        click.echo(json.dumps(figures, sort_keys=True))
        return
    click.echo(
        f"{figures['us_per_sample']:.1f} µs per sample, {figures['bytes_per_series']:.0f} "
        f"bytes per series (packed; {figures['raw_json_bytes_per_series']:.0f} as JSON), "
        f"RSS {figures['rss_mb_100k_series']:.0f} MB with {figures['series_measured']:,} series"
    )
