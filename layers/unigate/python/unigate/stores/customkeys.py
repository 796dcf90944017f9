"""The accounts' own provider keys: values in Secrets Manager under the account's own path
(<account secret prefix><account>/<name>), names and hints in the account's partition of AccountsTable
(sk = "CUSTOMKEY#<name>"), so listing needs no secretsmanager:ListSecrets (which cannot be scoped)."""

from __future__ import annotations

import contextlib
from typing import Any

from unigate.infra import aws
from unigate.infra.config import get_settings
from unigate.stores.dynamo import ddb, marshal, query_all, values


def _secret_name(account_id: str, name: str) -> str:
    return f"{get_settings().account_secret_prefix}{account_id}/{name}"


def _key(account_id: str, name: str) -> dict[str, Any]:
    return {"account_id": {"S": account_id}, "sk": {"S": f"CUSTOMKEY#{name}"}}


def put(account_id: str, name: str, value: str, created_at: str) -> None:
    client = aws.client("secretsmanager")
    secret = _secret_name(account_id, name)
    try:
        client.create_secret(Name=secret, SecretString=value)
    except client.exceptions.ResourceExistsException:
        client.put_secret_value(SecretId=secret, SecretString=value)
    item = {"account_id": account_id, "sk": f"CUSTOMKEY#{name}", "name": name, "hint": value[-4:],
            "created_at": created_at}
    ddb().put_item(TableName=get_settings().accounts_table, Item=marshal(item))


def value(account_id: str, name: str) -> str | None:
    client = aws.client("secretsmanager")
    try:
        return str(client.get_secret_value(SecretId=_secret_name(account_id, name))["SecretString"])
    except client.exceptions.ResourceNotFoundException:
        return None


def listed(account_id: str) -> list[dict[str, Any]]:
    return query_all(TableName=get_settings().accounts_table,
                     KeyConditionExpression="account_id = :a AND begins_with(sk, :p)",
                     ExpressionAttributeValues=values(a=account_id, p="CUSTOMKEY#"), ConsistentRead=True)


def delete(account_id: str, name: str) -> bool:
    out = ddb().delete_item(TableName=get_settings().accounts_table, Key=_key(account_id, name),
                            ReturnValues="ALL_OLD")
    client = aws.client("secretsmanager")
    with contextlib.suppress(client.exceptions.ResourceNotFoundException):
        client.delete_secret(SecretId=_secret_name(account_id, name), ForceDeleteWithoutRecovery=True)
    return bool(out.get("Attributes"))
