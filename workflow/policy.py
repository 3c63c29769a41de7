"""Approval policies as data: per tenant and action kind, how much the engine may do alone.

A :class:`Policy` says, for the recommendations of one tenant (or ``"*"``) and one kind
(``place``, ``migrate``, ... or ``"*"``), whether they are only recommended, wait for an
operator, or are approved automatically when the SLA risk is low and the predicted gain
high enough; it also carries the rate limit and the minimum change. A
:class:`PolicyBook` picks the most specific policy for a recommendation (tenant and kind
beat tenant only, which beats kind only, which beats the ``*``/``*`` default) and holds
the global dry-run switch. Books are loaded from YAML (``workflow/policies/default.yaml``).

>>> book = PolicyBook.from_dict({"dry_run": False, "policies": [
...     {"tenant": "*", "kind": "*", "mode": "manual"},
...     {"tenant": "acme", "kind": "migrate", "mode": "auto", "max_sla_risk": 0.2,
...      "min_gain": 0.1, "max_actions_per_provider": 2, "interval_s": 3600}]})
>>> book.policy_for("acme", "migrate").mode.value, book.policy_for("acme", "place").mode.value
('auto', 'manual')
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from config.documents import DocumentError, YamlDocument
from config.settings import DEFAULT_POLICIES_PATH

__all__ = ["ApprovalMode", "Policy", "PolicyBook", "PolicyError"]


class PolicyError(DocumentError):
    """A policy file that cannot be read or does not validate."""


class ApprovalMode(StrEnum):
    """How recommendations under a policy become actions.

    Examples
    --------
    >>> ApprovalMode("recommend_only") is ApprovalMode.RECOMMEND_ONLY
    True
    """

    RECOMMEND_ONLY = "recommend_only"  # published for information, never approved
    MANUAL = "manual"  # approved only by an operator
    AUTO = "auto"  # approved by the engine when risk and gain allow, else manual


class Policy(BaseModel):
    """One approval rule; see the module docstring.

    Attributes
    ----------
    tenant, kind : str
        What it applies to; ``"*"`` matches any.
    mode : ApprovalMode
        Recommend-only, manual or auto.
    max_sla_risk, min_gain : float
        Auto-approval needs ``sla_risk <= max_sla_risk`` and
        ``perf_per_dollar_gain >= min_gain``; otherwise it waits for an operator.
    min_change : float
        Below this predicted gain a recommendation is rejected whatever the mode (not
        worth a disruption).
    max_actions_per_provider, interval_s : int
        At most that many approvals touching one provider (as source or target) per
        sliding interval; 0 actions means no limit.

    Examples
    --------
    >>> Policy(mode="auto").key
    ('*', '*')
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    tenant: str = "*"
    kind: str = "*"
    mode: ApprovalMode = ApprovalMode.MANUAL
    max_sla_risk: float = Field(default=0.2, ge=0.0, le=1.0)
    min_gain: float = 0.1
    min_change: float = -1e9
    max_actions_per_provider: int = Field(default=0, ge=0)
    interval_s: int = Field(default=3600, ge=1)

    @property
    def key(self) -> tuple[str, str]:
        """``(tenant, kind)`` this policy is for."""
        return (self.tenant, self.kind)

    @property
    def interval_ms(self) -> int:
        """Rate-limit interval in milliseconds."""
        return self.interval_s * 1000


class PolicyBook(YamlDocument):
    """The set of policies in force, plus the dry-run switch.

    Attributes
    ----------
    policies : tuple of Policy
        Keys must be unique; without a ``*``/``*`` policy the default is manual.
    dry_run : bool
        Record what would have been done instead of approving anything.

    Examples
    --------
    >>> PolicyBook().policy_for("t", "place").mode.value
    'manual'
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    error: ClassVar[type[ValueError]] = PolicyError
    shape: ClassVar[str] = "a policy document is a mapping with 'policies' (and 'dry_run')"

    policies: tuple[Policy, ...] = ()
    dry_run: bool = False

    @model_validator(mode="after")
    def _unique_keys(self) -> Self:
        keys = [p.key for p in self.policies]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise ValueError(f"duplicate policies for (tenant, kind): {dupes}")
        return self

    def policy_for(self, tenant: str, kind: str) -> Policy:
        """The most specific policy matching ``tenant`` and ``kind``."""
        by_key = {p.key: p for p in self.policies}
        for key in ((tenant, kind), (tenant, "*"), ("*", kind), ("*", "*")):
            if key in by_key:
                return by_key[key]
        return Policy(tenant="*", kind="*")

    def with_policy(self, policy: Policy) -> PolicyBook:
        """A copy with ``policy`` added or replacing the one with the same key."""
        kept = tuple(p for p in self.policies if p.key != policy.key)
        return PolicyBook(policies=(*kept, policy), dry_run=self.dry_run)

    @classmethod
    def load(cls, path: str | Path = DEFAULT_POLICIES_PATH) -> PolicyBook:
        """Read a YAML policy file."""
        return super().load(path)
