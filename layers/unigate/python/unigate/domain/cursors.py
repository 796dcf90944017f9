"""Page cursors: where a listing stopped (DynamoDB's LastEvaluatedKey) as an opaque, URL-safe token, bound to
its listing and its account, so a client can neither read nor forge a position in someone else's data."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from unigate.domain.errors import BadRequest


def encode(key: dict[str, Any] | None, *, listing: str) -> str | None:
    if not key:
        return None
    raw = json.dumps({"listing": listing, "key": key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str, *, listing: str, account_id: str) -> dict[str, Any]:
    """The key a cursor of this listing and account stands for; a 400 naming `cursor` for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        token = json.loads(raw)
        key = token["key"]
        if token["listing"] != listing or not isinstance(key, dict) or key.get("account_id") != {"S": account_id}:
            raise ValueError
        if not all(isinstance(v, dict) and len(v) == 1 and next(iter(v)) in ("S", "N")
                   and isinstance(next(iter(v.values())), str) for v in key.values()):
            raise ValueError
    except (ValueError, TypeError, KeyError, binascii.Error, UnicodeDecodeError):
        raise BadRequest("'cursor' is not one this listing returned.", param="cursor") from None
    return key
