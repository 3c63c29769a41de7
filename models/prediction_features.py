"""Features of performance prediction, and training examples built from telemetry records.

A query is "workload spec W on provider P at event time ``ts_ms``, given P's recent
telemetry". :class:`FeatureSpec` fixes the vocabulary (GPU models, regions), the prior
(relative throughput per GPU model and workload type) and the regions' UTC offsets
(demand follows the local day); its :meth:`FeatureSpec.digest` versions saved models.
The same features serve every prediction target (:data:`TARGETS`): throughput, and the
request latency of serving workloads (which depends on the same GPU model, load, region
and RTT).
Unknown GPU models, regions or missing telemetry become NaN or all-zero one-hots, which
the gradient-boosted model handles natively.

:func:`examples_from_records` replays catalog, lifecycle and telemetry records (what the
simulator emits, or a topic replay) into :class:`Example` values. Health features use
only provider samples strictly older than the workload sample, so they are what a
predictor would know before the interval it predicts.

>>> spec = FeatureSpec(gpu_models=("A100 80GB",), regions=("us-east",))
>>> len(spec.feature_names) == len(featurize(spec, "training", 2, 40.0, None, None, 0))
True
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from schemas import (
    ProviderInfo,
    ProviderSample,
    WorkloadEvent,
    WorkloadSample,
    WorkloadSpec,
    WorkloadType,
)
from schemas.gpus import GPU_MODELS, REGIONS

__all__ = [
    "FEATURE_CODE_VERSION",
    "TARGETS",
    "Example",
    "FeatureSpec",
    "ProviderHealth",
    "as_arrays",
    "default_feature_spec",
    "examples_from_records",
    "featurize",
]

#: Bumped whenever :func:`featurize` changes meaning: models saved before are refused.
FEATURE_CODE_VERSION = 1
_WORKLOAD_TYPES = tuple(t.value for t in WorkloadType)
_HOUR_MS = 3_600_000
#: What can be predicted: the :class:`~schemas.WorkloadSample` field each example observes.
#: ``latency_ms`` exists only for serving (inference) workloads.
TARGETS = ("throughput", "latency_ms")


@dataclass(frozen=True)
class FeatureSpec:
    """Vocabulary and priors that define the feature vector.

    Parameters
    ----------
    gpu_models, regions : tuple of str
        One-hot vocabularies (others map to all zeros).
    gpu_prior : mapping
        ``{gpu_model: {workload_type: relative throughput per GPU}}``; missing is NaN.
    region_utc_offset_h : mapping
        Local-time offset of each region (0 when missing).

    Examples
    --------
    >>> a = FeatureSpec(gpu_models=("L4 24GB",), regions=("us-east",))
    >>> a.digest() == FeatureSpec(gpu_models=("L4 24GB",), regions=("us-east",)).digest()
    True
    >>> a.digest() == FeatureSpec(gpu_models=("L4 24GB",), regions=("us-west",)).digest()
    False
    """

    gpu_models: tuple[str, ...]
    regions: tuple[str, ...]
    gpu_prior: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    region_utc_offset_h: Mapping[str, float] = field(default_factory=dict)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Column names of :func:`featurize`'s vector, in order."""
        return (
            *(f"type={t}" for t in _WORKLOAD_TYPES),
            "log2_gpus",
            "vram_requested_gb",
            *(f"gpu={m}" for m in self.gpu_models),
            "log_prior",
            "log_prior_x_gpus",
            "provider_vram_gb",
            "provider_gpu_count",
            *(f"region={r}" for r in self.regions),
            "local_hour_sin",
            "local_hour_cos",
            "recent_rtt_ms",
            "recent_clock_ratio",
            "recent_errors",
        )

    def to_json(self) -> dict[str, object]:
        """Plain JSON form (sorted), the input of :meth:`digest` and of saved models."""
        return {
            "feature_code_version": FEATURE_CODE_VERSION,
            "gpu_models": list(self.gpu_models),
            "regions": list(self.regions),
            "gpu_prior": {m: dict(sorted(v.items())) for m, v in sorted(self.gpu_prior.items())},
            "region_utc_offset_h": dict(sorted(self.region_utc_offset_h.items())),
        }

    def digest(self) -> str:
        """SHA-256 of the spec and the feature code version (first 16 hex digits)."""
        blob = json.dumps(self.to_json(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class ProviderHealth:
    """What recent telemetry says about a provider (any field may be unknown)."""

    rtt_ms: float = math.nan
    clock_ratio: float = math.nan  # SM clock / highest clock seen on this provider
    errors: float = math.nan


@dataclass(frozen=True, slots=True)
class Example:
    """One observed target value (throughput, or latency in ms) with its features.

    ``key`` (the provider) and ``workload_id`` key the online residual correction,
    ``group`` (the workload type) the conformal calibration; ``gpu_model`` and
    ``workload_type`` form the baseline's cohort.
    """

    x: tuple[float, ...]
    value: float
    ts_ms: int
    key: str
    group: str
    gpu_model: str
    workload_type: str
    workload_id: str = ""


def featurize(
    spec: FeatureSpec,
    workload_type: str,
    gpus: int,
    vram_requested_gb: float,
    provider: ProviderInfo | None,
    health: ProviderHealth | None,
    ts_ms: int,
) -> tuple[float, ...]:
    """Feature vector of one query (see :attr:`FeatureSpec.feature_names`)."""
    wt = WorkloadType(workload_type).value
    model = provider.gpu_model if provider is not None else ""
    region = provider.region if provider is not None else ""
    prior = spec.gpu_prior.get(model, {}).get(wt, math.nan)
    log_prior = math.log(prior) if prior > 0 else math.nan
    hour = (ts_ms / _HOUR_MS + spec.region_utc_offset_h.get(region, 0.0)) % 24.0
    angle = 2.0 * math.pi * hour / 24.0
    h = health or ProviderHealth()
    nan = math.nan
    return (
        *(1.0 if t == wt else 0.0 for t in _WORKLOAD_TYPES),
        math.log2(max(1, gpus)),
        float(vram_requested_gb),
        *(1.0 if m == model else 0.0 for m in spec.gpu_models),
        log_prior,
        log_prior + math.log(max(1, gpus)),
        provider.vram_gb_per_gpu if provider is not None else nan,
        float(provider.gpu_count) if provider is not None else nan,
        *(1.0 if r == region else 0.0 for r in spec.regions),
        math.sin(angle),
        math.cos(angle),
        h.rtt_ms,
        h.clock_ratio,
        h.errors,
    )


class _HealthTracker:
    """Per-provider health from samples strictly before the time asked about."""

    def __init__(self) -> None:
        self._samples: dict[str, list[ProviderSample]] = {}
        self._max_clock: dict[str, float] = {}

    def add(self, sample: ProviderSample) -> None:
        kept = self._samples.setdefault(sample.provider_id, [])
        kept.append(sample)
        del kept[:-2]  # the newest two are enough: one of them is strictly older

    def before(self, provider_id: str, ts_ms: int) -> ProviderHealth | None:
        older = [s for s in self._samples.get(provider_id, ()) if s.ts_ms < ts_ms]
        if not older:
            return None
        s = older[-1]
        # The running max includes only samples already usable, so no look-ahead.
        peak = max(self._max_clock.get(provider_id, 0.0), s.sm_clock_mhz)
        self._max_clock[provider_id] = peak
        ratio = s.sm_clock_mhz / peak if peak > 0 else math.nan
        return ProviderHealth(rtt_ms=s.net_rtt_ms, clock_ratio=ratio, errors=s.error_count)


def examples_from_records(
    spec: FeatureSpec, records: Iterable[object], target: str = "throughput"
) -> list[Example]:
    """Replay records in event-time order into one :class:`Example` per workload sample.

    Accepts the records themselves or anything with a ``record`` attribute (the
    simulator's ``SimRecord``). ``target`` (one of :data:`TARGETS`) is the sample field
    observed. Workload samples whose spec or provider is unknown, or whose target is
    missing or not positive, are skipped: there is nothing to predict them from or of.
    """
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    catalog: dict[str, ProviderInfo] = {}
    specs: dict[str, WorkloadSpec] = {}
    health = _HealthTracker()
    out: list[Example] = []
    for item in records:
        rec = getattr(item, "record", item)
        if isinstance(rec, ProviderInfo):
            catalog[rec.provider_id] = rec
        elif isinstance(rec, WorkloadEvent):
            if rec.spec is not None:
                specs[rec.workload_id] = rec.spec
        elif isinstance(rec, ProviderSample):
            health.add(rec)
        elif isinstance(rec, WorkloadSample):
            wspec = specs.get(rec.workload_id)
            prov = catalog.get(rec.provider_id)
            observed = getattr(rec, target)
            if wspec is None or prov is None or observed is None or not observed > 0:
                continue
            x = featurize(
                spec,
                rec.workload_type,
                wspec.gpus,
                wspec.vram_gb_per_gpu,
                prov,
                health.before(rec.provider_id, rec.ts_ms),
                rec.ts_ms,
            )
            out.append(
                Example(
                    x=x,
                    value=float(observed),
                    ts_ms=rec.ts_ms,
                    key=rec.provider_id,
                    group=WorkloadType(rec.workload_type).value,
                    gpu_model=prov.gpu_model,
                    workload_type=WorkloadType(rec.workload_type).value,
                    workload_id=rec.workload_id,
                )
            )
    return out


def as_arrays(examples: Iterable[Example]) -> tuple[np.ndarray, np.ndarray]:
    """``(X, log value)`` arrays of ``examples``."""
    rows = list(examples)
    if not rows:
        return np.zeros((0, 0)), np.zeros(0)
    x = np.array([e.x for e in rows], dtype=np.float64)
    y = np.log(np.array([e.value for e in rows], dtype=np.float64))
    return x, y


def default_feature_spec() -> FeatureSpec:
    """Feature spec of the GPU catalogue (:mod:`schemas.gpus`: its models, regions and priors).

    >>> spec = default_feature_spec()
    >>> "H100 80GB" in spec.gpu_models and spec.gpu_prior["H100 80GB"]["training"]
    2.4
    """
    return FeatureSpec(
        gpu_models=tuple(sorted(GPU_MODELS)),
        regions=tuple(sorted(REGIONS)),
        gpu_prior={
            name: {
                "training": m.training,
                "fine_tuning": m.fine_tuning,
                "inference": m.inference,
                "rendering": m.rendering,
            }
            for name, m in GPU_MODELS.items()
        },
        region_utc_offset_h={name: float(r.utc_offset_h) for name, r in REGIONS.items()},
    )
