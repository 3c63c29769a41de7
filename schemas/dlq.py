"""Dead-letter records: messages that could not be processed, kept byte for byte."""

from __future__ import annotations

from pydantic import ConfigDict

from schemas.base import NonEmptyStr, NonNegInt, Record, TsMs

__all__ = ["MAX_KEY_BYTES", "MAX_MESSAGE_BYTES", "MAX_VALUE_BYTES", "DeadLetter"]

#: ``max.message.bytes`` of ``perf.dlq`` (``streams/topics.py`` sets it on the topic) and
#: the most a dead letter may take on the wire.
MAX_MESSAGE_BYTES = 1024 * 1024
#: Raw bytes of the original key and value a dead letter keeps. Base64 makes them 4/3 as
#: large in JSON; with the reason (at most 2,000 characters) and the envelope a dead letter
#: of the largest input stays well below :data:`MAX_MESSAGE_BYTES` (a unit test checks).
MAX_KEY_BYTES = 1024
MAX_VALUE_BYTES = 512 * 1024


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
        ``"future"``, ``"range"``, ``"internal"``, ...
    key_bytes, value_bytes : int or None
        Size of the original key or value when ``key`` or ``value`` holds only its first
        bytes (:meth:`wrap` truncates what would not fit the topic); ``None``: kept whole.

    Examples
    --------
    >>> d = DeadLetter(source_topic="telemetry.provider", partition=0, offset=7,
    ...                ts_ms=1_700_000_000_000, key=None, value=b"\\xff{", reason="bad JSON",
    ...                error_type="json")
    >>> DeadLetter.model_validate_json(d.model_dump_json()).value
    b'\\xff{'
    >>> big = DeadLetter.wrap(source_topic="telemetry.provider", partition=0, offset=8,
    ...                       ts_ms=1_700_000_000_000, key=b"p-1", value=b"x" * 2_000_000,
    ...                       reason="bad JSON", error_type="json")
    >>> len(big.value), big.value_bytes, big.key_bytes
    (524288, 2000000, None)
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
    key_bytes: NonNegInt | None = None
    value_bytes: NonNegInt | None = None

    @classmethod
    def wrap(
        cls,
        *,
        source_topic: str,
        partition: int,
        offset: int,
        ts_ms: int,
        key: bytes | None,
        value: bytes,
        reason: str,
        error_type: str,
    ) -> DeadLetter:
        """A dead letter of raw ``key`` and ``value``, cut to what the topic can hold.

        A record as large as the input topic allows, wrapped whole, would exceed the
        dead-letter topic's message size (base64 and the envelope add a third): sending it
        fails and, before this, stopped the agent. The first :data:`MAX_KEY_BYTES` /
        :data:`MAX_VALUE_BYTES` are kept, the original sizes recorded, and the reason
        says so.
        """
        cut_key = key is not None and len(key) > MAX_KEY_BYTES
        cut_value = len(value) > MAX_VALUE_BYTES
        if cut_key or cut_value:
            sizes = f"key {len(key or b'')} B, value {len(value)} B"
            reason = f"{reason[:1800]} (truncated to fit the dead-letter topic: {sizes})"
        return cls(
            source_topic=source_topic,
            partition=partition,
            offset=offset,
            ts_ms=ts_ms,
            key=key[:MAX_KEY_BYTES] if key is not None else None,
            value=value[:MAX_VALUE_BYTES],
            reason=reason[:2000],
            error_type=error_type,
            key_bytes=len(key) if cut_key and key is not None else None,
            value_bytes=len(value) if cut_value else None,
        )
