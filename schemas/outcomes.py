"""Realised vs predicted: how an applied recommendation turned out."""

from schemas.base import Id, NonNegFloat, NonNegInt, Record, TsMs, UnitFloat

__all__ = ["RecommendationOutcome"]


class RecommendationOutcome(Record):
    """What an applied recommendation delivered over its settling window, vs its prediction.

    Attributes
    ----------
    recommendation_id, workload_id, provider_id : Id
        The applied recommendation, its workload and the provider it moved to.
    ts_ms : int
        When the settling window was judged, UTC epoch milliseconds.
    applied_at_ms : int
        When the action took effect.
    predicted_throughput, realised_throughput : float
        Predicted and mean realised throughput over the window.
    predicted_cost_usd_per_hour, realised_cost_usd_per_hour : float
        Predicted and mean realised cost.
    sla_violation_fraction : float
        Fraction of the window below the workload's SLA.
    samples : int
        Samples in the window.
    throughput_error : float
        ``realised / predicted - 1`` (negative: under-delivered).

    Examples
    --------
    >>> o = RecommendationOutcome(recommendation_id="rec-1", ts_ms=1_700_000_900_000,
    ...     workload_id="wl-1", provider_id="prov-2", applied_at_ms=1_700_000_000_000,
    ...     predicted_throughput=100.0, realised_throughput=92.0,
    ...     predicted_cost_usd_per_hour=2.0, realised_cost_usd_per_hour=2.0, samples=15,
    ...     throughput_error=-0.08)
    >>> o.sla_violation_fraction
    0.0
    """

    recommendation_id: Id
    ts_ms: TsMs
    workload_id: Id
    provider_id: Id
    applied_at_ms: TsMs
    predicted_throughput: NonNegFloat
    realised_throughput: NonNegFloat
    predicted_cost_usd_per_hour: NonNegFloat
    realised_cost_usd_per_hour: NonNegFloat
    sla_violation_fraction: UnitFloat = 0.0
    samples: NonNegInt
    throughput_error: float
