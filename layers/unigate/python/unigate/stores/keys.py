"""API keys in DynamoDB, stored under the SHA-256 of the key; the plaintext is never written.

Table layout (KeysTable):
  key_hash (HASH)                       -> the key record the authorizer reads with one GetItem
  GSI key_id-index:     key_id (HASH)   -> revoke / show by public id
  GSI account_id-index: account_id (HASH), created_at (RANGE) -> list an account's keys
"""

from __future__ import annotations

from typing import Any

from unigate.domain.records import ApiKey, KeyStatus
from unigate.infra.config import get_settings
from unigate.stores.dynamo import ddb, marshal, query_all, unmarshal, values


def _table() -> str:
    return get_settings().keys_table


def _to_key(item: dict[str, Any]) -> ApiKey:
    return ApiKey(
        key_id=item["key_id"],
        key_hash=item["key_hash"],
        account_id=item["account_id"],
        name=item.get("name", ""),
        hint=item.get("hint", ""),
        status=KeyStatus(item.get("status", KeyStatus.ACTIVE)),
        created_at=item["created_at"],
        expires_at=item.get("expires_at"),
        allowed_models=tuple(item.get("allowed_models") or ()),
        rpm=item.get("rpm"),
        tpm=item.get("tpm"),
        budget_micros=item.get("budget"),
        budget_period=item.get("budget_period") or "lifetime",
    )


def put(key: ApiKey) -> None:
    item = {
        "key_hash": key.key_hash,
        "key_id": key.key_id,
        "account_id": key.account_id,
        "name": key.name,
        "hint": key.hint,
        "status": str(key.status),
        "created_at": key.created_at,
        "expires_at": key.expires_at,
        "allowed_models": list(key.allowed_models) or None,
        "rpm": key.rpm,
        "tpm": key.tpm,
        "budget": key.budget_micros,
        "budget_period": key.budget_period if key.budget_micros is not None else None,
    }
    ddb().put_item(
        TableName=_table(), Item=marshal(item), ConditionExpression="attribute_not_exists(key_hash)"
    )


def get_by_hash(key_hash: str) -> ApiKey | None:
    # Strongly consistent: a key used right after it was created must not be denied, because API
    # Gateway would then cache that denial for the whole authorizer TTL.
    out = ddb().get_item(TableName=_table(), Key={"key_hash": {"S": key_hash}}, ConsistentRead=True)
    item = out.get("Item")
    return _to_key(unmarshal(item)) if item else None


def get_by_id(key_id: str) -> ApiKey | None:
    out = ddb().query(
        TableName=_table(),
        IndexName="key_id-index",
        KeyConditionExpression="key_id = :key_id",
        ExpressionAttributeValues=values(key_id=key_id),
    )
    items = out.get("Items") or []
    return _to_key(unmarshal(items[0])) if items else None


def list_for_account(account_id: str) -> list[ApiKey]:
    items = query_all(TableName=_table(), IndexName="account_id-index",
                      KeyConditionExpression="account_id = :account_id",
                      ExpressionAttributeValues=values(account_id=account_id))
    return [_to_key(item) for item in items]


def set_status(key_hash: str, status: KeyStatus) -> None:
    ddb().update_item(
        TableName=_table(),
        Key={"key_hash": {"S": key_hash}},
        UpdateExpression="SET #s = :status",
        ConditionExpression="attribute_exists(key_hash)",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues=values(status=str(status)),
    )


def set_limits(key_hash: str, *, rpm: int | None, tpm: int | None) -> None:
    """Sets (or, with None, removes) a key's requests and tokens per minute."""
    sets, removes, named = [], [], {}
    for name, value in (("rpm", rpm), ("tpm", tpm)):
        if value is None:
            removes.append(name)
        else:
            sets.append(f"{name} = :{name}")
            named[name] = value
    expression = (f"SET {', '.join(sets)} " if sets else "") + (f"REMOVE {', '.join(removes)}" if removes else "")
    ddb().update_item(
        TableName=_table(), Key={"key_hash": {"S": key_hash}}, UpdateExpression=expression.strip(),
        ConditionExpression="attribute_exists(key_hash)",
        **({"ExpressionAttributeValues": values(**named)} if named else {}),
    )


def set_expiry(key_hash: str, expires_at: int) -> None:
    ddb().update_item(
        TableName=_table(), Key={"key_hash": {"S": key_hash}}, UpdateExpression="SET expires_at = :at",
        ConditionExpression="attribute_exists(key_hash)", ExpressionAttributeValues=values(at=expires_at),
    )


def set_budget(key_hash: str, *, budget_micros: int | None, period: str) -> None:
    """Sets (or, with None, removes) a key's budget and its period."""
    if budget_micros is None:
        expression, named = "REMOVE budget, budget_period", None
    else:
        expression, named = "SET budget = :budget, budget_period = :period", values(budget=budget_micros, period=period)
    ddb().update_item(
        TableName=_table(), Key={"key_hash": {"S": key_hash}}, UpdateExpression=expression,
        ConditionExpression="attribute_exists(key_hash)", **({"ExpressionAttributeValues": named} if named else {}),
    )
