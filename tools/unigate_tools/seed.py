"""The local server's demo data: one account with 10 credits and one key."""

from __future__ import annotations

from dataclasses import dataclass

from unigate.accounts import accounts, auth, billing
from unigate.domain.money import credits_to_micros

DEMO_ACCOUNT = "acct_demo"
DEMO_CREDITS = "10"


@dataclass(frozen=True)
class Demo:
    account_id: str
    key_id: str
    key: str


def seed_demo(key: str | None = None) -> Demo:
    accounts.create_account(name="Demo account", account_id=DEMO_ACCOUNT)
    billing.grant(DEMO_ACCOUNT, credits_to_micros(DEMO_CREDITS), idempotency_key="dev-seed", note="local demo credits")
    record, secret = auth.create_key(DEMO_ACCOUNT, name="demo", plaintext=key)
    return Demo(DEMO_ACCOUNT, record.key_id, secret)
