"""Deployments in AccountsTable, in one partition of their own (account_id = "#deployments",
sk = the lower-cased name), so that one Query reads them all and names match in any case."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from unigate.domain.records import Deployment, FilterCategory
from unigate.infra.config import get_settings
from unigate.stores.dynamo import ddb, marshal, query_all, values

PARTITION = "#deployments"


def _to_deployment(item: dict[str, Any]) -> Deployment:
    categories = tuple(
        FilterCategory(name=c["name"], terms=tuple(c.get("terms") or ()), patterns=tuple(c.get("patterns") or ()),
                       input=bool(c.get("input", True)), output=bool(c.get("output", True)))
        for c in item.get("content_filter") or ()
    )
    return Deployment(
        name=item["name"], endpoint=item["endpoint"], model_version=item.get("model_version", ""),
        capacity_type=item.get("capacity_type", "on-demand"), capacity_tpm=item.get("capacity_tpm"),
        rpm=item.get("rpm"), tpm=item.get("tpm"), content_filter=categories, created_at=item.get("created_at", ""),
    )


def put(deployment: Deployment) -> None:
    item = {"account_id": PARTITION, "sk": deployment.name.lower(), **asdict(deployment)}
    ddb().put_item(TableName=get_settings().accounts_table, Item=marshal(item))


def all_deployments() -> list[Deployment]:
    items = query_all(TableName=get_settings().accounts_table, KeyConditionExpression="account_id = :p",
                      ExpressionAttributeValues=values(p=PARTITION))
    return [_to_deployment(item) for item in items]


def delete(name: str) -> bool:
    out = ddb().delete_item(TableName=get_settings().accounts_table,
                            Key={"account_id": {"S": PARTITION}, "sk": {"S": name.lower()}}, ReturnValues="ALL_OLD")
    return bool(out.get("Attributes"))
