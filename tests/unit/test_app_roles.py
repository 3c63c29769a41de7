"""Worker roles: a worker runs the agents it is configured for, in its own group."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from config.settings import ALL_AGENTS, Settings
from streams.app import create_app

# The default rules (alerts/rules/) include anomaly and budget rules: their agents run too.
ALERT_AGENTS = {"evaluate_threshold_rules", "evaluate_anomaly_rules", "evaluate_budget_rules"}


@pytest.mark.parametrize(
    ("agents", "expected"),
    [
        (
            "windows,alerts,anomalies",
            {"aggregate_provider_windows", "score_entity_windows", *ALERT_AGENTS},
        ),
        ("api", {"maintain_read_model"}),
        ("windows,alerts", {"aggregate_provider_windows", *ALERT_AGENTS}),
        ("anomalies", {"score_entity_windows"}),
        (
            "fleet",
            {
                "fleet_providers_catalog",
                "fleet_perf_metrics",
                "fleet_perf_alerts",
                "fleet_perf_recommendations",
                "fleet_perf_anomalies",
            },
        ),
    ],
)
def test_worker_runs_only_its_agents(agents: str, expected: set[str]) -> None:
    app = create_app(Settings(agents=agents, kafka_bootstrap_servers="127.0.0.1:1"))
    names = {name.rsplit(".", 1)[-1] for name in app.agents}
    assert names == expected
    assert app.conf.id == Settings(agents=agents).group_id


def test_all_agents_keep_the_plain_app_id_and_unknown_roles_are_refused() -> None:
    assert Settings(agents="anomalies,windows,alerts").group_id == (
        "computeperf-windows.alerts.anomalies"
    )
    assert Settings(agents=",".join(reversed(ALL_AGENTS))).group_id == "computeperf"
    with pytest.raises(ValidationError, match="agents must be"):
        Settings(agents="windows,bogus")
