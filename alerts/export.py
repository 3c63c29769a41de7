"""Export our rules as Prometheus recording and alerting rules (``promtool check rules``).

For users who alert in Prometheus. The export defines the metric contract it expects
(gauges exported per entity; see ``docs/architecture.md``):

- ``computeperf_window_<metric>{entity_type, entity_id, stat}``: the latest closed window's
  statistic (``stat`` = count, mean, min, max, p50, p95, p99), and
  ``computeperf_window_<field>{entity_type, entity_id}`` for top-level fields;
- ``computeperf_anomaly_score{entity_type, entity_id, detector}``;
- ``computeperf_slo_events_total{slo, entity_type, entity_id, good}`` (counter);
- ``computeperf_budget_hours_to_exhaustion{entity_type, entity_id}``;
- ``computeperf_window_end_timestamp_seconds{entity_type, entity_id}``: end of the last
  window seen per entity (for absence rules).

Equivalences: ``for`` = max(``for``, ``for_windows`` x window), ``keep_firing_for`` as is
(Prometheus >= 2.42), hysteresis as ``x > fire or (x > resolve and on(...) ALERTS{...})``,
burn-rate rows as recorded error ratios over each window with the low-traffic guard as
``clamp_min`` of the denominator, ``minus`` as a difference of two recorded series and
``change_over`` as ``x / x offset d`` (ratio) or ``x - x offset d`` (delta). Annotations
become Go templates.

Examples
--------
>>> from alerts.rules import DEFAULT_RULES_PATH
>>> from alerts.rule_files import load_rules
>>> doc = prometheus_rules(load_rules(DEFAULT_RULES_PATH), window_ms=60_000)
>>> [g["name"] for g in doc["groups"]], [r.get("record") for r in doc["groups"][0]["rules"]]
(['computeperf'], ['computeperf:gpu_temp_c_p95:window', None])
>>> alert = doc["groups"][0]["rules"][1]
>>> alert["alert"], alert["for"]
('GpuTemperatureHigh', '1m')
>>> print(alert["expr"])
computeperf:gpu_temp_c_p95:window{entity_type="provider"} > 85
or
(computeperf:gpu_temp_c_p95:window{entity_type="provider"} > 80
 and on(entity_type, entity_id) ALERTS{alertname="GpuTemperatureHigh", alertstate="firing"})
"""

from __future__ import annotations

import string
from typing import Any

from alerts.durations import format_duration
from alerts.rule_base import RuleBase
from alerts.rules import Rule, ThresholdRule
from alerts.signal_rules import AbsenceRule, AnomalyRule, BudgetRule, BurnRateRule

__all__ = ["go_template", "prometheus_rules"]

_BY = "entity_type, entity_id"


def go_template(template: str, threshold: float) -> str:
    """Turn one of our annotation templates into a Prometheus (Go) template.

    Examples
    --------
    >>> go_template("{entity_id} at {value:.1f} C (> {threshold:.0f})", 85)
    '{{ $labels.entity_id }} at {{ printf "%.1f" $value }} C (> 85)'
    >>> go_template("{value:.1%} {{x}}", 0)
    '{{ $value | humanizePercentage }} {x}'
    """
    out: list[str] = []
    for literal, field, spec, _ in string.Formatter().parse(template):
        out.append(literal.replace("{{", '{{ "{{" }}'))
        if field is None:
            continue
        spec = spec or ""
        if field == "entity_id":
            out.append("{{ $labels.entity_id }}")
        elif field == "threshold":
            out.append(format(threshold, spec or "g"))
        elif spec.endswith("%"):
            out.append("{{ $value | humanizePercentage }}")
        elif spec:
            out.append(f'{{{{ printf "%{spec}" $value }}}}')
        else:
            out.append("{{ $value }}")
    return "".join(out)


def _series(metric: str) -> tuple[str, dict[str, Any]]:
    """Recording rule name and definition for a metric path of a threshold rule."""
    if "." in metric:
        name, stat = metric.rsplit(".", 1)
        source = f'computeperf_window_{name}{{stat="{stat}"}}'
        record = f"computeperf:{name}_{stat}:window"
    else:
        source = f"computeperf_window_{metric}"
        record = f"computeperf:{metric}:window"
    return record, {"record": record, "expr": f"max by ({_BY}) ({source})"}


def _value(rule: ThresholdRule, records: dict[str, Any]) -> str:
    """The PromQL of what a threshold rule compares: its metric, ``minus``, ``change``.

    Examples
    --------
    >>> rule = ThresholdRule(name="Up", metric="m.mean", op=">", threshold=2,
    ...                      change_over="5m", change="ratio", severity="info")
    >>> print(_value(rule, {}))
    (computeperf:m_mean:window{entity_type="provider"})
    / (computeperf:m_mean:window{entity_type="provider"} offset 5m)
    >>> spread = rule.model_copy(update={"minus": "m.min", "change_over_ms": None})
    >>> print(_value(spread, {}).replace(" - ", "\\n - "))
    (computeperf:m_mean:window{entity_type="provider"}
     - computeperf:m_min:window{entity_type="provider"})
    """
    paths = [rule.metric] if rule.minus is None else [rule.metric, rule.minus]
    names = []
    for path in paths:
        record, definition = _series(path)
        records[record] = definition
        names.append(record)

    def at(offset: str) -> str:
        return " - ".join(f'{n}{{entity_type="{rule.entity_type}"}}{offset}' for n in names)

    if rule.change_over_ms is None:
        return at("") if rule.minus is None else f"({at('')})"
    before = at(f" offset {format_duration(rule.change_over_ms)}")
    operator = "/" if rule.change == "ratio" else "-"
    return f"({at('')})\n{operator} ({before})"


def _alert(rule: RuleBase, expr: str, for_ms: int, threshold: float) -> dict[str, Any]:
    out: dict[str, Any] = {"alert": rule.name, "expr": expr}
    if for_ms > 0:
        out["for"] = format_duration(for_ms)
    if rule.keep_firing_for_ms > 0:
        out["keep_firing_for"] = format_duration(rule.keep_firing_for_ms)
    labels = rule.alert_labels("")
    del labels["alertname"], labels["entity_id"]
    out["labels"] = labels
    if rule.annotations:
        out["annotations"] = {k: go_template(v, threshold) for k, v in rule.annotations.items()}
    return out


def _threshold(rule: ThresholdRule, window_ms: int, records: dict[str, Any]) -> dict[str, Any]:
    selector = _value(rule, records)
    if rule.change_over_ms is not None:
        selector = f"({selector})"
    expr = f"{selector} {rule.op} {rule.threshold:g}"
    if rule.effective_resolve_threshold != rule.threshold:
        expr = (
            f"{expr}\nor\n({selector} {rule.op} {rule.effective_resolve_threshold:g}\n"
            f' and on({_BY}) ALERTS{{alertname="{rule.name}", alertstate="firing"}})'
        )
    return _alert(rule, expr, _for_ms(rule, window_ms), rule.threshold)


def _for_ms(rule: RuleBase, window_ms: int) -> int:
    # A window is evaluated once it closes: for_windows windows take (n - 1) windows of
    # Prometheus "for" after the first breaching sample is seen.
    return max(rule.for_ms, (rule.for_windows - 1) * window_ms)


def _anomaly(rule: AnomalyRule, window_ms: int) -> dict[str, Any]:
    matchers = f'entity_type="{rule.entity_type}"'
    if rule.detector:
        matchers += f', detector="{rule.detector}"'
    expr = f"max by ({_BY}) (computeperf_anomaly_score{{{matchers}}}) >= {rule.min_score:g}"
    return _alert(rule, expr, _for_ms(rule, window_ms), rule.min_score)


def _burn(rule: BurnRateRule, records: dict[str, Any]) -> dict[str, Any]:
    exprs = []
    for window_ms in (rule.long_window_ms, rule.short_window_ms):
        window = format_duration(window_ms)
        record = f"computeperf:slo_error_ratio_{rule.name}:increase{window}"
        events = f'computeperf_slo_events_total{{slo="{rule.name}"}}'
        bad = f'computeperf_slo_events_total{{slo="{rule.name}", good="false"}}'
        records[record] = {
            "record": record,
            "expr": (
                f"sum by ({_BY}) (increase({bad}[{window}]))\n/ clamp_min("
                f"sum by ({_BY}) (increase({events}[{window}])), {max(rule.min_events, 1)})"
            ),
        }
        exprs.append(f"{record} >= ({rule.factor:g} * {1 - rule.objective:.6g})")
    expr = f"{exprs[0]}\nand\n{exprs[1]}"
    return _alert(rule, expr, rule.for_ms, rule.factor)


def _budget(rule: BudgetRule) -> dict[str, Any]:
    hours = rule.warn_before_ms / 3_600_000
    expr = (
        f'computeperf_budget_hours_to_exhaustion{{entity_type="{rule.entity_type}"}} <= {hours:g}'
    )
    return _alert(rule, expr, rule.for_ms, hours)


def _absence(rule: AbsenceRule) -> dict[str, Any]:
    seconds = rule.after_ms / 1000
    expr = (
        f"time() - max by ({_BY}) "
        f'(computeperf_window_end_timestamp_seconds{{entity_type="{rule.entity_type}"}})'
        f" >= {seconds:g}"
    )
    return _alert(rule, expr, rule.for_ms, rule.after_ms / 60_000)


def prometheus_rules(rules: list[Rule], *, window_ms: int = 60_000) -> dict[str, Any]:
    """A Prometheus rules file (as a dict to dump as YAML) equivalent to *rules*."""
    records: dict[str, Any] = {}
    alerts: list[dict[str, Any]] = []
    for rule in rules:
        if isinstance(rule, ThresholdRule):
            alerts.append(_threshold(rule, window_ms, records))
        elif isinstance(rule, AnomalyRule):
            alerts.append(_anomaly(rule, window_ms))
        elif isinstance(rule, BurnRateRule):
            alerts.append(_burn(rule, records))
        elif isinstance(rule, AbsenceRule):
            alerts.append(_absence(rule))
        else:
            alerts.append(_budget(rule))
    # One group: rules of a group run in order, so every alert reads the recording rules
    # of the same evaluation (two groups run independently and can lag by one).
    return {"groups": [{"name": "computeperf", "rules": [*records.values(), *alerts]}]}
