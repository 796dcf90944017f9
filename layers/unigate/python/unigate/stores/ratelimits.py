"""Rate-limit counters in MetricsTable: one item per scope and minute (endpoint = "RL#<scope>",
sk = the minute), expiring through TTL. One conditional UpdateItem both checks and counts, so the limit
holds across every Lambda instance."""

from __future__ import annotations

from dataclasses import dataclass

from unigate.infra.config import get_settings
from unigate.stores.dynamo import ddb, values


@dataclass(frozen=True)
class Usage:
    admitted: bool
    requests: int
    tokens: int


def _key(scope: str, minute: int) -> dict[str, dict[str, str]]:
    return {"endpoint": {"S": f"RL#{scope}"}, "sk": {"S": str(minute)}}


def take(scope: str, minute: int, *, rpm: int | None, tpm: int | None, tokens: int) -> Usage:
    """Counts one request of `tokens` in the minute if that keeps it within both limits."""
    conditions, named = [], {"one": 1, "tokens": tokens, "expires": (minute + 2) * 60}
    if rpm is not None:
        conditions.append("(attribute_not_exists(r) OR r < :rpm)")
        named["rpm"] = rpm
    if tpm is not None:
        conditions.append("(attribute_not_exists(t) OR t <= :room)")
        named["room"] = tpm - tokens
    client = ddb()
    try:
        out = client.update_item(
            TableName=get_settings().metrics_table, Key=_key(scope, minute),
            UpdateExpression="ADD r :one, t :tokens SET expires_at = :expires",
            ConditionExpression=" AND ".join(conditions), ExpressionAttributeValues=values(**named),
            ReturnValues="ALL_NEW", ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    except client.exceptions.ConditionalCheckFailedException as exc:
        old = exc.response.get("Item") or {}
        return Usage(False, int(old.get("r", {}).get("N", 0)), int(old.get("t", {}).get("N", 0)))
    new = out["Attributes"]
    return Usage(True, int(new["r"]["N"]), int(new["t"]["N"]))


def give_back(scope: str, minute: int, *, tokens: int) -> None:
    """Uncounts a request that another limit refused after this one admitted it."""
    ddb().update_item(TableName=get_settings().metrics_table, Key=_key(scope, minute),
                      UpdateExpression="ADD r :minus, t :tokens",
                      ExpressionAttributeValues=values(minus=-1, tokens=-tokens))
