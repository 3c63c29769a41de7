"""The one frozen settings object, built at start-up and passed down.

Every value can be set from the environment with the ``COMPUTEPERF_`` prefix
(``COMPUTEPERF_WINDOW_S=30``); the broker address also honours the conventional
``KAFKA_BOOTSTRAP_SERVERS``. Nothing else reads ``os.environ``.

>>> s = Settings(topic_prefix="t1.", kafka_bootstrap_servers="127.0.0.1:9092")
>>> s.topic("perf.metrics")
't1.perf.metrics'
>>> s.window_ms, s.grace_ms
(60000, 10000)
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from config.tokens import parse_tokens

_ROOT = Path(__file__).resolve().parent.parent
# The shipped defaults of the approval policy book and the budget book (package data).
DEFAULT_POLICIES_PATH = _ROOT / "workflow" / "policies" / "default.yaml"
DEFAULT_BUDGETS_PATH = _ROOT / "alerts" / "budget_books" / "default.yaml"

ALL_AGENTS = ("windows", "alerts", "anomalies", "fleet", "reports", "api")
# Roles a worker runs only when named in ``agents`` (not part of the default set).
OPTIONAL_AGENTS = ("analysis", "recommendations", "approvals", "budgets")


class Settings(BaseSettings):
    """Configuration of a computeperf process (worker, simulator, CLI)."""

    model_config = SettingsConfigDict(env_prefix="COMPUTEPERF_", frozen=True, extra="ignore")

    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:19092",
        validation_alias=AliasChoices(
            "KAFKA_BOOTSTRAP_SERVERS",
            "COMPUTEPERF_KAFKA_BOOTSTRAP_SERVERS",
            "kafka_bootstrap_servers",
        ),
    )
    # How every client of ours (Faust's and the plain aiokafka ones: config/kafka.py) talks
    # to the brokers: TLS with the CA file (system CAs when unset) and a client certificate
    # when the cluster asks for one; SASL with a username and password (README:
    # "Production cluster").
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None
    kafka_ssl_certfile: Path | None = None
    kafka_ssl_keyfile: Path | None = None
    kafka_ssl_check_hostname: bool = True
    app_id: str = "computeperf"
    # Which agents this worker runs (a worker role). Workers with the same role set form
    # one consumer group; a stage can so be scaled on its own (docs/architecture.md).
    agents: str = ",".join(ALL_AGENTS)
    topic_prefix: str = ""
    partitions: int = Field(default=4, ge=1)
    # Copies of every topic of ours and of Faust's changelogs (3 on a cluster of 3 or more
    # brokers), and how many of them must hold a record before it is acknowledged (acks=all):
    # unset, 2 with 3 copies or more, else 1 (``topic_min_insync_replicas``).
    replication_factor: int = Field(default=1, ge=1)
    min_insync_replicas: int | None = Field(default=None, ge=1)
    telemetry_retention_ms: int = 7 * 24 * 3600 * 1000
    data_dir: Path = Path(".cache/faust")
    store: str = "memory://"
    web_host: str = "127.0.0.1"
    web_port: int = 6066

    session_timeout_s: float = Field(default=30.0, ge=6.0)
    # The longest a worker waits for the broker to acknowledge a durable write (output,
    # changelog, dead letter) before it exits with EXIT_WRITE_STALLED: nothing after the
    # write is committed, so a restart reprocesses it (agents/outputs.py).
    durable_write_timeout_s: float = Field(default=90.0, gt=0)

    window_s: int = Field(default=60, ge=1)
    grace_s: int = Field(default=10, ge=0)
    idle_close_s: float = Field(default=15.0, gt=0)
    max_future_s: int = Field(default=300, ge=0)
    # How far ahead of the worker's clock one sample may move its partition's event time
    # (the watermark is that less grace): a provider whose clock runs fast must not make its
    # neighbours' samples late. 0: the watermark never passes the worker's clock less grace,
    # so only a sample older than grace when it is processed can be late.
    watermark_max_lead_s: float = Field(default=0.0, ge=0)
    # Window state of a key whose windows all closed is forgotten (and tombstoned in the
    # changelog) after this long without a sample, and at once beyond this many keys per
    # worker, least recently seen first; keys with open windows are never forgotten. The
    # alert agent forgets an entity after this long without a window too (event time, and
    # never before its absence rules fired), resolving its firing alerts as "forgotten".
    state_evict_after_s: float = Field(default=3600.0, gt=0)
    state_max_keys: int = Field(default=200_000, ge=1)
    # Throughput knobs (measured with `computeperf bench pipeline`, see docs/benchmarks.md).
    batch_max: int = Field(default=10_000, ge=1)
    batch_within_s: float = Field(default=0.2, gt=0)
    poll_max_records: int = Field(default=20_000, ge=1)
    fetch_max_bytes_per_partition: int = Field(default=8 * 1024 * 1024, ge=1024)
    stream_buffer_maxsize: int = Field(default=16_384, ge=1)

    rules_path: Path | None = None
    anomaly_threshold: float = Field(default=0.9, gt=0, le=1)
    # Decoded detector states the anomaly agent keeps (LRU; 0: off, every window decodes
    # its entity's table value). Each costs ~1.9 MB of memory (21 features, after a
    # simulated week: `computeperf bench anomaly-stage`), so the default bounds a worker's
    # cache at ~250 MB; a hit saves the decode (~9.5 ms of CPU of ~19 per window). Windows
    # arrive round-robin over the entities, so an LRU smaller than a worker's share of them
    # never hits: size it to that share (1,000 providers over 8 workers: 128), or set 0.
    anomaly_cache_entities: int = Field(default=128, ge=0)
    temp_alert_p95_c: float = 85.0
    temp_alert_for_windows: int = Field(default=2, ge=1)
    temp_alert_resolve_windows: int = Field(default=1, ge=1)
    # Alertmanager v2 API base URL (http://host:9093); unset = no push, the topic only.
    alertmanager_url: str | None = None
    alertmanager_firing_ttl_s: float = Field(default=3600.0, ge=4.0)

    # Reports (cli/report.py, agents/reports.py): e-mailed when both are set.
    smtp_host: str | None = None
    smtp_port: int = Field(default=25, ge=1, le=65535)
    report_sender: str = "computeperf@localhost"
    report_recipients: str = ""  # comma-separated addresses
    report_daily_cron: str = "15 0 * * *"  # UTC: yesterday's report at 00:15
    report_weekly_cron: str = "30 0 * * 1"  # UTC: last week's report on Mondays

    # Recommendations role (agents/recommendations.py): batch by count or time.
    reco_batch_max: int = Field(default=100, ge=1)
    reco_batch_s: float = Field(default=2.0, gt=0)
    reco_time_limit_s: float = Field(default=1.0, gt=0)
    reco_ttl_s: int = Field(default=900, ge=1)
    reco_model_path: Path | None = None
    reco_migration_horizon_h: float = Field(default=4.0, gt=0)
    reco_migration_downtime_s: float = Field(default=300.0, ge=0)
    # Approvals role (agents/approvals.py): the policy book (YAML, workflow/policy.py), how
    # long a proposal waits for its workload's tenant to be known, how often waiting
    # proposals are checked for expiry.
    approval_policies: Path = DEFAULT_POLICIES_PATH
    approval_tenant_wait_s: float = Field(default=1.0, ge=0)
    approval_sweep_s: float = Field(default=10.0, gt=0)
    # Budgets role (agents/budgets.py): the budget file (YAML, alerts/budget_book.py;
    # COMPUTEPERF_BUDGETS), how long after start-up (or a recovery) workload windows may
    # wait for their workload's tenant (the lifecycle agent catching up).
    budgets_path: Path = Field(
        default=DEFAULT_BUDGETS_PATH,
        validation_alias=AliasChoices(
            "COMPUTEPERF_BUDGETS", "COMPUTEPERF_BUDGETS_PATH", "budgets_path"
        ),
    )
    budget_tenant_wait_s: float = Field(default=5.0, ge=0)
    # Analysis role: telemetry sampling interval (availability = samples / expected) and
    # the longest a fleet window waits for provider windows from the windows stage.
    sample_interval_ms: int = Field(default=1000, ge=1)
    analysis_settle_s: float = Field(default=30.0, ge=0)
    leaderboard_horizon_windows: int = Field(default=60, ge=1)
    leaderboard_min_windows: int = Field(default=10, ge=1)

    # HTTP API bearer tokens, "token:role" pairs (roles reader, operator). The defaults
    # are for a developer's machine (`make run` prints them); set real ones elsewhere.
    api_tokens: str = "dev-operator:operator,dev-reader:reader"
    # Largest request body the API reads (413 beyond) and how long it waits for it (408).
    api_max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    api_body_timeout_s: float = Field(default=10.0, gt=0)
    # Requests one token may make to the routes that change things (POSTs of role
    # operator) per interval (429 with Retry-After beyond); 0 = unlimited.
    api_write_limit: int = Field(default=30, ge=0)
    api_write_interval_s: float = Field(default=60.0, gt=0)

    @field_validator("agents")
    @classmethod
    def _known_agents(cls, value: str) -> str:
        names = [n.strip() for n in value.split(",") if n.strip()]
        known = ALL_AGENTS + OPTIONAL_AGENTS
        unknown = sorted(set(names) - set(known))
        if unknown or not names:
            raise ValueError(f"agents must be a comma list of {known}, got {value!r}")
        return ",".join(n for n in known if n in names)

    @field_validator("api_tokens")
    @classmethod
    def _valid_tokens(cls, value: str) -> str:
        parse_tokens(value)
        return value

    @model_validator(mode="after")
    def _sasl_has_credentials(self) -> Settings:
        if self.kafka_security_protocol.startswith("SASL_") and not (
            self.kafka_sasl_username and self.kafka_sasl_password
        ):
            raise ValueError(
                f"kafka_security_protocol={self.kafka_security_protocol} needs "
                "kafka_sasl_username and kafka_sasl_password"
            )
        return self

    @model_validator(mode="after")
    def _isr_within_replicas(self) -> Settings:
        if (self.min_insync_replicas or 1) > self.replication_factor:
            raise ValueError(
                f"min_insync_replicas={self.min_insync_replicas} exceeds "
                f"replication_factor={self.replication_factor}: no write could be accepted"
            )
        return self

    @property
    def topic_min_insync_replicas(self) -> int:
        """``min.insync.replicas`` of the topics we create: one copy may be lost, not two.

        >>> [Settings(replication_factor=r).topic_min_insync_replicas for r in (1, 2, 3, 5)]
        [1, 1, 2, 2]
        >>> Settings(replication_factor=5, min_insync_replicas=3).topic_min_insync_replicas
        3
        """
        if self.min_insync_replicas is not None:
            return self.min_insync_replicas
        return 2 if self.replication_factor >= 3 else 1

    @property
    def agent_set(self) -> frozenset[str]:
        """The agents this worker runs."""
        return frozenset(self.agents.split(","))

    @property
    def group_id(self) -> str:
        """Consumer group (and table namespace) of this worker's role.

        >>> Settings(agents="windows,alerts").group_id
        'computeperf-windows.alerts'
        """
        if self.agent_set == frozenset(ALL_AGENTS):
            return self.app_id
        return f"{self.app_id}-{self.agents.replace(',', '.')}"

    @property
    def watermark_max_lead_ms(self) -> int:
        return int(self.watermark_max_lead_s * 1000)

    @property
    def window_ms(self) -> int:
        return self.window_s * 1000

    @property
    def grace_ms(self) -> int:
        return self.grace_s * 1000

    @property
    def max_future_ms(self) -> int:
        return self.max_future_s * 1000

    def topic(self, name: str) -> str:
        """Return the physical name of a logical topic (with this run's prefix)."""
        return f"{self.topic_prefix}{name}"
