"""Read models of service levels: each workload's SLO status and each tenant's budget.

Kept from ``perf.slo`` and ``perf.budgets`` by the API's read-model agent
(``api/agent.py``) and served by ``GET /api/v1/sla`` and ``GET /api/v1/budgets``.
Pure: values in, values out, like :mod:`api.readmodel`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from api.resources import BudgetStatus, SlaStatus
from schemas import SloStatus, TenantBudgetStatus

__all__ = ["apply_budget_status", "apply_slo_status", "budget_statuses", "sla_statuses"]

Value = dict[str, Any]


def apply_slo_status(state: Value | None, status: SloStatus) -> Value:
    """An entity's latest status of one SLO: the newest by ``window_end_ms`` wins."""
    if state is not None and state["window_end_ms"] >= status.window_end_ms:
        return state
    return dict(status.model_dump(mode="json"))


def sla_statuses(slos: Iterable[Value], workloads: Mapping[str, Value]) -> list[SlaStatus]:
    """SLO statuses for the API, worst first: those with enough data (the low-traffic
    guard) by least error budget left, then those without, then by entity.

    ``slos`` are values of ``slo_to_status``; ``workloads`` (``workload_to_view`` by
    workload id) give a workload's tenant when its submission is known. A status is in
    breach when it has enough data and its error budget is overspent.

    >>> status = {"entity_type": "workload", "entity_id": "w1", "slo_key": "k", "name": "Slo",
    ...           "objective": 0.9, "sli": "availability", "target": None, "period_ms": 60_000,
    ...           "good_events": 9, "total_events": 12, "compliance": 0.75,
    ...           "error_budget_remaining": -1.5, "burn_rates": {"1m": 2.5}, "burn_rate": 2.5,
    ...           "window_end_ms": 1_700_000_000_000, "schema_version": 1}
    >>> fine = {**status, "entity_id": "w2", "good_events": 12, "compliance": 1.0,
    ...         "error_budget_remaining": 1.0}
    >>> tenant = {**fine, "entity_type": "tenant", "entity_id": "acme"}
    >>> views = {"w1": {"spec": {"tenant_id": "acme"}}}
    >>> [(s.workload_id, s.tenant_id, s.error_budget_remaining)
    ...  for s in sla_statuses([fine, tenant, status], views)]
    [('w1', 'acme', -1.5), (None, 'acme', 1.0), ('w2', None, 1.0)]
    >>> fresh = {**status, "entity_id": "w3", "min_events": 20}  # 12 events of 20 needed
    >>> [(s.entity_id, s.enough_data, s.in_breach) for s in sla_statuses([fresh, status], {})]
    [('w1', True, True), ('w3', False, False)]
    """
    rows = []
    for value in slos:
        status = SloStatus.model_validate(value)
        kind, eid = value["entity_type"], value["entity_id"]
        workload = eid if kind == "workload" else None
        tenant = eid if kind == "tenant" else None
        if workload is not None:
            spec = (workloads.get(workload) or {}).get("spec") or {}
            tenant = spec.get("tenant_id")
        rows.append(
            SlaStatus(
                entity_type=kind,
                entity_id=eid,
                workload_id=workload,
                tenant_id=tenant,
                slo=value["name"],
                sli=value["sli"],
                target=value["target"],
                objective=value["objective"],
                period_ms=value["period_ms"],
                good_events=value["good_events"],
                total_events=value["total_events"],
                min_events=status.min_events,
                enough_data=status.enough_data,
                compliance=value["compliance"],
                error_budget_remaining=value["error_budget_remaining"],
                in_breach=status.enough_data and status.error_budget_remaining < 0,
                burn_rate=value["burn_rate"],
                burn_rates=value["burn_rates"],
                window_end_ms=value["window_end_ms"],
            )
        )
    rows.sort(
        key=lambda r: (
            not r.enough_data,
            r.error_budget_remaining,
            r.entity_type,
            r.entity_id,
            r.slo,
        )
    )
    return rows


def apply_budget_status(state: Value | None, status: TenantBudgetStatus) -> Value:
    """A tenant's latest budget status: the newest by ``as_of_ms`` wins, and at the same
    ``as_of_ms`` (windows of several workloads end together) the one with more spent:
    within a period spend only grows, so it holds more windows.

    >>> from schemas import TenantBudgetStatus
    >>> s = TenantBudgetStatus(tenant_id="t", period="day", period_start_ms=10**12,
    ...     period_end_ms=10**12 + 86_400_000, limit_usd=10.0, spent_usd=1.0,
    ...     remaining_usd=9.0, burn_usd_per_h=1.0, forecast_usd=5.0, as_of_ms=10**12 + 60_000)
    >>> more = s.model_copy(update={"spent_usd": 1.5, "remaining_usd": 8.5})
    >>> apply_budget_status(apply_budget_status(None, more), s)["spent_usd"]
    1.5
    >>> apply_budget_status(apply_budget_status(None, s), more)["spent_usd"]
    1.5
    """
    if state is not None and (state["as_of_ms"], state["spent_usd"]) >= (
        status.as_of_ms,
        status.spent_usd,
    ):
        return state
    return dict(status.model_dump(mode="json"))


def budget_statuses(values: Iterable[Value]) -> list[BudgetStatus]:
    """Tenant budget statuses for the API, worst first: earliest projected exhaustion
    (overspent tenants have it now), then the highest share of the limit spent.

    >>> base = {"period": "month", "period_start_ms": 0, "period_end_ms": 10**9,
    ...         "limit_usd": 100.0, "remaining_usd": 0.0, "burn_usd_per_h": 1.0,
    ...         "forecast_usd": 50.0, "exhaustion_ms": None, "hours_to_exhaustion": None,
    ...         "as_of_ms": 5, "schema_version": 1}
    >>> rows = budget_statuses([{**base, "tenant_id": "a", "spent_usd": 10.0},
    ...                         {**base, "tenant_id": "b", "spent_usd": 40.0},
    ...                         {**base, "tenant_id": "c", "spent_usd": 5.0,
    ...                          "exhaustion_ms": 900, "hours_to_exhaustion": 0.1}])
    >>> [(r.tenant_id, r.fraction_spent) for r in rows]
    [('c', 0.05), ('b', 0.4), ('a', 0.1)]
    """
    rows = [
        BudgetStatus(
            **{k: v for k, v in value.items() if k != "schema_version"},
            fraction_spent=value["spent_usd"] / value["limit_usd"],
        )
        for value in values
    ]
    rows.sort(
        key=lambda r: (
            r.exhaustion_ms is None,
            r.exhaustion_ms or 0,
            -r.fraction_spent,
            r.tenant_id,
        )
    )
    return rows
