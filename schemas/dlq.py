"""Dead-letter records: messages that could not be processed, kept byte for byte."""

from pydantic import ConfigDict

from schemas.base import NonEmptyStr, NonNegInt, Record, TsMs

__all__ = ["DeadLetter"]


class DeadLetter(Record):
    """A message diverted to the dead-letter topic, with why it was rejected.

    ``key`` and ``value`` hold the original raw bytes (which need not be valid
    UTF-8), so in JSON they are base64-encoded (pydantic emits the URL-safe
    alphabet and accepts both the standard and the URL-safe one).

    Attributes
    ----------
    source_topic : str
        Topic the message was read from.
    partition, offset : int
        Its position in that topic.
    ts_ms : int
        When it was dead-lettered, UTC epoch milliseconds.
    key : bytes or None
        Original message key.
    value : bytes
        Original message value.
    reason : str
        Human-readable explanation.
    error_type : str
        Machine-readable class: ``"json"``, ``"validation"``, ``"late"``,
        ``"future"``, ``"duplicate"``, ...

    Examples
    --------
    >>> d = DeadLetter(source_topic="telemetry.provider", partition=0, offset=7,
    ...                ts_ms=1_700_000_000_000, key=None, value=b"\\xff{", reason="bad JSON",
    ...                error_type="json")
    >>> DeadLetter.model_validate_json(d.model_dump_json()).value
    b'\\xff{'
    """

    model_config = ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")

    source_topic: NonEmptyStr
    partition: NonNegInt
    offset: NonNegInt
    ts_ms: TsMs
    key: bytes | None = None
    value: bytes
    reason: NonEmptyStr
    error_type: NonEmptyStr
