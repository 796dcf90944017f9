"""Credits: balances, grants, and hold-then-settle around paid requests (service layer).

All amounts are integer micro-credits (see unigate.domain.money). The stores make each change atomic and
exactly-once; this module names the operations and checks their arguments.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from unigate.accounts import budgets
from unigate.domain.budgets import BudgetHold
from unigate.domain.errors import BadRequest, InsufficientCredits, ServiceUnavailable
from unigate.domain.money import MAX_MICROS, micros_to_credits
from unigate.domain.records import EntryKind, Hold, LedgerEntry
from unigate.infra.observability import count, get_logger
from unigate.stores import accounts as account_store
from unigate.stores import budgets as budget_store
from unigate.stores.dynamo import TransactionCancelled

_IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9._:\-]{1,128}\Z")
# DynamoDB caps an account's ledger (an item collection under a local index) at 10 GB; each request adds
# about 0.9 KB. Warned of at 8 GB: about two million requests before the cap.
LEDGER_WARNING_GB = 8.0


def credits_of(account_id: str) -> dict[str, object]:
    """The contract's credits body: {"id": ..., "credits": 232.32}."""
    from unigate.accounts.accounts import get_account

    return {"id": account_id, "credits": micros_to_credits(get_account(account_id).balance_micros)}


def grant(account_id: str, amount_micros: int, *, idempotency_key: str, note: str = "") -> LedgerEntry:
    """Adds credits once per idempotency key; a replay returns the original entry."""
    if isinstance(amount_micros, bool) or not isinstance(amount_micros, int) or not 0 < amount_micros <= MAX_MICROS:
        raise BadRequest("The amount must be a positive number of credits, at most one billion.")
    if not _IDEMPOTENCY_KEY.match(idempotency_key):
        raise BadRequest("The idempotency key must be 1-128 characters of A-Z a-z 0-9 . _ : -")
    entry = LedgerEntry(
        account_id=account_id,
        entry_id=f"grant#{idempotency_key}",
        kind=EntryKind.GRANT,
        amount_micros=amount_micros,
        created_at=account_store.now_iso(),
        details={"note": note} if note else {},
    )
    return account_store.credit(entry)


def hold(account_id: str, amount_micros: int, details: dict[str, str] | None = None, *,
         budget: BudgetHold | None = None) -> Hold:
    """Reserves the worst-case cost of a request, or raises InsufficientCredits (402). With `budget`, the
    same amount is reserved from the key's budget in the same transaction, or KeyBudgetExceeded (402)."""
    # A hold may be 0 (a free endpoint, or the caller's own provider key with no fee): it still checks the
    # account is active and gives the attempt its settle, query log record and measurement.
    held = Hold(account_id=account_id, hold_id=secrets.token_hex(12), amount_micros=max(int(amount_micros), 0),
                budget=budget)
    extra: tuple[dict[str, Any], ...] = ()
    if budget is not None:
        if held.amount_micros > budget.limit_micros:  # can never fit: refused without a write
            raise budgets.refuse(account_id, budget, held.amount_micros, None)
        extra = (budget_store.hold_item(account_id, budget, held.amount_micros),)
    try:
        ledger_gb = account_store.open_hold(held, details or {}, extra)
    except TransactionCancelled as cancelled:  # only the budget's item: the balance's reasons are the store's
        if budget is None:
            raise
        found = cancelled.items[3] if len(cancelled.items) > 3 else None
        raise budgets.refuse(account_id, budget, held.amount_micros, found or {}) from None
    except InsufficientCredits:
        count("HoldRejections")
        raise
    except ServiceUnavailable:
        count("HoldFailures")  # alarmed: the balance store could not take a hold after its retries
        raise
    if ledger_gb >= LEDGER_WARNING_GB:
        # Alarmed: about two million requests before this account's holds would start to fail (docs/deploy.md).
        count("LedgerNearLimit")
        get_logger().warning("an account's ledger nears DynamoDB's 10 GB item collection limit",
                             extra={"account_id": account_id, "ledger_gb": ledger_gb})
    return held


def settle(held: Hold, cost_micros: int, extra: tuple[dict[str, Any], ...] = ()) -> bool:
    """Charges the real cost and returns the rest of the hold; False if it was already settled.
    `extra` transaction items (counters) are applied with the settle, atomically, and so is the key's
    budget share: charged to the period the hold was taken in, the rest given back there."""
    if held.budget is None:
        return account_store.settle_hold(held, cost_micros, extra)
    charged = charge_of(held, cost_micros)
    share = budget_store.settle_item(held.account_id, held.budget, held.amount_micros, charged)
    settled = account_store.settle_hold(held, cost_micros, (*extra, share))
    if settled:
        budgets.after_settle(held.account_id, held.budget, charged)
    return settled


def charge_of(held: Hold, cost_micros: int) -> int:
    """What a settle charges: the cost clamped to [0, hold] (as the store clamps it)."""
    return min(max(int(cost_micros), 0), held.amount_micros)


def release(held: Hold) -> bool:
    """Gives the whole hold back (the request produced nothing billable)."""
    return settle(held, 0)
