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

import ssl
from typing import Any

from config.settings import Settings

__all__ = ["client_options", "sasl_password", "ssl_context", "uses_sasl"]


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
