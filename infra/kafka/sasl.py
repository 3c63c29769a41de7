"""A SASL_SSL listener for a local broker: TLS material from ``keytool``, SCRAM users.

What a production cluster looks like from a client (TLS with a private CA, SCRAM-SHA-512
usernames and passwords), on the local broker of :mod:`infra.kafka.broker`, beside its
PLAINTEXT listener: :func:`make_listener` writes the broker's keystore (a certificate for
``127.0.0.1`` and ``localhost``) into a folder with the JDK's ``keytool``, and the
clients' trust as a PEM file (``ca.pem``: ``COMPUTEPERF_KAFKA_SSL_CAFILE``); the users are
created in the cluster's metadata when its storage is formatted (``kafka-storage format
--add-scram``).

>>> listener = SaslSslListener(
...     port=9094, keystore=Path("/k/broker.p12"), store_password="pw", ca_pem=Path("/k/ca.pem"),
...     users=(("svc", "secret"),),
... )
>>> listener.format_args()
['--add-scram', 'SCRAM-SHA-512=[name=svc,password=secret]']
>>> [line for line in listener.properties() if "mechanisms" in line]
['listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512']
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["MECHANISM", "NAME", "SaslSslListener", "make_listener"]

NAME = "SASL_SSL"
MECHANISM = "SCRAM-SHA-512"


@dataclass(frozen=True)
class SaslSslListener:
    """The broker's extra SASL_SSL listener: its port, TLS keystore and SCRAM users."""

    port: int
    keystore: Path
    store_password: str
    ca_pem: Path
    users: tuple[tuple[str, str], ...]

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def properties(self) -> list[str]:
        """``server.properties`` lines of the listener (its address goes in ``listeners``)."""
        prefix = f"listener.name.{NAME.lower()}"
        return [
            f"{prefix}.sasl.enabled.mechanisms={MECHANISM}",
            f"{prefix}.{MECHANISM.lower()}.sasl.jaas.config="
            "org.apache.kafka.common.security.scram.ScramLoginModule required;",
            f"{prefix}.ssl.keystore.type=PKCS12",
            f"{prefix}.ssl.keystore.location={self.keystore}",
            f"{prefix}.ssl.keystore.password={self.store_password}",
            f"{prefix}.ssl.key.password={self.store_password}",
        ]

    def format_args(self) -> list[str]:
        """``kafka-storage format`` arguments that create the SCRAM users."""
        args = []
        for name, password in self.users:
            args += ["--add-scram", f"{MECHANISM}=[name={name},password={password}]"]
        return args


def _keytool(*args: str) -> None:
    keytool = shutil.which("keytool")
    if keytool is None:
        raise RuntimeError("the JDK's keytool is needed to make a TLS keystore; install a JDK")
    done = subprocess.run([keytool, *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"keytool {args[0]} failed: {done.stdout}{done.stderr}")


def make_listener(
    folder: Path, port: int, users: tuple[tuple[str, str], ...], days: int = 2
) -> SaslSslListener:
    """Write the broker's keystore and the clients' trust (``ca.pem``) into ``folder``.

    The broker's certificate is its own CA (self-signed: two ``keytool`` runs instead of
    seven for a CA that signs it, which matters in a test), names ``127.0.0.1`` and
    ``localhost`` so that clients check the host name as in production, and is valid for
    ``days`` days.
    """
    folder.mkdir(parents=True, exist_ok=True)
    password = secrets.token_hex(12)
    keystore, ca_pem = folder / "broker.p12", folder / "ca.pem"
    store = ["-keystore", str(keystore), "-storetype", "PKCS12", "-storepass", password]
    _keytool("-genkeypair", "-alias", "broker", "-dname", "CN=localhost", "-keyalg", "RSA",
             "-keysize", "2048", "-validity", str(days), "-ext", "SAN=ip:127.0.0.1,dns:localhost",
             *store)  # fmt: skip
    _keytool("-exportcert", "-rfc", "-alias", "broker", "-file", str(ca_pem), *store)
    return SaslSslListener(port, keystore, password, ca_pem, users)
