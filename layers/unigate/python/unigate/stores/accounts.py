"""Accounts, their balances and holds (AccountsTable) and the append-only ledger (LedgerTable).

AccountsTable: account_id (HASH), sk (RANGE)
  sk = "ACCOUNT"        the account: name, status, balance (integer micro-credits available to spend)
  sk = "HOLD#<hold_id>" an open hold: amount, state "open", open_day (the sweeper's index key: the day it
                        was opened and a shard, HOLD_SHARDS below); deleted when it is settled or released (the
                        ledger's settle#<hold_id> entry, with the cost and the amount held, is the record
                        that stays). What the hold was for is on its ledger entry, hold#<hold_id>, only.
LedgerTable: account_id (HASH), entry_id (RANGE), LSI created_at-index for chronological listing.
  entry_id is derived from what the entry is for ("grant#<idempotency key>", "hold#<id>",
  "settle#<id>"), so writing it with attribute_not_exists makes every balance change exactly-once.

Every balance change is one TransactWriteItems that updates the balance and puts its ledger entry,
so sum(ledger amounts) == balance at every committed state. A hold is itself a ledger entry (the
worst case, negative) and its settle gives back what was not used; the pair nets to the cost.
"""

from __future__ import annotations

import zlib
from datetime import UTC, datetime
from typing import Any

from unigate.domain.budgets import BudgetHold
from unigate.domain.errors import Conflict, InsufficientCredits, NotFound
from unigate.domain.money import MAX_MICROS
from unigate.domain.records import Account, AccountStatus, EntryKind, Hold, LedgerEntry
from unigate.infra.config import get_settings
from unigate.infra.observability import count, get_logger
from unigate.stores.dynamo import TransactionCancelled, ddb, marshal, query_all, transact, unmarshal, values

ACCOUNT_SK = "ACCOUNT"
# The sweeper's index (open-holds-index) is keyed by the day a hold was opened. With one key per day, every
# hold of the day and its removal at the settle would write to one index partition, whose sort key
# (created_at) only grows, so DynamoDB cannot split it for heat: about 1,000 writes a second, 500 requests a
# second for the whole gateway. A day's holds are spread over HOLD_SHARDS keys, `<day>#<shard>`.
HOLD_SHARDS = 16


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _accounts() -> str:
    return get_settings().accounts_table


def _ledger() -> str:
    return get_settings().ledger_table


def _account_key(account_id: str) -> dict[str, Any]:
    return {"account_id": {"S": account_id}, "sk": {"S": ACCOUNT_SK}}


def _hold_key(account_id: str, hold_id: str) -> dict[str, Any]:
    return {"account_id": {"S": account_id}, "sk": {"S": f"HOLD#{hold_id}"}}


def _open_day_key(created: str, hold_id: str) -> str:
    """The open-holds-index key of a hold opened at `created` (ISO time): its day and its shard."""
    return f"{created[:10]}#{zlib.crc32(hold_id.encode()) % HOLD_SHARDS}"


def _to_account(item: dict[str, Any]) -> Account:
    return Account(
        account_id=item["account_id"],
        name=item.get("name", ""),
        balance_micros=int(item.get("balance", 0)),
        status=AccountStatus(item.get("status", AccountStatus.ACTIVE)),
        created_at=item.get("created_at", ""),
    )


def _to_entry(item: dict[str, Any]) -> LedgerEntry:
    return LedgerEntry(
        account_id=item["account_id"],
        entry_id=item["entry_id"],
        kind=EntryKind(item["kind"]),
        amount_micros=int(item["amount"]),
        created_at=item["created_at"],
        details=dict(item.get("details") or {}),
    )


def _ledger_put(entry: LedgerEntry) -> dict[str, Any]:
    item = {
        "account_id": entry.account_id,
        "entry_id": entry.entry_id,
        "kind": str(entry.kind),
        "amount": entry.amount_micros,
        "created_at": entry.created_at,
        "details": entry.details or None,
    }
    return {
        "Put": {
            "TableName": _ledger(),
            "Item": marshal(item),
            "ConditionExpression": "attribute_not_exists(entry_id)",
        }
    }


def create_account(account_id: str, name: str) -> Account:
    created = now_iso()
    item = {
        "account_id": account_id,
        "sk": ACCOUNT_SK,
        "name": name,
        "status": str(AccountStatus.ACTIVE),
        "balance": 0,
        "created_at": created,
    }
    ddb().put_item(
        TableName=_accounts(), Item=marshal(item), ConditionExpression="attribute_not_exists(account_id)"
    )
    return Account(account_id, name, 0, AccountStatus.ACTIVE, created)


def set_status(account_id: str, status: AccountStatus) -> None:
    ddb().update_item(
        TableName=_accounts(), Key=_account_key(account_id), UpdateExpression="SET #st = :status",
        ConditionExpression="attribute_exists(account_id)", ExpressionAttributeNames={"#st": "status"},
        ExpressionAttributeValues=values(status=str(status)),
    )


def get_account(account_id: str) -> Account | None:
    out = ddb().get_item(TableName=_accounts(), Key=_account_key(account_id), ConsistentRead=True)
    item = out.get("Item")
    return _to_account(unmarshal(item)) if item else None


def get_entry(account_id: str, entry_id: str) -> LedgerEntry | None:
    out = ddb().get_item(
        TableName=_ledger(),
        Key={"account_id": {"S": account_id}, "entry_id": {"S": entry_id}},
        ConsistentRead=True,
    )
    item = out.get("Item")
    return _to_entry(unmarshal(item)) if item else None


def credit(entry: LedgerEntry) -> LedgerEntry:
    """Adds a positive entry (grant, top-up) to the balance, once per entry_id.

    Replaying the same entry returns the one already written; the same entry_id with another amount
    is a Conflict and changes nothing.
    """
    if entry.amount_micros <= 0:
        raise ValueError("a credit must be positive")
    try:
        transact([_balance_change(entry.account_id, entry.amount_micros), _ledger_put(entry)])
    except TransactionCancelled as cancelled:
        if cancelled.failed(1):
            existing = get_entry(entry.account_id, entry.entry_id)
            if existing and existing.kind == entry.kind and existing.amount_micros == entry.amount_micros:
                return existing
            raise Conflict("This idempotency key was already used with a different amount.") from None
        raise NotFound(f"Account {entry.account_id} not found.") from None
    return entry


def _balance_change(account_id: str, delta: int, *, covered: int | None = None, active: bool = True
                    ) -> dict[str, Any]:
    """A transaction item that adds `delta` (negative to take) to an existing account's balance. With
    `covered`, only while its balance covers that amount (and, with `active`, the account is active), so it
    never goes below zero. ADD is DynamoDB's atomic increment: once the condition has found the balance,
    nothing else reads it."""
    condition, names = "attribute_exists(account_id)", {}
    amounts = values(delta=delta)
    if covered is not None and active:
        condition += " AND #st = :active AND balance >= :covered"
        names = {"#st": "status"}
        amounts.update(values(covered=covered, active=str(AccountStatus.ACTIVE)))
    elif covered is not None:
        condition += " AND balance >= :covered"
        amounts.update(values(covered=covered))
    return {"Update": {
        "TableName": _accounts(), "Key": _account_key(account_id), "UpdateExpression": "ADD balance :delta",
        "ConditionExpression": condition, "ExpressionAttributeValues": amounts,
        **({"ExpressionAttributeNames": names} if names else {}),
    }}


def open_hold(hold: Hold, details: dict[str, str], extra: tuple[dict[str, Any], ...] = ()) -> float:
    """Moves the worst-case cost out of the balance, only if the balance covers it (never below zero).

    `extra` items (conditional reservations elsewhere, such as the key's budget) ride in the same
    transaction after the hold's own three: when one of their conditions fails, TransactionCancelled is
    raised for the caller to interpret, before the balance's own reason.

    Returns DynamoDB's estimate, in GB, of the account's ledger as an item collection: the ledger's local
    index caps it at 10 GB, and at the cap every hold fails. The estimate comes in the same answer, at no
    cost; it is 0 where DynamoDB gives none (the embedded store)."""
    if hold.amount_micros < 0:
        raise ValueError("a hold cannot be negative")
    created = now_iso()
    debit = _balance_change(hold.account_id, -hold.amount_micros, covered=hold.amount_micros)
    record = {
        "Put": {
            "TableName": _accounts(),
            "Item": marshal(
                {
                    "account_id": hold.account_id,
                    "sk": f"HOLD#{hold.hold_id}",
                    "amount": hold.amount_micros,
                    "state": "open",
                    "created_at": created,
                    "open_day": _open_day_key(created, hold.hold_id),
                    # The budget period the hold was taken in, so that a release by the sweeper gives it back there.
                    **({"budget_key": hold.budget.key_id, "budget_period": hold.budget.period}
                       if hold.budget is not None else {}),
                }
            ),
            "ConditionExpression": "attribute_not_exists(sk)",
        }
    }
    entry = LedgerEntry(
        hold.account_id, f"hold#{hold.hold_id}", EntryKind.HOLD, -hold.amount_micros, created, details
    )
    try:
        answer = transact([debit, record, _ledger_put(entry), *extra], collection_sizes=True)
    except TransactionCancelled as cancelled:
        if any(cancelled.failed(3 + index) for index in range(len(extra))):
            raise
        if cancelled.failed(0):
            account = get_account(hold.account_id)
            if account is None:
                raise NotFound(f"Account {hold.account_id} not found.") from None
            if account.status is not AccountStatus.ACTIVE:
                raise InsufficientCredits("The account is suspended.") from None
            raise InsufficientCredits(
                "Insufficient credits: the balance cannot cover the worst-case cost of this request."
            ) from None
        raise Conflict(f"Hold {hold.hold_id} already exists.") from None
    return ledger_size_gb(answer)


def ledger_size_gb(answer: dict[str, Any]) -> float:
    """The upper end of the ledger's item collection size estimate in a write's answer, or 0."""
    estimates = answer.get("ItemCollectionMetrics", {}).get(_ledger(), [])
    return max((float(e["SizeEstimateRangeGB"][-1]) for e in estimates if e.get("SizeEstimateRangeGB")),
               default=0.0)


def settle_hold(hold: Hold, cost_micros: int, extra: tuple[dict[str, Any], ...] = ()) -> bool:
    """Charges `cost_micros` of an open hold and gives the rest back, exactly once.

    Returns False when the hold was already settled (a retry, or a release racing a settle): then
    nothing changes. `extra` items (unconditional counter updates, such as the attempt's measurement)
    ride in the same transaction, so they cost no extra call and apply exactly when the settle does.

    The charge is the cost, never silently clamped to the hold: a provider that produced more than the hold
    priced is charged the excess too, conditionally on the balance (it never goes below zero). What the
    balance cannot cover is written as an `uncollected#<hold>` ledger entry (amount 0, the sum owed in its
    details) in the same transaction, so it is never dropped; the caller counts it as a metric.
    """
    cost = min(max(int(cost_micros), 0), MAX_MICROS)
    excess = max(cost - hold.amount_micros, 0)
    collect = excess
    for _ in range(3):
        try:
            transact(_settle_items(hold, cost, collect, excess - collect) + list(extra))
        except TransactionCancelled as cancelled:
            if cancelled.failed(1) or cancelled.failed(2):
                return False
            if not (collect and cancelled.failed(0)):
                raise
            # The balance moved below the excess: take what it holds now (or nothing, on the last try).
            account = get_account(hold.account_id)
            available = max(account.balance_micros, 0) if account else 0
            collect = min(collect, available)
            continue
        break
    else:
        collect = 0
        try:
            transact(_settle_items(hold, cost, 0, excess) + list(extra))
        except TransactionCancelled as cancelled:
            if cancelled.failed(1) or cancelled.failed(2):
                return False
            raise
    if excess > collect:
        # Alarmed (template.yaml): a provider billed beyond the hold and the balance could not pay for it.
        count("UncollectedMicros", excess - collect)
        get_logger().warning("a charge exceeded its hold and the balance", extra={
            "account_id": hold.account_id, "hold_id": hold.hold_id, "uncollected_micros": excess - collect})
    return True


def _settle_items(hold: Hold, cost: int, collect: int, uncollected: int) -> list[dict[str, Any]]:
    """The settle transaction's items: the balance change (only while it covers what is taken beyond the hold),
    the hold's delete, the settle entry, and the uncollected entry when some of the cost cannot be taken."""
    charged = min(cost, hold.amount_micros) + collect
    refund = hold.amount_micros - charged
    settled = now_iso()
    give_back = _balance_change(hold.account_id, refund, covered=collect or None, active=False)
    # The hold is deleted, not marked settled: the ledger's settle entry is its record, a second settle or a
    # release racing this one still finds no open hold and changes nothing, and a delete is a cheaper write.
    close = {
        "Delete": {
            "TableName": _accounts(),
            "Key": _hold_key(hold.account_id, hold.hold_id),
            "ConditionExpression": "#state = :open AND amount = :amount",
            "ExpressionAttributeNames": {"#state": "state"},
            "ExpressionAttributeValues": values(open="open", amount=hold.amount_micros),
        }
    }
    details = {"cost": str(charged), "held": str(hold.amount_micros)}
    items = [give_back, close, _ledger_put(LedgerEntry(hold.account_id, f"settle#{hold.hold_id}", EntryKind.SETTLE,
                                                       refund, settled, details))]
    if uncollected:
        items.append(_ledger_put(LedgerEntry(hold.account_id, f"uncollected#{hold.hold_id}", EntryKind.UNCOLLECTED,
                                             0, settled, {"uncollected": str(uncollected), "cost": str(cost),
                                                          "held": str(hold.amount_micros)})))
    return items


def list_open_holds(account_id: str) -> list[dict[str, Any]]:
    out = ddb().query(
        TableName=_accounts(),
        KeyConditionExpression="account_id = :account_id AND begins_with(sk, :hold)",
        FilterExpression="#state = :open",
        ExpressionAttributeNames={"#state": "state"},
        ExpressionAttributeValues=values(account_id=account_id, hold="HOLD#", open="open"),
        ConsistentRead=True,
    )
    return [unmarshal(i) for i in out.get("Items", [])]


def stale_holds(day: str, before: str) -> list[Hold]:
    """Holds opened on `day` (YYYY-MM-DD) before the ISO time `before` and still open."""
    items: list[dict[str, Any]] = []
    # The bare day keys the holds opened before the index was sharded (open during an upgrade).
    for key in (day, *(f"{day}#{shard}" for shard in range(HOLD_SHARDS))):
        items += query_all(TableName=_accounts(), IndexName="open-holds-index",
                           KeyConditionExpression="open_day = :day AND created_at < :before",
                           ExpressionAttributeValues=values(day=key, before=before))
    held = []
    for item in items:
        out = ddb().get_item(TableName=_accounts(), Key=_hold_key(item["account_id"], item["sk"][5:]),
                             ConsistentRead=True)
        record = unmarshal(out.get("Item") or {})
        if record.get("state") == "open":
            budget = (BudgetHold(record["budget_key"], record["budget_period"], 0)
                      if record.get("budget_key") else None)
            held.append(Hold(record["account_id"], record["sk"][5:], int(record["amount"]), budget))
    return held


def list_ledger(
    account_id: str, *, limit: int = 100, start: dict[str, Any] | None = None
) -> tuple[list[LedgerEntry], dict[str, Any] | None]:
    """Entries oldest first, `limit` at a time; pass the returned key as `start` to continue."""
    kwargs: dict[str, Any] = {
        "TableName": _ledger(),
        "IndexName": "created_at-index",
        "KeyConditionExpression": "account_id = :account_id",
        "ExpressionAttributeValues": values(account_id=account_id),
        "Limit": limit,
    }
    if start:
        kwargs["ExclusiveStartKey"] = start
    out = ddb().query(**kwargs)
    return [_to_entry(unmarshal(i)) for i in out.get("Items", [])], out.get("LastEvaluatedKey") or None


def ledger_sum(account_id: str) -> int:
    total, start = 0, None
    while True:
        entries, start = list_ledger(account_id, limit=500, start=start)
        total += sum(e.amount_micros for e in entries)
        if start is None:
            return total
