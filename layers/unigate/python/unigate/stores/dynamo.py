"""Thin helpers over boto3's low-level DynamoDB client: attribute-value conversion and transactions.

The client (unigate.infra.aws) takes and returns the wire format, and every item here has a handful of plain
attributes, so the stores build attribute-value dicts themselves rather than going through boto3's
resource layer and its Decimal numbers.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping, Sequence
from typing import Any

from unigate.domain.errors import ServiceUnavailable
from unigate.infra import aws
from unigate.infra.config import get_settings

Item = dict[str, Any]


def ddb() -> Any:
    return aws.client("dynamodb")


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
    if kind in {"SS", "NS"}:
        return set(value) if kind == "SS" else {int(v) for v in value}
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
    """A transaction whose condition failed; `reasons` has one code per item ("None" where it passed), and
    `items` the item as it was wherever a failed item asked for it (ReturnValuesOnConditionCheckFailure)."""

    def __init__(self, reasons: list[str], items: list[dict[str, Any] | None] | None = None) -> None:
        super().__init__(", ".join(reasons))
        self.reasons = reasons
        self.items = items or [None] * len(reasons)

    def failed(self, index: int) -> bool:
        return index < len(self.reasons) and self.reasons[index] == "ConditionalCheckFailed"


def transact(items: list[Item], *, collection_sizes: bool = False) -> dict[str, Any]:
    """TransactWriteItems, retried with jittered backoff while DynamoDB cancels it as busy (a conflict with
    another transaction on the same item, or an item throttled); returns DynamoDB's answer (with
    `collection_sizes`, the size estimates of the item collections of tables with a local secondary index
    that it wrote to).

    botocore retries throttling and 5xx answers of each call itself, but not a cancelled transaction: this is
    the one loop that does. A transaction either applies whole or not at all, so retrying one that was
    cancelled can never apply it twice. Condition failures are raised at once for the caller to interpret.

    The loop and botocore's attempts share one budget, `transaction_attempts` requests in all (botocore
    reports the attempts of each call): a call is only started while its every attempt fits.
    """
    from botocore.exceptions import ClientError

    client = ddb()
    params: dict[str, Any] = {"TransactItems": items}
    if collection_sizes:
        params["ReturnItemCollectionMetrics"] = "SIZE"
    budget, spent = get_settings().transaction_attempts, 0
    for attempt in range(budget):
        try:
            return dict(client.transact_write_items(**params))
        except ClientError as exc:
            if not aws.is_busy(exc):
                reasons = aws.cancellation_reasons(exc)
                if reasons:
                    found = exc.response.get("CancellationReasons", [])
                    raise TransactionCancelled(reasons, [unmarshal(r["Item"]) if r.get("Item") else None
                                                         for r in found]) from None
                raise
            if aws.error_code(exc) != "TransactionCanceledException":
                break  # still throttled after botocore's own retries
            spent += 1 + int(exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0))
        if spent + aws.MAX_ATTEMPTS > budget:
            break
        time.sleep(min(0.4, 0.01 * 2**attempt) * random.random())  # noqa: S311 - jitter, not crypto
    raise ServiceUnavailable("The balance store is busy; please retry.", code="store_busy")
