"""Base record class and the constrained field types shared by all records.

The aliases here encode the project-wide conventions once: ids are short
Kafka-key-safe strings, times are UTC epoch milliseconds, percentages lie in
[0, 100] and every float is finite (``allow_inf_nan=False`` on :class:`Record`).
"""

from typing import Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    StringConstraints,
    field_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

__all__ = [
    "ID_PATTERN",
    "MAX_REPLICAS",
    "TS_MAX_MS",
    "TS_MIN_MS",
    "Id",
    "NonEmptyStr",
    "NonNegFloat",
    "NonNegInt",
    "Pct",
    "PosFloat",
    "Record",
    "ReplicaCount",
    "TsMs",
    "UnitFloat",
]

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
TS_MIN_MS = 946_684_800_000  # 2000-01-01T00:00:00Z
TS_MAX_MS = 4_102_444_800_000  # 2100-01-01T00:00:00Z

Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
TsMs = Annotated[int, Field(ge=TS_MIN_MS, le=TS_MAX_MS)]
Pct = Annotated[float, Field(ge=0.0, le=100.0)]
UnitFloat = Annotated[float, Field(ge=0.0, le=1.0)]
NonNegFloat = Annotated[float, Field(ge=0.0)]
PosFloat = Annotated[float, Field(gt=0.0)]
NonNegInt = Annotated[int, Field(ge=0)]
#: A price per GPU-hour. Listed GPU prices are a few dollars; the cap is far above any, and
#: keeps a placement's objective (prices x GPUs x hours, scaled to integers for CP-SAT)
#: finite: a catalogue price near 1e308 overflowed it and killed the worker (fuzz, issue 17).
MAX_USD_PER_GPU_HOUR = 10_000.0
UsdPerGpuHour = Annotated[float, Field(ge=0.0, le=MAX_USD_PER_GPU_HOUR)]
#: Money accrued in one telemetry interval: a sum of a period's intervals stays finite.
MAX_USD_PER_SAMPLE = 1e9
UsdPerSample = Annotated[float, Field(ge=0.0, le=MAX_USD_PER_SAMPLE)]
#: GPUs on one provider, GiB of memory on one GPU: bounded like the workload's ``gpus``.
GpuCount = Annotated[int, Field(ge=1, le=1024)]
VramGb = Annotated[float, Field(gt=0.0, le=4096.0)]
#: Replicas of one workload. The recommendations role walks a workload's replica ids on the
#: event loop and expands pending ones into one placement variable set each: a fuzzed spec
#: with 988,726,729 replicas held the loop for 69 s (the group dropped the worker, issue 17).
MAX_REPLICAS = 1024
ReplicaCount = Annotated[int, Field(ge=1, le=MAX_REPLICAS)]
NonEmptyStr = Annotated[str, StringConstraints(min_length=1)]


class Record(BaseModel):
    """Immutable base class of every message that goes over a topic.

    Attributes
    ----------
    schema_version : int
        Version of the record layout, bumped on incompatible changes. A version above
        ``SCHEMA_VERSION`` (a layout this reader does not know) is refused, not read as
        the one it knows.
    SCHEMA_VERSION : ClassVar[int]
        The newest layout this code reads.
    EVENT_TIME_FIELD : ClassVar[str | None]
        Name of the field holding the record's event time, used by
        :func:`schemas.codec.decode` for its far-future check.

    Examples
    --------
    >>> class Ping(Record):
    ...     ts_ms: TsMs
    >>> Ping(ts_ms=TS_MIN_MS).schema_version
    1
    >>> Ping(ts_ms=TS_MIN_MS, schema_version=2)
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for Ping
    schema_version
      Value error, unknown schema_version 2: this reader knows versions 1 to 1 ...

    The published JSON schema says the same, so an API client generated from it never
    sends a version the server refuses:

    >>> Ping.model_json_schema()["properties"]["schema_version"]["maximum"]
    1
    """

    # cache_strings="keys": pydantic-core otherwise keeps up to 16,384 recently decoded
    # string *values* (provider ids, ...) alive for good, scattered over the heap; after
    # the windows stage forgot 100,000 idle keys they pinned ~860 MB of otherwise empty
    # allocator arenas (issue 17). Field names (keys) are few and still cached.
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        allow_inf_nan=False,
        populate_by_name=True,
        cache_strings="keys",
    )

    EVENT_TIME_FIELD: ClassVar[str | None] = "ts_ms"

    SCHEMA_VERSION: ClassVar[int] = 1

    schema_version: int = Field(default=1, ge=1)

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, value: int) -> int:
        if value > cls.SCHEMA_VERSION:
            raise ValueError(
                f"unknown schema_version {value}: this reader knows versions 1 to "
                f"{cls.SCHEMA_VERSION}"
            )
        return value

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        """Publish ``SCHEMA_VERSION`` as the ``maximum`` of ``schema_version``."""
        json_schema = handler(core_schema)
        properties: dict[str, Any] = handler.resolve_ref_schema(json_schema).get("properties", {})
        if "schema_version" in properties:
            properties["schema_version"]["maximum"] = cls.SCHEMA_VERSION
        return json_schema
