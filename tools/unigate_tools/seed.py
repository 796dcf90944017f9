"""The local server's demo data: one account with 10 credits and one key, made on the first start and
found again on later ones (the store survives a restart: unigate_tools.persistence)."""

from __future__ import annotations

from dataclasses import dataclass

from unigate.accounts import accounts, auth, billing
from unigate.domain import keys
from unigate.domain.money import credits_to_micros
from unigate.stores import accounts as account_store
from unigate.stores import keys as key_store

DEMO_ACCOUNT = "acct_demo"
DEMO_CREDITS = "10"


@dataclass(frozen=True)
class Demo:
    account_id: str
    key_id: str
    key: str


def seed_demo(key: str | None = None) -> Demo:
    """The demo account and `key` (a new one when None); each made only if it is not there yet, and the
    demo credits granted once (the grant is idempotent)."""
    if account_store.get_account(DEMO_ACCOUNT) is None:
        accounts.create_account(name="Demo account", account_id=DEMO_ACCOUNT)
    billing.grant(DEMO_ACCOUNT, credits_to_micros(DEMO_CREDITS), idempotency_key="dev-seed", note="local demo credits")
    existing = key_store.get_by_hash(keys.hash_key(key)) if key else None
    if existing is not None and existing.account_id == DEMO_ACCOUNT:
        return Demo(DEMO_ACCOUNT, existing.key_id, key or "")
    record, secret = auth.create_key(DEMO_ACCOUNT, name="demo", plaintext=key)
    return Demo(DEMO_ACCOUNT, record.key_id, secret)
