"""Domain records shared by services and stores. Plain dataclasses: cheap to import."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


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

    def is_usable(self, now: float) -> bool:
        return self.status is KeyStatus.ACTIVE and (self.expires_at is None or now < self.expires_at)


@dataclass(frozen=True)
class Caller:
    """Who is calling, as the authorizer established it."""

    account_id: str
    key_id: str
    allowed_models: tuple[str, ...] = ()

    def may_use(self, endpoint: str, model: str) -> bool:
        """A key limited to models may use an endpoint named in its list, or any endpoint of a listed model."""
        return not self.allowed_models or bool({endpoint, model} & set(self.allowed_models))


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
