"""Marketplace simulator: synthetic providers, workloads, telemetry and labelled incidents.

The pure core (:mod:`schemas.gpus`, :mod:`sim.incidents`, :mod:`sim.marketplace`) has no I/O
and no clock; :mod:`streams.publish` produces its records to Kafka and :mod:`cli.simulate` is the
``computeperf simulate`` command. Only the core is re-exported here, so importing
``sim`` does not pull in aiokafka.

>>> from sim import MarketplaceSim
>>> len(MarketplaceSim(seed=1, providers=3, workloads=0).providers)
3
"""

from schemas.gpus import GPU_MODELS, REGIONS, GpuModel, Region
from sim.incidents import Effects, Incident, IncidentKind, effects_at
from sim.marketplace import (
    TOPIC_CATALOG,
    TOPIC_LIFECYCLE,
    TOPIC_PROVIDER,
    TOPIC_WORKLOAD,
    MarketplaceSim,
    ProviderProfile,
    SimRecord,
    WorkloadProfile,
)

__all__ = [
    "GPU_MODELS",
    "REGIONS",
    "TOPIC_CATALOG",
    "TOPIC_LIFECYCLE",
    "TOPIC_PROVIDER",
    "TOPIC_WORKLOAD",
    "Effects",
    "GpuModel",
    "Incident",
    "IncidentKind",
    "MarketplaceSim",
    "ProviderProfile",
    "Region",
    "SimRecord",
    "WorkloadProfile",
    "effects_at",
]
