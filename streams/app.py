"""The Faust app factory: ``create_app(settings)`` builds a fresh app with every agent.

No module-level app: tests, benchmarks and the CLI each build their own
(faust#331 "attached to a different loop", duplicated Prometheus timeseries).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import faust
from prometheus_client import CONTENT_TYPE_LATEST

from agents.alerting import register_alert_agent
from agents.alertmanager import AlertmanagerClient
from agents.analysis import register_analysis_agents
from agents.anomalies import register_anomaly_agent
from agents.approvals import register_approval_agents
from agents.budgets import register_budget_agents
from agents.fleet import register_fleet_agents
from agents.outputs import owns_dead_letters
from agents.recommendations import register_recommendation_agents
from agents.reports import register_report_jobs
from agents.windows import WindowAggregator, register_window_agent
from alerts.rule_files import load_rules
from alerts.rules import Rule, ThresholdRule
from api.agent import create_read_model, register_read_model_agent
from api.security import install_security_headers
from api.views import register_api, register_guarded_page
from config.kafka import sasl_password, ssl_context, uses_sasl
from config.metrics import PipelineMetrics
from config.settings import Settings
from models.fleet import FleetView
from schemas import (
    Alert,
    Anomaly,
    DeadLetter,
    EntityType,
    Insight,
    MetricWindow,
    ProviderSample,
    SloStatus,
    TenantBudgetStatus,
)
from schemas.recommendations import Recommendation
from streams import heap_snapshots
from streams.codec import codec_name, register_codecs
from streams.durable_producer import DurableProducer
from streams.monitor import LeanMonitor
from streams.recovery import ComputeperfTableManager
from streams.topics import ensure_topics
from streams.transport import FastHandoffConsumer

# Every rule file of alerts/rules/ (thresholds, outages, anomalies, SLO burn rates, budgets).
DEFAULT_RULES = Path(__file__).resolve().parent.parent / "alerts" / "rules"


class ComputeperfApp(faust.App):
    """A Faust app that creates the topic registry's topics before anything subscribes."""

    settings: Settings
    pipeline_metrics: PipelineMetrics

    def _new_transport(self) -> Any:
        transport = super()._new_transport()
        transport.Consumer = FastHandoffConsumer  # type: ignore[misc]
        # acks=all and idempotence on Faust's producer too (issue 17, defect 4).
        transport.Producer = DurableProducer  # type: ignore[misc]
        return transport

    async def on_start(self) -> None:
        # PYTHONTRACEMALLOC=1: heap snapshots on SIGUSR2 (bench soak --tracemalloc).
        heap_snapshots.install(Path(self.settings.data_dir))
        created = await ensure_topics(self.settings)
        if created:
            self.log.info("created topics: %s", ", ".join(created))
        # Table writes are buffered send_soon()s; Faust's default of 100 pending makes a
        # batch of changelog writes stall the conductor (faust#173).
        self.producer.buffer.max_messages = max(1000, self.settings.batch_max)
        await super().on_start()


def provider_values(sample: ProviderSample) -> dict[str, float | None]:
    """The numeric fields of a provider sample that windows aggregate."""
    return {name: getattr(sample, name) for name in ProviderSample.NUMERIC_FIELDS}


def temperature_rule(settings: Settings) -> list[Rule]:
    """The default rules with the temperature limit and durations taken from settings."""
    rules = load_rules(settings.rules_path or DEFAULT_RULES)
    if settings.rules_path is not None:
        return rules
    return [
        r.model_copy(
            update={
                "threshold": settings.temp_alert_p95_c,
                "for_windows": settings.temp_alert_for_windows,
                "resolve_windows": settings.temp_alert_resolve_windows,
                "resolve_threshold": min(r.effective_resolve_threshold, settings.temp_alert_p95_c),
            }
        )
        if isinstance(r, ThresholdRule) and r.metric == "gpu_temp_c.p95"
        else r
        for r in rules
    ]


def alertmanager_client(settings: Settings) -> AlertmanagerClient | None:
    """The Alertmanager pusher when ``COMPUTEPERF_ALERTMANAGER_URL`` is set."""
    if not settings.alertmanager_url:
        return None
    return AlertmanagerClient(
        settings.alertmanager_url, firing_ttl_s=settings.alertmanager_firing_ttl_s
    )


def broker_credentials(settings: Settings) -> faust.types.auth.CredentialsT | None:
    """Faust's credentials for the TLS and SASL settings (:mod:`config.kafka`), or None.

    >>> broker_credentials(Settings()) is None
    True
    >>> broker_credentials(Settings(kafka_security_protocol="SSL")).protocol.value
    'SSL'
    >>> broker_credentials(
    ...     Settings(kafka_security_protocol="SASL_SSL", kafka_sasl_username="svc",
    ...              kafka_sasl_password="pw")
    ... )
    <SASLCredentials: username=svc>
    """
    context = ssl_context(settings)
    if uses_sasl(settings):
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username,
            password=sasl_password(settings),
            ssl_context=context,
            mechanism=settings.kafka_sasl_mechanism,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None


def create_app(settings: Settings | None = None, **faust_options: Any) -> ComputeperfApp:
    """Build a worker app: topics, tables, agents, timers and the ``/metrics`` page."""
    settings = settings or Settings()
    register_codecs()
    app = ComputeperfApp(
        settings.group_id,
        broker=f"kafka://{settings.kafka_bootstrap_servers}",
        broker_credentials=broker_credentials(settings),
        store=settings.store,
        datadir=str(settings.data_dir),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        topic_allow_declare=True,
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_in_thread=False,
        producer_acks=-1,
        broker_max_poll_records=settings.poll_max_records,
        consumer_max_fetch_size=settings.fetch_max_bytes_per_partition,
        stream_buffer_maxsize=settings.stream_buffer_maxsize,
        consumer_auto_offset_reset="earliest",
        table_standby_replicas=0,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=min(3.0, settings.session_timeout_s / 3),
        # Faust's /table/ pages would serve every table, the API's read model included,
        # to anyone: the HTTP API (with its tokens) is the way in.
        web_tables_enabled=False,
        # Recovery that does not drop the first input records after it (faust#596).
        TableManager=ComputeperfTableManager,
        # aiohttp's own body limit (request.read()) at the API's: no page reads more.
        web_application_options={"client_max_size": settings.api_max_body_bytes},
        # Faust's monitor books every record four times for /stats pages we do not serve.
        Monitor=LeanMonitor,
        **faust_options,
    )
    app.settings = settings
    metrics = app.pipeline_metrics = PipelineMetrics()

    def out_topic(name: str, record: type[Any]) -> Any:
        return app.topic(
            settings.topic(name),
            key_serializer="utf8",
            value_serializer=codec_name(record),
            partitions=settings.partitions,
        )

    def in_topic(name: str) -> Any:
        return app.topic(
            settings.topic(name),
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
            partitions=settings.partitions,
        )

    refresh_fleet = register_roles(app, settings, metrics, in_topic, out_topic)
    register_pages(app, settings, metrics, refresh_fleet)
    return app


def register_roles(
    app: ComputeperfApp,
    settings: Settings,
    metrics: PipelineMetrics,
    in_topic: Callable[[str], Any],
    out_topic: Callable[[str, type[Any]], Any],
) -> Callable[[], None] | None:
    """Register the agents, tables and timers of every role in ``settings.agents``.

    Returns the fleet gauges' refresh (for ``/metrics``) when the ``fleet`` role runs.
    """
    metrics_topic = out_topic("perf.metrics", MetricWindow)
    alerts_topic = out_topic("perf.alerts", Alert)
    dlq_topic = out_topic("perf.dlq", DeadLetter)

    roles = settings.agent_set
    if "windows" in roles:
        register_window_agent(
            app,
            WindowAggregator(
                settings=settings,
                metrics=metrics,
                source_name="telemetry.provider",
                record_type=ProviderSample,
                entity_type=EntityType.PROVIDER,
                entity_of=lambda s: s.provider_id,
                values_of=provider_values,
                table=app.Table("provider_to_window_state", partitions=settings.partitions),
                metrics_topic=metrics_topic,
                dlq_topic=dlq_topic,
            ),
            in_topic("telemetry.provider"),
            name="aggregate_provider_windows",
        )
    if "alerts" in roles:
        register_alert_agent(
            app,
            rules=temperature_rule(settings),
            metrics=metrics,
            source=in_topic("perf.metrics"),
            alerts_topic=alerts_topic,
            dlq_topic=dlq_topic,
            table=app.Table("fingerprint_to_alert_state", partitions=settings.partitions),
            burn_table=app.Table("entity_to_burn_state", partitions=settings.partitions),
            slo_topic=out_topic("perf.slo", SloStatus),
            anomalies_source=in_topic("perf.anomalies"),
            budgets_source=in_topic("perf.budgets"),
            alertmanager=alertmanager_client(settings),
            forget_after_s=settings.state_evict_after_s,
        )
    if "anomalies" in roles:
        register_anomaly_agent(
            app,
            metrics=metrics,
            source=in_topic("perf.metrics"),
            anomalies_topic=out_topic("perf.anomalies", Anomaly),
            dlq_topic=dlq_topic,
            table=app.Table("entity_to_detector_state", partitions=settings.partitions),
            threshold=settings.anomaly_threshold,
            dead_letters=owns_dead_letters("anomalies", "perf.metrics", roles),
            cache_entities=settings.anomaly_cache_entities,
        )
    if "recommendations" in roles:
        register_recommendation_agents(
            app,
            settings=settings,
            metrics=metrics,
            lifecycle=in_topic("workloads.lifecycle"),
            catalog=in_topic("providers.catalog"),
            windows=in_topic("perf.metrics"),
            recommendations_topic=out_topic("perf.recommendations", Recommendation),
            insights_topic=out_topic("perf.insights", Insight),
            dlq_topic=dlq_topic,
        )

    if "approvals" in roles:
        register_approval_agents(
            app,
            settings=settings,
            metrics=metrics,
            lifecycle=in_topic("workloads.lifecycle"),
            recommendations=in_topic("perf.recommendations"),
            recommendations_topic=out_topic("perf.recommendations", Recommendation),
            dlq_topic=dlq_topic,
        )

    if "budgets" in roles:
        register_budget_agents(
            app,
            settings=settings,
            metrics=metrics,
            lifecycle=in_topic("workloads.lifecycle"),
            windows=in_topic("perf.metrics"),
            budgets_topic=out_topic("perf.budgets", TenantBudgetStatus),
            dlq_topic=dlq_topic,
        )

    refresh_fleet: Callable[[], None] | None = None
    if "fleet" in roles:
        refresh_fleet = register_fleet_agents(
            app,
            view=FleetView(),
            metrics=metrics,
            topic=in_topic,
            table=lambda name: app.Table(name, partitions=settings.partitions),
        )

    if "reports" in roles:
        register_report_jobs(app, settings)
    if "analysis" in roles:
        stage = register_analysis_agents(
            app,
            settings=settings,
            metrics=metrics,
            workload_source=in_topic("telemetry.workload"),
            metrics_source=in_topic("perf.metrics"),
            catalog_source=in_topic("providers.catalog"),
            metrics_topic=metrics_topic,
            insights_topic=out_topic("perf.insights", Insight),
            dlq_topic=dlq_topic,
        )
        # Served by the worker of this role, behind a reader token like the API.
        register_guarded_page(app, "/leaderboards", settings, stage.boards)

    if "api" in roles:
        read_model = create_read_model(app, settings)
        register_read_model_agent(
            app, settings=settings, model=read_model, metrics=metrics, dlq_topic=dlq_topic
        )
        register_api(app, settings=settings, model=read_model, metrics=metrics, out_topic=out_topic)
    return refresh_fleet


def register_pages(
    app: ComputeperfApp,
    settings: Settings,
    metrics: PipelineMetrics,
    refresh_fleet: Callable[[], None] | None,
) -> None:
    """``/metrics`` (Prometheus), ``/healthz`` (up) and ``/readyz`` (tables recovered)."""
    roles = settings.agent_set
    # CSP, nosniff, no referrer, no framing on every answer (api/security.py).
    install_security_headers(app.web.web_app)  # type: ignore[attr-defined]

    @app.page("/metrics")
    async def prometheus_metrics(web: Any, request: Any) -> Any:
        if refresh_fleet is not None:
            refresh_fleet()
        # aiohttp refuses a charset inside content_type, so the header is set directly.
        return web.bytes(metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        return web.json({"status": "ok", "group": settings.group_id, "agents": sorted(roles)})

    @app.page("/readyz")
    async def readyz(web: Any, request: Any) -> Any:
        # Ready = the first table recovery is done and the agents consume (Faust's
        # "Worker ready"); /healthz only says the process and its web server are up.
        recovery = app.tables.recovery  # type: ignore[attr-defined]  # TableManager's
        if recovery.completed.is_set():
            return web.json({"status": "ready"})
        return web.json({"status": "recovering"}, status=503)
