"""Stored responses (the Responses API's `store`), one item per response in the caller's own partition of
ResponsesTable: `account_id`, `response_id`, and the response, its input items and the conversation so
far (the items a `previous_response_id` continues from), each as zlib-compressed JSON, kept for the
retention period through TTL (`expires_at`). A read is keyed by the caller's account, so no account can
read, list or delete another's responses.
"""

from __future__ import annotations

import json
import time
import zlib
from typing import Any

from unigate.infra.config import get_settings
from unigate.stores.dynamo import ddb

_BLOBS = ("response", "input_items", "conversation")
# Under DynamoDB's 400 KB item limit, with room for the keys and attribute names.
MAX_STORED_BYTES = 390_000
MAX_ID_BYTES = 1024


def _storable(response_id: str) -> bool:
    """An id DynamoDB can look up (a sort key is 1 to 1024 bytes); no other id was ever stored."""
    return 0 < len(response_id.encode()) <= MAX_ID_BYTES


def _key(account_id: str, response_id: str) -> dict[str, Any]:
    return {"account_id": {"S": account_id}, "response_id": {"S": response_id}}


def _pack(value: Any) -> bytes:
    return zlib.compress(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode(), 6)


def _unpack(blob: bytes) -> Any:
    return json.loads(zlib.decompress(blob))


def put(account_id: str, response: dict[str, Any], input_items: list[dict[str, Any]],
        conversation: list[dict[str, Any]]) -> bool:
    """Stores a response; False when it is too large for one item (DynamoDB's 400 KB, compressed)."""
    settings = get_settings()
    item = {**_key(account_id, response["id"]),
            "created_at": {"N": str(int(response.get("created_at") or time.time()))},
            "expires_at": {"N": str(int(time.time()) + settings.responses_retention_days * 86400)}}
    for name, value in zip(_BLOBS, (response, input_items, conversation), strict=True):
        item[name] = {"B": _pack(value)}
    if sum(len(v["B"]) for k, v in item.items() if k in _BLOBS) > MAX_STORED_BYTES:
        return False
    ddb().put_item(TableName=settings.responses_table, Item=item)
    return True


def get(account_id: str, response_id: str, *, parts: tuple[str, ...] = _BLOBS) -> dict[str, Any] | None:
    """The stored parts of a response (only those asked for are read), or None. An item past its TTL
    that DynamoDB has not removed yet counts as gone."""
    if not _storable(response_id):
        return None
    names = {f"#a{i}": name for i, name in enumerate(["expires_at", *parts])}
    out = ddb().get_item(TableName=get_settings().responses_table, Key=_key(account_id, response_id),
                         ProjectionExpression=", ".join(names), ExpressionAttributeNames=names)
    item = out.get("Item")
    if not item or int(item["expires_at"]["N"]) <= time.time():
        return None
    return {name: _unpack(item[name]["B"]) for name in parts if name in item}


def delete(account_id: str, response_id: str) -> bool:
    if not _storable(response_id):
        return False
    out = ddb().delete_item(TableName=get_settings().responses_table, Key=_key(account_id, response_id),
                            ReturnValues="ALL_OLD")
    return bool(out.get("Attributes"))
