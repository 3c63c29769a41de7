"""Faust codecs for the schema records (kept here: ``schemas/`` never imports faust).

Output topics are declared with ``value_serializer=codec_name(Record)``; inputs are read
raw and decoded with :func:`schemas.decode` inside the agents, so that a bad record can be
dead-lettered with its partition, offset and reason instead of crashing the stream.

>>> from schemas import Alert
>>> register_codecs()
>>> codec_name(Alert)
'computeperf.Alert'
"""

from __future__ import annotations

from typing import Any

from faust.serializers import codecs

from schemas import TOPIC_RECORDS, Record, decode, encode


class RecordCodec(codecs.Codec):
    """Serialize one pydantic record type as compact JSON."""

    def __init__(self, model: type[Record], **kwargs: Any) -> None:
        self.model = model
        super().__init__(model=model, **kwargs)

    def _dumps(self, obj: Any) -> bytes:
        return encode(obj)

    def _loads(self, s: bytes) -> Any:
        return decode(self.model, s)


class Utf8Codec(codecs.Codec):
    """Keys of output records as plain UTF-8 bytes, as other Kafka clients expect."""

    def _dumps(self, obj: Any) -> bytes:
        return obj.encode() if isinstance(obj, str) else bytes(obj)

    def _loads(self, s: bytes) -> Any:
        return s.decode()


def codec_name(model: type[Record]) -> str:
    """Return the registered codec name of a record type."""
    return f"computeperf.{model.__name__}"


def register_codecs() -> None:
    """Register a codec per record type and the ``utf8`` key codec (idempotent)."""
    codecs.register("utf8", Utf8Codec())
    for model in set(TOPIC_RECORDS.values()):
        codecs.register(codec_name(model), RecordCodec(model))
