"""The peer of ``computeperf bench pipeline --peers``: our windows job written with Quix Streams.

Per provider (the message key), 1-min event-time tumbling windows (10 s grace, as our
default) with count, and mean/min/max/p95 of the nine metrics our pipeline summarises
(``ProviderSample.NUMERIC_FIELDS``), emitted when closed (``.final()``, closing by the
partition's event time like ours) to an output topic. Written as Quix's documentation
writes it: ``app.dataframe`` over a JSON topic with a timestamp extractor, built-in
``Count``/``Mean``/``Min``/``Max`` aggregations and a custom ``Aggregator`` for the p95
(Quix has no percentile built-in): a DDSketch-style log-bucket sketch with the same 1 %
relative accuracy as our ``models/sketch.py``, its state a small JSON object.

It runs in its own virtual environment (``bench/peers.py``: quixstreams 3.28 requires
pydantic < 2.14, ours is 2.14), so it imports nothing of ours: run as a script,
``python bench/quix_peer.py --bootstrap ... --source ... --sink ...``. A thread writes
``{"processed": n, "windows": w}`` to ``--progress-file`` every 50 ms: the bench reads it
exactly as it reads our worker's ``/metrics`` counter.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from quixstreams import Application
from quixstreams.dataframe.windows.aggregations import Aggregator, Count, Max, Mean, Min
from quixstreams.models.topics import TopicConfig

# The same nine as schemas.ProviderSample.NUMERIC_FIELDS (a test checks they agree).
NUMERIC_FIELDS = (
    "gpu_util_pct",
    "gpu_mem_used_gb",
    "gpu_temp_c",
    "power_w",
    "sm_clock_mhz",
    "net_rtt_ms",
    "net_bandwidth_gbps",
    "gpus_busy",
    "error_count",
)
RELATIVE_ACCURACY = 0.01
_GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
_LOG_GAMMA = math.log(_GAMMA)


def bucket_of(x: float) -> str:
    """The sketch bucket of ``x`` (JSON keys are strings): ``z`` for 0, ``-k`` below it."""
    if x == 0:
        return "z"
    k = math.ceil(math.log(abs(x)) / _LOG_GAMMA)
    return str(k) if x > 0 else f"-{k}"


def bucket_value(key: str) -> float:
    """The representative value of a bucket: within ``RELATIVE_ACCURACY`` of its members."""
    if key == "z":
        return 0.0
    k = int(key.lstrip("-"))
    value = 2 * _GAMMA**k / (_GAMMA + 1)
    return -value if key.startswith("-") else value


def _order(key: str) -> float:
    return bucket_value(key)


class P95(Aggregator):  # type: ignore[misc]
    """The 95th percentile of a column, from a log-bucket sketch (1 % relative error)."""

    def initialize(self) -> dict[str, int]:
        return {}

    def agg(self, old: dict[str, int], new: Any, timestamp: int) -> dict[str, int]:
        x = new.get(self.column)
        if x is None:
            return old
        key = bucket_of(x)
        old[key] = old.get(key, 0) + 1
        return old

    def result(self, value: dict[str, int]) -> float | None:
        return sketch_quantile(value, 0.95)


def sketch_quantile(buckets: dict[str, int], q: float) -> float | None:
    """The ``q`` quantile of a sketch's buckets (DDSketch's rank rule), None when empty."""
    total = sum(buckets.values())
    if total == 0:
        return None
    rank = q * (total - 1)
    seen = 0
    for key in sorted(buckets, key=_order):
        seen += buckets[key]
        if seen > rank:
            return bucket_value(key)
    return bucket_value(max(buckets, key=_order))


def build_app(
    bootstrap: str,
    source: str,
    sink: str,
    group: str,
    state_dir: Path,
    window_s: int,
    grace_s: int,
    partitions: int,
    counters: dict[str, int],
) -> Application:
    """The Quix application: source topic → per-key tumbling windows → ``sink``."""
    app = Application(
        broker_address=bootstrap,
        consumer_group=group,
        auto_offset_reset="earliest",
        state_dir=str(state_dir),
        loglevel="WARNING",
    )
    source_topic = app.topic(
        source,
        key_deserializer="str",
        value_deserializer="json",
        timestamp_extractor=lambda value, headers, ts, ts_type: value["ts_ms"],
    )
    sink_topic = app.topic(
        sink,
        key_serializer="str",
        value_serializer="json",
        config=TopicConfig(num_partitions=partitions, replication_factor=1),
    )

    def count_in(value: Any) -> None:
        counters["processed"] += 1

    def count_out(value: Any) -> None:
        counters["windows"] += 1

    aggregations: dict[str, Aggregator] = {"count": Count()}
    for field in NUMERIC_FIELDS:
        aggregations[f"{field}_mean"] = Mean(field)
        aggregations[f"{field}_min"] = Min(field)
        aggregations[f"{field}_max"] = Max(field)
        aggregations[f"{field}_p95"] = P95(field)
    sdf = app.dataframe(source_topic)
    sdf = sdf.update(count_in)
    sdf = (
        sdf.tumbling_window(timedelta(seconds=window_s), grace_ms=timedelta(seconds=grace_s))
        .agg(**aggregations)
        .final(closing_strategy="partition")
    )
    sdf = sdf.update(count_out)
    sdf.to_topic(sink_topic)
    return app


def report_progress(path: Path, counters: dict[str, int], stop: threading.Event) -> None:
    """Write the counters to ``path`` every 50 ms (atomically: write, then rename)."""
    tmp = path.with_suffix(".tmp")
    while not stop.is_set():
        tmp.write_text(json.dumps(counters))
        os.replace(tmp, path)
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--source", required=True)
    parser.add_argument("--sink", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--progress-file", type=Path, required=True)
    parser.add_argument("--window-s", type=int, default=60)
    parser.add_argument("--grace-s", type=int, default=10)
    parser.add_argument("--partitions", type=int, default=4)
    args = parser.parse_args()
    counters = {"processed": 0, "windows": 0}
    app = build_app(
        args.bootstrap,
        args.source,
        args.sink,
        args.group,
        args.state_dir,
        args.window_s,
        args.grace_s,
        args.partitions,
        counters,
    )
    stop = threading.Event()
    reporter = threading.Thread(
        target=report_progress, args=(args.progress_file, counters, stop), daemon=True
    )
    reporter.start()
    try:
        app.run()  # until SIGTERM / SIGINT
    finally:
        stop.set()
        reporter.join()
        args.progress_file.write_text(json.dumps(counters))


if __name__ == "__main__":
    main()
