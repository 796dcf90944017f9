"""The one place that reads configuration: environment variables, validated by pydantic settings.

Lambda functions get these from template.yaml; the local server sets them from the same template.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="UNIGATE_", extra="ignore", frozen=True)

    keys_table: str = "unigate-keys"
    accounts_table: str = "unigate-accounts"
    ledger_table: str = "unigate-ledger"

    # Requests larger than this are refused with 413 before anything else happens.
    max_body_bytes: int = 1_000_000
    # Bounded retries of a balance transaction that lost a race with another one on the same account.
    transaction_attempts: int = 6
    # Settled holds stay readable for audits this long, then DynamoDB's TTL removes the hold record
    # (the ledger entries remain forever).
    settled_hold_retention_days: int = 30


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
