"""Periodic (daily or weekly) performance reports."""

from enum import StrEnum
from typing import Self

from pydantic import model_validator

from schemas.base import Id, Record, TsMs

__all__ = ["Report", "ReportPeriod"]


class ReportPeriod(StrEnum):
    """Length of the period a report covers.

    Examples
    --------
    >>> ReportPeriod("week") is ReportPeriod.WEEK
    True
    """

    DAY = "day"
    WEEK = "week"


class Report(Record):
    """A rendered report covering ``[period_start_ms, period_end_ms)``.

    Attributes
    ----------
    report_id : Id
        Unique id of the report.
    ts_ms : int
        Generation time, UTC epoch milliseconds.
    period : ReportPeriod
        Day or week.
    period_start_ms, period_end_ms : int
        Covered interval; end is strictly after start.
    summary : dict[str, float | int | str]
        Headline figures, keyed by name.
    html : str
        Rendered report body.

    Examples
    --------
    >>> r = Report(report_id="daily-2023-11-14", ts_ms=1_700_006_400_000, period="day",
    ...            period_start_ms=1_699_920_000_000, period_end_ms=1_700_006_400_000,
    ...            summary={"workloads": 42, "mean_gpu_util_pct": 71.5})
    >>> r.summary["workloads"]
    42
    """

    report_id: Id
    ts_ms: TsMs
    period: ReportPeriod
    period_start_ms: TsMs
    period_end_ms: TsMs
    summary: dict[str, float | int | str] = {}
    html: str = ""

    @model_validator(mode="after")
    def _check_period(self) -> Self:
        if self.period_end_ms <= self.period_start_ms:
            raise ValueError(
                f"period_end_ms ({self.period_end_ms}) must be after "
                f"period_start_ms ({self.period_start_ms})"
            )
        return self
