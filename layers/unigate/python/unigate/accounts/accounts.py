"""Account management (service layer)."""

from __future__ import annotations

import secrets

from unigate.domain.errors import Conflict, NotFound
from unigate.domain.records import Account, AccountStatus
from unigate.stores import accounts as account_store


def create_account(name: str = "", account_id: str | None = None) -> Account:
    account_id = account_id or "acct_" + secrets.token_hex(8)
    if account_store.get_account(account_id) is not None:
        raise Conflict(f"Account {account_id} already exists.")
    return account_store.create_account(account_id, name)


def set_status(account_id: str, status: AccountStatus) -> Account:
    """Suspending an account stops its keys at the authorizer and refuses new holds."""
    get_account(account_id)
    account_store.set_status(account_id, status)
    return get_account(account_id)


def get_account(account_id: str) -> Account:
    account = account_store.get_account(account_id)
    if account is None:
        raise NotFound(f"Account {account_id} not found.")
    return account
