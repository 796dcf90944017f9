"""Thin helpers over the low-level DynamoDB client: attribute-value conversion and transactions.

The client is unigate.infra.dynamodb's (DynamoDB's JSON API without botocore: see there why); it takes and
returns the wire format, as boto3's low-level client does, and every item here has a handful of plain
attributes.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping, Sequence
from typing import Any

from unigate.domain.errors import ServiceUnavailable
from unigate.infra import aws, dynamodb

Item = dict[str, Any]

# Reasons DynamoDB gives for cancelling a transaction that say "try again", not "your condition failed".
_RETRYABLE_REASONS = {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}



def ddb() -> dynamodb.DynamoDB:
    return dynamodb.client()


def to_av(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if value is None:
        return {"NULL": True}
    if isinstance(value, Mapping):
        return {"M": {k: to_av(v) for k, v in value.items()}}
    if isinstance(value, Sequence):
        return {"L": [to_av(v) for v in value]}
    raise TypeError(f"cannot store {type(value).__name__} in DynamoDB here")


def from_av(av: Mapping[str, Any]) -> Any:
    (kind, value), = av.items()
    if kind in {"S", "BOOL"}:
        return value
    if kind == "N":
        # Every number stored by unigate is an integer (micro-credits, epoch seconds, counters).
        return int(value)
    if kind == "NULL":
        return None
    if kind == "M":
        return {k: from_av(v) for k, v in value.items()}
    if kind == "L":
        return [from_av(v) for v in value]
    if kind == "SS":
        return set(value)
    raise TypeError(f"unexpected DynamoDB type {kind}")


def marshal(item: Mapping[str, Any]) -> Item:
    return {k: to_av(v) for k, v in item.items() if v is not None}


def unmarshal(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: from_av(v) for k, v in item.items()}


def values(**named: Any) -> dict[str, Any]:
    """ExpressionAttributeValues from keyword arguments: values(amount=5) -> {":amount": {"N": "5"}}."""
    return {f":{k}": to_av(v) for k, v in named.items()}


def query_all(**kwargs: Any) -> list[dict[str, Any]]:
    """Every item a Query matches, following its pages, unmarshalled."""
    items: list[dict[str, Any]] = []
    while True:
        page = ddb().query(**kwargs)
        items.extend(unmarshal(i) for i in page.get("Items", []))
        if not page.get("LastEvaluatedKey"):
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


class TransactionCancelled(Exception):
    """A transaction whose condition failed; `reasons` has one code per item ("None" where it passed)."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__(", ".join(reasons))
        self.reasons = reasons

    def failed(self, index: int) -> bool:
        return index < len(self.reasons) and self.reasons[index] == "ConditionalCheckFailed"


def transact(items: list[Item], *, attempts: int, collection_sizes: bool = False) -> dict[str, Any]:
    """TransactWriteItems, retried with jittered backoff while DynamoDB reports a conflict or throttling;
    returns DynamoDB's answer (with `collection_sizes`, the size estimates of the item collections of
    tables with a local secondary index that it wrote to).

    A transaction either applies whole or not at all, so retrying one that was cancelled for a conflict
    can never apply it twice. Condition failures are raised at once for the caller to interpret.
    """
    client = ddb()
    params: dict[str, Any] = {"TransactItems": items}
    if collection_sizes:
        params["ReturnItemCollectionMetrics"] = "SIZE"
    for attempt in range(attempts):
        try:
            return client.transact_write_items(**params)
        except client.exceptions.TransactionCanceledException as exc:
            reasons = [r.get("Code", "None") for r in exc.response.get("CancellationReasons", [])]
            if not any(r in _RETRYABLE_REASONS for r in reasons):
                raise TransactionCancelled(reasons) from None
        except dynamodb.ClientError as exc:
            if not aws.is_busy(exc):
                raise
        time.sleep(min(0.4, 0.01 * 2**attempt) * random.random())  # noqa: S311 - jitter, not crypto
    raise ServiceUnavailable("The balance store is busy; please retry.", code="store_busy")
