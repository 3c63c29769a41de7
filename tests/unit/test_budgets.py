"""Budgets as data, spend counted once per window, and the status per period (pure core)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.budget_book import BudgetBook, BudgetBookError, period_bounds
from alerts.budget_tracking import tenant_status
from alerts.spend_ledger import (
    HOUR_MS,
    SpendBucket,
    SpendLedger,
    count_window,
    window_spend_usd,
)
from config.settings import DEFAULT_BUDGETS_PATH
from schemas import MetricStats, MetricWindow, TenantBudgetStatus, decode, encode

T0 = 1_700_000_000_000 // HOUR_MS * HOUR_MS  # 2023-11-14T22:00Z
W = 60_000


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


# ---------------------------------------------------------------- budget file


def test_default_file_loads_with_a_default_budget() -> None:
    book = BudgetBook.load(DEFAULT_BUDGETS_PATH)
    assert book.spec_for("anyone") == book.budgets["*"]


def test_tenant_budget_wins_over_default_and_no_default_means_none() -> None:
    book = BudgetBook.from_dict({"budgets": {"acme": {"limit_usd": 10, "period": "week"}}})
    budget = book.budget_for("acme", T0)
    assert budget is not None and budget.limit_usd == 10.0
    assert book.budget_for("other", T0) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("budgets: {acme: {limit_usd: -5}}", "budgets.acme.limit_usd: Input should be greater"),
        ("budgets: {acme: {limit_usd: 5, period: year}}", "budgets.acme.period: Input should be"),
        ("budgets: {acme: {limit: 5}}", "budgets.acme.limit_usd: Field required"),
        ("budgets: {acme: {limit_usd: 5, extra: 1}}", "budgets.acme.extra: Extra inputs"),
        ("budgets: {acme: {limit_usd: .nan}}", "budgets.acme.limit_usd: Input should be a finite"),
        ("budgets: [1, 2]", "a budget document is a mapping"),
        ("- just a list", "a budget document is a mapping"),
        ("budgets: {acme: {limit_usd: [}", "while parsing"),
    ],
)
def test_bad_files_name_file_tenant_and_field(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "budgets.yaml"
    path.write_text(text)
    with pytest.raises(BudgetBookError) as info:
        BudgetBook.load(path)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BudgetBookError, match="No such file"):
        BudgetBook.load(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("period", "now", "start", "end"),
    [
        ("month", "2024-02-29T23:59:59", "2024-02-01", "2024-03-01"),  # leap year
        ("month", "2023-12-31T12:00:00", "2023-12-01", "2024-01-01"),  # year end
        ("month", "2024-03-01T00:00:00", "2024-03-01", "2024-04-01"),  # on the boundary
        ("week", "2023-11-19T23:59:59", "2023-11-13", "2023-11-20"),  # Sunday
        ("week", "2023-11-20T00:00:00", "2023-11-20", "2023-11-27"),  # Monday
        ("day", "2023-11-14T00:00:00", "2023-11-14", "2023-11-15"),
    ],
)
def test_period_bounds(period: str, now: str, start: str, end: str) -> None:
    assert period_bounds(period, ms(now)) == (ms(start + "T00:00:00"), ms(end + "T00:00:00"))  # type: ignore[arg-type]


# ---------------------------------------------------------------- counting once


def cost_window(workload: str, start: int, usd: list[float]) -> MetricWindow:
    n = len(usd)
    stats = MetricStats(count=n, mean=sum(usd) / n, min=min(usd), max=max(usd), p50=0, p95=0, p99=0)
    return MetricWindow(
        entity_type="workload",
        entity_id=workload,
        window_start_ms=start,
        window_end_ms=start + W,
        count=n,
        metrics={"cost_accrued_usd": stats},
    )


def test_window_spend_is_the_sum_of_its_samples() -> None:
    assert window_spend_usd(cost_window("w", T0, [0.1, 0.2, 0.3])) == pytest.approx(0.6)
    empty = cost_window("w", T0, [1.0]).model_copy(update={"metrics": {}})
    assert window_spend_usd(empty) is None


def deliver(ledger: SpendLedger, tenant: str, workload: str, start: int, usd: float) -> bool:
    hour = start - start % HOUR_MS
    new = count_window(ledger.get(tenant, hour), tenant, workload, start, start + W, usd)
    if new is not None:
        ledger.put(new)
    return new is not None


def test_the_same_window_twice_counts_once() -> None:
    ledger = SpendLedger()
    assert deliver(ledger, "acme", "w1", T0, 2.5)
    assert not deliver(ledger, "acme", "w1", T0, 2.5)
    assert deliver(ledger, "acme", "w2", T0, 1.0)  # same window time, other workload
    assert ledger.spent("acme", T0, T0 + HOUR_MS) == 3.5


def test_a_window_of_another_hour_needs_its_own_bucket() -> None:
    bucket = count_window(None, "acme", "w1", T0, T0 + W, 1.0)
    with pytest.raises(ValueError, match="not in bucket"):
        count_window(bucket, "acme", "w1", T0 + HOUR_MS, T0 + HOUR_MS + W, 1.0)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["w1", "w2", "w3"]), st.integers(0, 180)), max_size=60),
    st.data(),
)
def test_replays_and_restarts_never_double_count_nor_lose(
    emitted: list[tuple[str, int]], data: st.DataObject
) -> None:
    """At-least-once delivery: windows arrive in order, and up to 5 times the consumer
    goes back to an earlier position (a crash before the commit) and the ledger restarts
    from its durable (JSON) buckets. Every window is counted exactly once."""
    tenants = {"w1": "acme", "w2": "acme", "w3": "beta"}
    stream = sorted({(minute, wid) for wid, minute in emitted})
    usd = {(wid, m): 0.01 * (m % 7 + 1) for m, wid in stream}
    ledger = SpendLedger()
    pos, crashes = 0, 0
    while pos < len(stream):
        minute, wid = stream[pos]
        deliver(ledger, tenants[wid], wid, T0 + minute * W, usd[(wid, minute)])
        pos += 1
        if crashes < 5 and data.draw(st.integers(0, 9)) == 0:
            crashes += 1
            pos = data.draw(st.integers(0, pos))
            durable = [
                b.model_dump(mode="json")
                for t in ledger.tenants()
                for b in ledger.buckets(t, 0, 2**62)
            ]
            ledger = SpendLedger(SpendBucket.model_validate(v) for v in durable)
    for tenant in ("acme", "beta"):
        expected = sum(v for (wid, _), v in usd.items() if tenants[wid] == tenant)
        assert ledger.spent(tenant, 0, 2**62) == pytest.approx(expected)


# ---------------------------------------------------------------- status per period


def test_status_counts_only_the_current_period_and_forecasts_its_end() -> None:
    book = BudgetBook.from_dict({"budgets": {"acme": {"limit_usd": 100, "period": "day"}}})
    day = ms("2023-11-14T00:00:00")
    ledger = SpendLedger()
    deliver(ledger, "acme", "w1", day - HOUR_MS, 50.0)  # yesterday: not this period
    for h in range(6):  # $2 an hour from 00:00 to 06:00
        for m in range(60):
            deliver(ledger, "acme", "w1", day + h * HOUR_MS + m * W, 2.0 / 60)
    status = tenant_status(book, ledger, "acme")
    assert status is not None
    assert status.period_start_ms == day and status.period_end_ms == day + 24 * HOUR_MS
    assert status.as_of_ms == day + 6 * HOUR_MS
    assert status.spent_usd == pytest.approx(12.0)
    assert status.burn_usd_per_h == pytest.approx(2.0)
    assert status.forecast_usd == pytest.approx(48.0)  # 12 + 18 h x 2
    assert status.exhaustion_ms is None and status.hours_to_exhaustion is None
    assert [b.hour_ms for b in ledger.before("acme", status.period_start_ms)] == [day - HOUR_MS]
    assert decode(TenantBudgetStatus, encode(status)) == status


def test_status_projects_exhaustion_and_shows_overspend() -> None:
    book = BudgetBook.from_dict({"budgets": {"*": {"limit_usd": 10, "period": "day"}}})
    day = ms("2023-11-14T00:00:00")
    ledger = SpendLedger()
    for m in range(60):
        deliver(ledger, "t", "w", day + m * W, 4.0 / 60)
    status = tenant_status(book, ledger, "t")
    assert status is not None and status.hours_to_exhaustion == pytest.approx(1.5, abs=0.02)
    for m in range(60, 180):
        deliver(ledger, "t", "w", day + m * W, 4.0 / 60)
    over = tenant_status(book, ledger, "t")
    assert over is not None
    assert over.remaining_usd == pytest.approx(-2.0)
    assert (over.exhaustion_ms, over.hours_to_exhaustion) == (over.as_of_ms, 0.0)


def test_a_new_period_starts_from_zero() -> None:
    book = BudgetBook.from_dict({"budgets": {"*": {"limit_usd": 10, "period": "day"}}})
    day = ms("2023-11-14T00:00:00")
    ledger = SpendLedger()
    deliver(ledger, "t", "w", day - W, 5.0)  # 23:59 of the 13th
    deliver(ledger, "t", "w", day + W, 1.0)  # 00:01 of the 14th
    status = tenant_status(book, ledger, "t")
    assert status is not None and status.spent_usd == 1.0 and status.period_start_ms == day
