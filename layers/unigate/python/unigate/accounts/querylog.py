"""The query log: one record per paid upstream attempt, listed by GET /v0/queries (service layer).

Records live in the caller's own partition of QueryLogTable, keyed by time, so a listing is one Query
that can only ever return the caller's own records. A record is written inside the attempt's settle
transaction: it costs no extra DynamoDB call and exists exactly when the charge does. Request and
response bodies are kept only when the request asked for it (`log_query_body`, `log_response_body`),
truncated to MAX_BODY bytes of UTF-8; records expire after the retention period.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from unigate.domain import cursors
from unigate.domain.errors import BadRequest
from unigate.infra.config import get_settings
from unigate.stores.dynamo import ddb, marshal, unmarshal, values

MAX_BODY = 100_000
MAX_PAGE = 100
MAX_FILTERS = 64


def _table() -> str:
    return get_settings().query_log_table


def record_put(
    *, account_id: str, endpoint: str, outcome: str, prompt_tokens: int, completion_tokens: int, cost_micros: int,
    latency_ms: float, ttft_ms: float | None, tags: list[str], request_body: Any = None, response_body: Any = None,
) -> dict[str, Any]:
    """A `Put` item for TransactWriteItems, to ride in the attempt's settle transaction."""
    now = datetime.now(UTC)
    created = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    item: dict[str, Any] = {
        "account_id": account_id,
        "query_id": f"{created}#{uuid.uuid4().hex[:12]}",
        "created_at": created,
        "endpoint": endpoint,
        "outcome": outcome,
        "failed": outcome != "ok",
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "cost_micros": cost_micros,
        "latency_ms": round(latency_ms),
        "ttft_ms": round(ttft_ms) if ttft_ms is not None else None,
        "tags": tags or None,
        "expires_at": int(time.time()) + get_settings().query_log_retention_days * 86400,
    }
    if request_body is not None:
        item["request_body"] = _truncated(json.dumps(request_body, ensure_ascii=False))
    if response_body is not None:
        text = response_body if isinstance(response_body, str) else json.dumps(response_body, ensure_ascii=False)
        item["response_body"] = _truncated(text)
    return {"Put": {"TableName": _table(), "Item": marshal(item)}}


def _truncated(text: str) -> str:
    """At most MAX_BODY bytes of UTF-8, cut at a character boundary: DynamoDB limits an item to 400 KB by
    bytes, and the two bodies, 64 tags and the rest stay well under it. Text that is not UTF-8 (a lone
    surrogate from an upstream) is replaced, never refused: the record must never fail the settle."""
    data = text.encode("utf-8", "replace")
    if len(data) <= MAX_BODY:
        return data.decode("utf-8")
    return data[:MAX_BODY].decode("utf-8", "ignore")


def _time(value: str | None, name: str) -> str | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"'{name}' must be an ISO 8601 time, e.g. 2026-11-22T07:00:00Z.", param=name) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _view(item: dict[str, Any]) -> dict[str, Any]:
    from unigate.domain.money import micros_to_credits

    view = {k: v for k, v in item.items() if k not in ("account_id", "expires_at", "cost_micros")}
    view["cost"] = micros_to_credits(int(item.get("cost_micros", 0)))
    return view


def _check_filters(**filters: list[str] | None) -> None:
    """DynamoDB refuses filter expressions past 4 KB: as many filter values as a request may carry tags."""
    for name, given in filters.items():
        if given and (len(given) > MAX_FILTERS or any(len(v.encode("utf-8", "replace")) > 256 for v in given)):
            raise BadRequest(f"'{name}' filters on at most {MAX_FILTERS} values of at most 256 bytes each.",
                             param=name)


def _start(cursor: str, account_id: str) -> dict[str, Any]:
    start = cursors.decode(cursor, listing="queries", account_id=account_id)
    # Exactly the table's key, as DynamoDB takes it (a forged cursor with other attributes was a 500).
    if set(start) != {"account_id", "query_id"} or "S" not in start["query_id"]:
        raise BadRequest("'cursor' is not one this listing returned.", param="cursor")
    return start


def list_queries(
    account_id: str, *, tags: list[str] | None = None, endpoints: list[str] | None = None,
    start_time: str | None = None, end_time: str | None = None, failures: bool | None = None,
    limit: int = 50, cursor: str | None = None,
) -> dict[str, Any]:
    """The caller's records, newest first, filtered, `limit` at a time."""
    if not 1 <= limit <= MAX_PAGE:
        raise BadRequest(f"'limit' must be 1 to {MAX_PAGE}.", param="limit")
    _check_filters(tags=tags, endpoints=endpoints)
    low, high = _time(start_time, "start_time") or "0", (_time(end_time, "end_time") or "9") + "#~"
    names: dict[str, str] = {}
    filters: list[str] = []
    expression_values = values(a=account_id, lo=low, hi=high)
    for index, endpoint in enumerate(endpoints or []):
        expression_values.update(values(**{f"e{index}": endpoint}))
    if endpoints:
        filters.append("endpoint IN (" + ", ".join(f":e{i}" for i in range(len(endpoints))) + ")")
    for index, tag in enumerate(tags or []):
        expression_values.update(values(**{f"t{index}": tag}))
        filters.append(f"contains(tags, :t{index})")
    if failures is not None:
        names["#failed"] = "failed"
        expression_values.update(values(failed=failures))
        filters.append("#failed = :failed")
    kwargs: dict[str, Any] = {
        "TableName": _table(),
        "KeyConditionExpression": "account_id = :a AND query_id BETWEEN :lo AND :hi",
        "ExpressionAttributeValues": expression_values,
        "ScanIndexForward": False,
    }
    if filters:
        kwargs["FilterExpression"] = " AND ".join(filters)
    if names:
        kwargs["ExpressionAttributeNames"] = names
    if cursor:
        kwargs["ExclusiveStartKey"] = _start(cursor, account_id)
    found: list[dict[str, Any]] = []
    while len(found) < limit:
        page = ddb().query(**kwargs, Limit=limit - len(found))
        found.extend(_view(unmarshal(item)) for item in page.get("Items", []))
        last = page.get("LastEvaluatedKey")
        if not last:
            return {"queries": found, "next_cursor": None}
        kwargs["ExclusiveStartKey"] = last
    return {"queries": found, "next_cursor": cursors.encode(kwargs["ExclusiveStartKey"], listing="queries")}
