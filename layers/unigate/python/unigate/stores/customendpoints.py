"""The accounts' custom endpoints in their partition of AccountsTable: sk = "CUSTOMENDPOINT#<name>"."""

from __future__ import annotations

from typing import Any

from unigate.infra.config import get_settings
from unigate.stores.dynamo import ddb, marshal, query_all, unmarshal, values

PREFIX = "CUSTOMENDPOINT#"


def _key(account_id: str, name: str) -> dict[str, Any]:
    return {"account_id": {"S": account_id}, "sk": {"S": PREFIX + name}}


def put(account_id: str, item: dict[str, Any]) -> None:
    ddb().put_item(TableName=get_settings().accounts_table,
                   Item=marshal({"account_id": account_id, "sk": PREFIX + item["name"], **item}))


def get(account_id: str, name: str) -> dict[str, Any] | None:
    out = ddb().get_item(TableName=get_settings().accounts_table, Key=_key(account_id, name), ConsistentRead=True)
    return unmarshal(out["Item"]) if out.get("Item") else None


def listed(account_id: str) -> list[dict[str, Any]]:
    return query_all(TableName=get_settings().accounts_table,
                     KeyConditionExpression="account_id = :a AND begins_with(sk, :p)",
                     ExpressionAttributeValues=values(a=account_id, p=PREFIX), ConsistentRead=True)


def delete(account_id: str, name: str) -> bool:
    out = ddb().delete_item(TableName=get_settings().accounts_table, Key=_key(account_id, name),
                            ReturnValues="ALL_OLD")
    return bool(out.get("Attributes"))
