"""How our Kafka clients connect: the one place that turns settings into client options.

Every aiokafka client of ours (producers, consumers, admin clients) is built with
``**client_options(settings)``, and the Faust app with :func:`ssl_context` and the SASL
settings (``streams/app.py``), so the bootstrap list, TLS and SASL settings reach every
connection, or none.

>>> client_options(Settings(kafka_bootstrap_servers="b1:9092,b2:9092"))
{'bootstrap_servers': 'b1:9092,b2:9092', 'security_protocol': 'PLAINTEXT'}
>>> sasl = Settings(
...     kafka_security_protocol="SASL_SSL", kafka_sasl_username="svc", kafka_sasl_password="pw"
... )
>>> options = client_options(sasl)
>>> options["sasl_mechanism"], options["sasl_plain_username"], options["sasl_plain_password"]
('SCRAM-SHA-512', 'svc', 'pw')
>>> options["ssl_context"].verify_mode.name
'CERT_REQUIRED'
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from config.settings import Settings

__all__ = [
    "KafkaConnectError",
    "client_options",
    "connect_error",
    "sasl_password",
    "ssl_context",
    "start_client",
    "uses_sasl",
]


def uses_sasl(settings: Settings) -> bool:
    """True when the brokers authenticate this client by SASL username and password."""
    return settings.kafka_security_protocol.startswith("SASL_")


def sasl_password(settings: Settings) -> str | None:
    """The SASL password in clear (``Settings`` keeps it a ``SecretStr``: never logged)."""
    secret = settings.kafka_sasl_password
    return secret.get_secret_value() if secret is not None else None


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context of ``SSL`` and ``SASL_SSL`` (None otherwise).

    Verifies the brokers' certificates against ``kafka_ssl_cafile`` (the system's CAs when
    unset) and their host names unless ``kafka_ssl_check_hostname`` is false; presents
    ``kafka_ssl_certfile``/``kafka_ssl_keyfile`` when set (clusters that require mTLS).
    """
    if not settings.kafka_security_protocol.endswith("SSL"):
        return None
    cafile = settings.kafka_ssl_cafile
    context = ssl.create_default_context(cafile=str(cafile) if cafile else None)
    context.check_hostname = settings.kafka_ssl_check_hostname
    if settings.kafka_ssl_certfile is not None:
        keyfile = settings.kafka_ssl_keyfile
        context.load_cert_chain(str(settings.kafka_ssl_certfile), str(keyfile) if keyfile else None)
    return context


def client_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``AIOKafkaProducer``/``AIOKafkaConsumer``/``AIOKafkaAdminClient``."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "security_protocol": settings.kafka_security_protocol,
    }
    context = ssl_context(settings)
    if context is not None:
        options["ssl_context"] = context
    if uses_sasl(settings):
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        options["sasl_plain_password"] = sasl_password(settings)
    return options


class KafkaConnectError(RuntimeError):
    """No broker of the bootstrap list took this client, with the first broker's reason."""


async def refusal(settings: Settings, timeout_s: float = 15.0) -> str | None:
    """Why the first bootstrap broker refuses a connection with these settings, or None.

    aiokafka only logs the reason (a failed SASL login, an untrusted certificate) and
    raises "Unable to bootstrap"; one direct connection with the same options says why.
    """
    from aiokafka.conn import create_conn
    from aiokafka.errors import KafkaError

    first = settings.kafka_bootstrap_servers.split(",")[0].strip()
    host, _, port = first.rpartition(":")
    options = client_options(settings)
    del options["bootstrap_servers"]
    try:
        conn = await asyncio.wait_for(
            create_conn(host, int(port), request_timeout_ms=int(timeout_s * 1000), **options),
            timeout_s,
        )
    except (OSError, TimeoutError, KafkaError) as exc:
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    conn.close()
    return None


async def connect_error(settings: Settings, error: BaseException) -> KafkaConnectError:
    """A :class:`KafkaConnectError` naming the address, protocol, user and the refusal.

    For a client whose ``start()`` failed with ``error`` (``KafkaConnectionError``).
    """
    user = f" as {settings.kafka_sasl_username!r}" if uses_sasl(settings) else ""
    mechanism = f" {settings.kafka_sasl_mechanism}" if uses_sasl(settings) else ""
    reason = await refusal(settings) or str(error)
    return KafkaConnectError(
        f"cannot connect to Kafka at {settings.kafka_bootstrap_servers} over "
        f"{settings.kafka_security_protocol}{mechanism}{user}: {reason} "
        "(COMPUTEPERF_KAFKA_* settings; README: Production cluster)"
    )


async def start_client(client: Any, settings: Settings) -> None:
    """Start an aiokafka producer, consumer or admin client built from ``settings``.

    When no broker takes it, the client is stopped and :class:`KafkaConnectError` says
    why (:func:`connect_error`) instead of aiokafka's bare "Unable to bootstrap".
    """
    from aiokafka.errors import KafkaConnectionError

    try:
        await client.start()
    except KafkaConnectionError as exc:
        await (client.stop() if hasattr(client, "stop") else client.close())
        raise await connect_error(settings, exc) from exc
