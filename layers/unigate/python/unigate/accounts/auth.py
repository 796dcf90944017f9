"""Authentication and API key management (service layer)."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime

from unigate.domain import keys
from unigate.domain.budgets import check_period
from unigate.domain.errors import BadRequest, InvalidApiKey, NotAuthenticated, NotFound
from unigate.domain.money import MAX_MICROS
from unigate.domain.records import AccountStatus, ApiKey, Caller, KeyStatus
from unigate.stores import accounts as account_store
from unigate.stores import keys as key_store

# Far longer than any real header; refusing early keeps junk out of hashing and logs.
MAX_HEADER_LENGTH = 512


def authenticate(authorization: str | None) -> Caller:
    """The caller behind an Authorization header, or NotAuthenticated / InvalidApiKey.

    Keys that are malformed or fail their checksum are refused without a database read.
    """
    if authorization is not None and len(authorization) > MAX_HEADER_LENGTH:
        raise InvalidApiKey()
    token = keys.bearer_token(authorization)
    if token is None:
        raise NotAuthenticated()
    if not keys.is_well_formed(token):
        raise InvalidApiKey()
    digest = keys.hash_key(token)
    record = key_store.get_by_hash(digest)
    if record is None or not keys.hashes_match(record.key_hash, digest) or not record.is_usable(time.time()):
        raise InvalidApiKey()
    account = account_store.get_account(record.account_id)
    if account is None or account.status is not AccountStatus.ACTIVE:
        raise InvalidApiKey()  # a suspended account's keys stop working
    return Caller(account_id=record.account_id, key_id=record.key_id, allowed_models=record.allowed_models,
                  rpm=record.rpm, tpm=record.tpm, budget_micros=record.budget_micros,
                  budget_period=record.budget_period)


def create_key(
    account_id: str,
    *,
    name: str = "",
    expires_in_days: float | None = None,
    allowed_models: tuple[str, ...] = (),
    rpm: int | None = None,
    tpm: int | None = None,
    budget_micros: int | None = None,
    budget_period: str = "lifetime",
    plaintext: str | None = None,
) -> tuple[ApiKey, str]:
    """Creates a key and returns it with its plaintext, which is never stored and never shown again.

    `plaintext` lets the local server pin its demo key (UNIGATE_DEV_KEY); it must be well formed.
    """
    if account_store.get_account(account_id) is None:
        raise NotFound(f"Account {account_id} not found.")
    secret = plaintext or keys.generate_key()
    if not keys.is_well_formed(secret):
        raise ValueError("not a well-formed unigate key (ug_ + 32 base62 characters + checksum)")
    expires_at = int(time.time() + expires_in_days * 86400) if expires_in_days is not None else None
    record = ApiKey(
        key_id=keys.generate_key_id(),
        key_hash=keys.hash_key(secret),
        account_id=account_id,
        name=name,
        hint=keys.hint(secret),
        status=KeyStatus.ACTIVE,
        created_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        expires_at=expires_at,
        allowed_models=tuple(allowed_models),
        rpm=_limit("rpm", rpm),
        tpm=_limit("tpm", tpm),
        budget_micros=_budget(budget_micros),
        budget_period=_period(budget_period),
    )
    key_store.put(record)
    return record, secret


def _limit(name: str, value: int | None) -> int | None:
    if value is not None and value < 1:
        raise BadRequest(f"{name} must be at least 1 (leave it out for no limit).", param=name)
    return value


def _budget(micros: int | None) -> int | None:
    if micros is not None and not 0 < micros <= MAX_MICROS:
        raise BadRequest("budget must be a positive number of credits, at most one billion (leave it out for none).",
                         param="budget")
    return micros


def _period(period: str) -> str:
    try:
        return check_period(period)
    except ValueError as exc:
        raise BadRequest(f"budget_period: {exc}.", param="budget_period") from None


def set_budget(key_id: str, *, budget_micros: int | None, period: str = "lifetime") -> ApiKey:
    """Sets or removes a key's budget. It reaches requests once the authorizer's cached result expires; what
    the key spent in the current period counts against the new limit (a changed period starts afresh)."""
    record = key_store.get_by_id(key_id)
    if record is None:
        raise NotFound(f"Key {key_id} not found.")
    key_store.set_budget(record.key_hash, budget_micros=_budget(budget_micros), period=_period(period))
    return replace(record, budget_micros=budget_micros,
                   budget_period=period if budget_micros is not None else "lifetime")


def set_limits(key_id: str, *, rpm: int | None, tpm: int | None) -> ApiKey:
    """Changes a key's rate limits; they reach requests once the authorizer's cached result expires."""
    record = key_store.get_by_id(key_id)
    if record is None:
        raise NotFound(f"Key {key_id} not found.")
    key_store.set_limits(record.key_hash, rpm=_limit("rpm", rpm), tpm=_limit("tpm", tpm))
    return replace(record, rpm=rpm, tpm=tpm)


def rotate_key(key_id: str, *, grace_seconds: int = 0) -> tuple[ApiKey, str, ApiKey]:
    """A new key with the old one's account, name, allowed models, limits and expiry; the old one is revoked
    now, or expires after `grace_seconds` so that clients can switch over."""
    old = key_store.get_by_id(key_id)
    if old is None:
        raise NotFound(f"Key {key_id} not found.")
    if not old.is_usable(time.time()):
        raise BadRequest(f"Key {key_id} is revoked or expired; create a new key instead.", param="key_id")
    if not 0 <= grace_seconds <= 30 * 86400:
        raise BadRequest("grace_seconds is 0 to 30 days.", param="grace_seconds")
    remaining = (old.expires_at - time.time()) / 86400 if old.expires_at is not None else None
    new, secret = create_key(old.account_id, name=old.name, expires_in_days=remaining,
                             allowed_models=old.allowed_models, rpm=old.rpm, tpm=old.tpm,
                             budget_micros=old.budget_micros, budget_period=old.budget_period)
    if grace_seconds:
        expires_at = int(time.time()) + grace_seconds
        key_store.set_expiry(old.key_hash, expires_at)
        return new, secret, replace(old, expires_at=expires_at)
    key_store.set_status(old.key_hash, KeyStatus.REVOKED)
    return new, secret, replace(old, status=KeyStatus.REVOKED)


def list_keys(account_id: str) -> list[ApiKey]:
    return key_store.list_for_account(account_id)


def revoke_key(key_id: str) -> ApiKey:
    record = key_store.get_by_id(key_id)
    if record is None:
        raise NotFound(f"Key {key_id} not found.")
    key_store.set_status(record.key_hash, KeyStatus.REVOKED)
    return record
