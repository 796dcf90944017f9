"""Domain records shared by services and stores. Plain dataclasses: cheap to import."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from unigate.domain.budgets import BudgetHold


class KeyStatus(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"


class AccountStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class EntryKind(StrEnum):
    GRANT = "grant"
    TOPUP = "topup"
    HOLD = "hold"
    SETTLE = "settle"
    # What a request cost beyond its hold that the balance could not cover: amount 0 (the ledger still sums
    # to the balance), the sum owed in details["uncollected"].
    UNCOLLECTED = "uncollected"


@dataclass(frozen=True)
class Account:
    account_id: str
    name: str
    balance_micros: int
    status: AccountStatus
    created_at: str


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    key_hash: str
    account_id: str
    name: str
    hint: str
    status: KeyStatus
    created_at: str
    expires_at: int | None = None  # epoch seconds
    allowed_models: tuple[str, ...] = ()
    # Requests and tokens per minute this key may use (None: unlimited).
    rpm: int | None = None
    tpm: int | None = None
    # A spend limit in micro-credits per budget_period (lifetime, day, week, month); None: no budget.
    budget_micros: int | None = None
    budget_period: str = "lifetime"

    def is_usable(self, now: float) -> bool:
        return self.status is KeyStatus.ACTIVE and (self.expires_at is None or now < self.expires_at)


@dataclass(frozen=True)
class Caller:
    """Who is calling, as the authorizer established it."""

    account_id: str
    key_id: str
    allowed_models: tuple[str, ...] = ()
    rpm: int | None = None
    tpm: int | None = None
    budget_micros: int | None = None
    budget_period: str = "lifetime"

    def may_use(self, endpoint: str, model: str, deployment: str | None = None) -> bool:
        """A key limited to models may use an endpoint named in its list, any endpoint of a listed model,
        and a deployment listed by name (in any case)."""
        if not self.allowed_models:
            return True
        if deployment is not None and deployment.lower() in {m.lower() for m in self.allowed_models}:
            return True
        return bool({endpoint, model} & set(self.allowed_models))


@dataclass(frozen=True)
class LedgerEntry:
    account_id: str
    entry_id: str
    kind: EntryKind
    amount_micros: int  # signed: what this entry added to the balance
    created_at: str
    details: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Hold:
    account_id: str
    hold_id: str
    amount_micros: int
    # Also reserved from this key's budget for the period it names (None: the key has no budget).
    budget: BudgetHold | None = None


@dataclass(frozen=True)
class FilterCategory:
    """One category of a deployment's content filter: blocked terms (whole words, any case) and regular
    expressions, checked on the input, the output, or both."""

    name: str
    terms: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    input: bool = True
    output: bool = True


@dataclass(frozen=True)
class Deployment:
    """An admin-created name bound to one endpoint plus settings (Azure's deployment concept)."""

    name: str
    endpoint: str
    # The provider's model id to send instead of the catalog's (pins a model version); "" keeps it.
    model_version: str = ""
    capacity_type: str = "on-demand"  # on-demand | provisioned
    capacity_tpm: int | None = None  # provisioned capacity: its tokens per minute cap the deployment
    rpm: int | None = None
    tpm: int | None = None
    content_filter: tuple[FilterCategory, ...] = ()
    created_at: str = ""

    @property
    def limited(self) -> bool:
        return self.rpm is not None or self.token_limit is not None

    @property
    def token_limit(self) -> int | None:
        limits = [t for t in (self.tpm, self.capacity_tpm) if t is not None]
        return min(limits) if limits else None
