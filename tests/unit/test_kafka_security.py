"""Issue 17: TLS and SASL settings reach every client (config/kafka.py, Faust, child workers)."""

from __future__ import annotations

from pathlib import Path

import pytest
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from pydantic import ValidationError

from config.kafka import client_options
from config.settings import Settings
from infra.kafka import broker as kafka
from infra.kafka.sasl import SaslSslListener
from streams.app import create_app
from streams.workers import settings_env

SASL = {
    "kafka_bootstrap_servers": "b1:9093,b2:9093",
    "kafka_security_protocol": "SASL_SSL",
    "kafka_sasl_username": "svc",
    "kafka_sasl_password": "s3cret",
}


def test_sasl_without_credentials_is_refused_at_start_up() -> None:
    with pytest.raises(ValidationError, match="kafka_sasl_username and kafka_sasl_password"):
        Settings(kafka_security_protocol="SASL_SSL", kafka_sasl_username="svc")


def test_password_is_secret_in_repr_but_reaches_the_clients() -> None:
    settings = Settings(**SASL)  # type: ignore[arg-type]
    assert "s3cret" not in repr(settings)
    options = client_options(settings)
    assert options["bootstrap_servers"] == "b1:9093,b2:9093"
    assert options["sasl_plain_password"] == "s3cret"
    assert options["ssl_context"].check_hostname is True


def test_sasl_plaintext_has_no_tls_and_ssl_has_no_sasl() -> None:
    plain = client_options(Settings(**{**SASL, "kafka_security_protocol": "SASL_PLAINTEXT"}))  # type: ignore[arg-type]
    assert "ssl_context" not in plain and plain["sasl_mechanism"] == "SCRAM-SHA-512"
    tls = client_options(Settings(kafka_security_protocol="SSL", kafka_ssl_check_hostname=False))
    assert "sasl_mechanism" not in tls and tls["ssl_context"].check_hostname is False


def test_faust_clients_get_the_same_credentials() -> None:
    app = create_app(Settings(**{**SASL, "kafka_sasl_mechanism": "PLAIN"}))  # type: ignore[arg-type]
    auth = credentials_to_aiokafka_auth(app.conf.broker_credentials, app.conf.ssl_context)
    assert auth["security_protocol"] == "SASL_SSL"
    assert auth["sasl_mechanism"] == "PLAIN"
    assert (auth["sasl_plain_username"], auth["sasl_plain_password"]) == ("svc", "s3cret")
    assert auth["ssl_context"] is not None
    assert [str(u) for u in app.conf.broker] == ["kafka://b1:9093", "kafka://b2:9093"]


def test_a_child_worker_builds_the_same_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(**{**SASL, "kafka_ssl_cafile": Path("/etc/ca.pem")})  # type: ignore[arg-type]
    for name, value in settings_env(settings, base={}).items():
        monkeypatch.setenv(name, value)
    assert Settings() == settings


def test_broker_properties_add_a_sasl_ssl_listener() -> None:
    listener = SaslSslListener(
        port=9094,
        keystore=Path("/k/broker.p12"),
        store_password="pw",
        ca_pem=Path("/k/ca.pem"),
        users=(("svc", "s3cret"),),
    )
    text = kafka.render_properties(
        port=9092, controller_port=9093, log_dir=Path("/k"), sasl_ssl=listener
    )
    props = dict(line.split("=", 1) for line in text.splitlines() if line)
    assert props["listeners"].endswith(",SASL_SSL://127.0.0.1:9094")
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:9092,SASL_SSL://127.0.0.1:9094"
    assert "SASL_SSL:SASL_SSL" in props["listener.security.protocol.map"]
    assert props["listener.name.sasl_ssl.ssl.keystore.location"] == "/k/broker.p12"
    assert props["inter.broker.listener.name"] == "PLAINTEXT"
    assert "SASL_SSL" not in kafka.render_properties(
        port=9092, controller_port=9093, log_dir=Path("/k")
    )
