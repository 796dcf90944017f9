"""Per-key budget items (AccountsTable) and the transaction items that reserve and charge them.

AccountsTable, in the account's partition:
  sk = "BUDGET#<key_id>#<period>"  used (micro-credits spent plus held in that period), spent (charged),
                                   alerted (the alert percents already reported), expires_at (TTL: a
                                   while after the period's end; a lifetime item never expires)
The item is created by the first hold of its period (ADD makes it), so a new period starts by itself.

The hold transaction carries `hold_item` beside the balance's debit: `used <= limit - amount`, checked
atomically with the balance's own condition, so concurrent requests can never overspend either. The
settle and the release carry `settle_item`: the cost moves from held to spent, the rest is given back.
A key without a budget adds no item to either transaction and no read.
"""

from __future__ import annotations

from typing import Any

from unigate.domain.budgets import BudgetHold
from unigate.infra.config import get_settings
from unigate.stores.dynamo import ddb, unmarshal, values

# Period items are kept this long past their period's end (for GET /v0/key and the reports' budget lines).
KEEP_SECONDS = 40 * 86400


def _table() -> str:
    return get_settings().accounts_table


def budget_sk(key_id: str, period: str) -> str:
    return f"BUDGET#{key_id}#{period}"


def _key(account_id: str, key_id: str, period: str) -> dict[str, Any]:
    return {"account_id": {"S": account_id}, "sk": {"S": budget_sk(key_id, period)}}


def _expiry(budget: BudgetHold) -> int | None:
    if budget.ends_at is None:
        return None
    from datetime import datetime

    return int(datetime.fromisoformat(budget.ends_at.replace("Z", "+00:00")).timestamp()) + KEEP_SECONDS


def hold_item(account_id: str, budget: BudgetHold, amount_micros: int) -> dict[str, Any]:
    """Reserves `amount_micros` from the key's budget for the hold's period, only while it fits the limit.
    The item as it was comes back when the condition fails (for the alert and the message)."""
    expires = _expiry(budget)
    update = "ADD used :amount" + (" SET expires_at = if_not_exists(expires_at, :expires)" if expires else "")
    named = values(amount=amount_micros, room=budget.limit_micros - amount_micros)
    if expires:
        named.update(values(expires=expires))
    return {"Update": {
        "TableName": _table(), "Key": _key(account_id, budget.key_id, budget.period),
        "UpdateExpression": update, "ConditionExpression": "attribute_not_exists(used) OR used <= :room",
        "ExpressionAttributeValues": named, "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }}


def settle_item(account_id: str, budget: BudgetHold, held_micros: int, charged_micros: int) -> dict[str, Any]:
    """Charges `charged_micros` of a hold to the budget of the period it was taken in; the rest goes back."""
    return {"Update": {
        "TableName": _table(), "Key": _key(account_id, budget.key_id, budget.period),
        "UpdateExpression": "ADD used :back, spent :charged",
        "ExpressionAttributeValues": values(back=charged_micros - held_micros, charged=charged_micros),
    }}


def usage(account_id: str, key_id: str, period: str, *, consistent: bool = False) -> dict[str, Any]:
    """The period's item: {"used", "spent", "alerted"} (zeros when the period has no request yet)."""
    out = ddb().get_item(TableName=_table(), Key=_key(account_id, key_id, period), ConsistentRead=consistent)
    return usage_of(unmarshal(out.get("Item") or {}))


def usage_of(item: dict[str, Any]) -> dict[str, Any]:
    return {"used": int(item.get("used", 0)), "spent": int(item.get("spent", 0)),
            "alerted": {int(p) for p in item.get("alerted") or ()}}


def usages(account_id: str, wanted: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    """The items of several (key_id, period) pairs, by BatchGetItem (100 at a time)."""
    found: dict[tuple[str, str], dict[str, Any]] = {pair: usage_of({}) for pair in wanted}
    pairs = list(dict.fromkeys(wanted))
    for start in range(0, len(pairs), 100):
        request: dict[str, Any] = {_table(): {"Keys": [_key(account_id, k, p) for k, p in pairs[start:start + 100]]}}
        while request:
            out = ddb().batch_get_item(RequestItems=request)
            for item in out.get("Responses", {}).get(_table(), []):
                record = unmarshal(item)
                _, key_id, period = record["sk"].split("#", 2)
                found[(key_id, period)] = usage_of(record)
            request = out.get("UnprocessedKeys") or {}
    return found


def mark_alerted(account_id: str, key_id: str, period: str, percent: int) -> bool:
    """Records that the alert at `percent` was reported for the period; False if it already was (so each
    crossing is reported once, whichever request sees it first). A write only at a crossing."""
    from botocore.exceptions import ClientError

    try:
        ddb().update_item(
            TableName=_table(), Key=_key(account_id, key_id, period), UpdateExpression="ADD alerted :p",
            ConditionExpression="NOT contains(alerted, :one)",
            ExpressionAttributeValues={":p": {"NS": [str(percent)]}, ":one": {"N": str(percent)}},
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise
    return True
