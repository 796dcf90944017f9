"""Top-up plans, stored in the account's own partition of AccountsTable (sk = "PLAN#<plan_id>").

Plan items also carry plan_group = "plans" and plan_key = "<account_id>#<plan_id>", the keys of the
sparse plans-index, so a scheduled run queries every plan and nothing else.
"""

from __future__ import annotations

from typing import Any

from unigate.infra.config import get_settings
from unigate.stores.dynamo import ddb, marshal, query_all, values

GROUP = "plans"


def _table() -> str:
    return get_settings().accounts_table


def put(account_id: str, plan_id: str, plan: dict[str, Any]) -> None:
    item = {**plan, "account_id": account_id, "sk": f"PLAN#{plan_id}", "plan_id": plan_id,
            "plan_group": GROUP, "plan_key": f"{account_id}#{plan_id}"}
    ddb().put_item(TableName=_table(), Item=marshal(item))


def delete(account_id: str, plan_id: str) -> bool:
    out = ddb().delete_item(TableName=_table(), Key={"account_id": {"S": account_id}, "sk": {"S": f"PLAN#{plan_id}"}},
                            ReturnValues="ALL_OLD")
    return bool(out.get("Attributes"))


def for_account(account_id: str) -> list[dict[str, Any]]:
    return query_all(TableName=_table(), KeyConditionExpression="account_id = :a AND begins_with(sk, :p)",
                     ExpressionAttributeValues=values(a=account_id, p="PLAN#"), ConsistentRead=True)


def every_plan() -> list[dict[str, Any]]:
    return query_all(TableName=_table(), IndexName="plans-index", KeyConditionExpression="plan_group = :g",
                     ExpressionAttributeValues=values(g=GROUP))
