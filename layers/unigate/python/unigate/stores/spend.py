"""Spend aggregates (SpendTable): what each account spent per hour and per day, by key, endpoint and tags.

SpendTable: account_id (HASH), sk (RANGE)
  sk = "<g>#<bucket>#<cell>"  g is "h" (bucket 2026-12-02T05) or "d" (bucket 2026-12-02); the cell is one
                              combination of key, endpoint and tags (a hash of them). Attributes: key_id,
                              endpoint, tags, cost (micro-credits charged), requests; hour items expire
                              after HOUR_RETENTION_DAYS (TTL), day items are kept.

A settle adds its charge to two items (its hour's cell and its day's cell) inside its own transaction, so
the aggregates exist exactly when the charge does and cost no extra call. Every grouping (key, endpoint,
model, tag) is read from the same cells: a report reads one item per cell and bucket of its range,
whatever the number of requests behind it. A request's tags count up to MAX_TAGS (the first distinct
ones, each cut to MAX_TAG_CHARS), which bounds an item's size; the query log keeps them all.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from unigate.infra.config import get_settings
from unigate.stores.dynamo import marshal, query_all, values

MAX_TAGS = 4
MAX_TAG_CHARS = 128
HOUR_RETENTION_DAYS = 92


def _table() -> str:
    return get_settings().spend_table


def bucket(granularity: str, moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H}" if granularity == "h" else f"{moment:%Y-%m-%d}"


def counted_tags(tags: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(t[:MAX_TAG_CHARS] for t in tags))[:MAX_TAGS]


def _cell(key_id: str, endpoint: str, tags: list[str]) -> str:
    # A separator no key id or endpoint name contains; tags are JSON-safe text.
    return hashlib.sha256("\x1f".join([key_id, endpoint, *tags]).encode()).hexdigest()[:20]


def settle_items(account_id: str, key_id: str, endpoint: str, tags: Sequence[str], cost_micros: int, *,
                 moment: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    """The two Update items that add one settled request to its hour's and its day's cell."""
    counted = counted_tags(tags)
    cell = _cell(key_id, endpoint, counted)
    items = []
    for granularity in ("h", "d"):
        expires = int(time.time()) + HOUR_RETENTION_DAYS * 86400 if granularity == "h" else None
        names = values(key=key_id, endpoint=endpoint, tags=counted, cost=cost_micros, one=1)
        update = "SET key_id = :key, endpoint = :endpoint, tags = :tags"
        if expires is not None:
            names.update(values(expires=expires))
            update += ", expires_at = :expires"
        items.append({"Update": {
            "TableName": _table(),
            "Key": marshal({"account_id": account_id, "sk": f"{granularity}#{bucket(granularity, moment)}#{cell}"}),
            "UpdateExpression": update + " ADD cost :cost, requests :one",
            "ExpressionAttributeValues": names,
        }})
    return items[0], items[1]


def cells(account_id: str, granularity: str, first: str, last: str) -> list[dict[str, Any]]:
    """Every cell of the buckets `first` to `last` (inclusive), with its bucket."""
    items = query_all(TableName=_table(), KeyConditionExpression="account_id = :a AND sk BETWEEN :lo AND :hi",
                      ExpressionAttributeValues=values(a=account_id, lo=f"{granularity}#{first}",
                                                       hi=f"{granularity}#{last}#~"))
    for item in items:
        item["bucket"] = item["sk"].split("#", 2)[1]
    return items
