"""Page cursors are opaque and bound to their listing and account."""

import base64
import json

import pytest

from unigate.domain import cursors
from unigate.domain.errors import BadRequest

KEY = {"account_id": {"S": "acct_1"}, "query_id": {"S": "2026-12-01T00:00:00Z#q1"}, "n": {"N": "5"}}


def test_round_trip_and_url_safe() -> None:
    cursor = cursors.encode(KEY, listing="queries")
    assert cursor is not None
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert cursors.decode(cursor, listing="queries", account_id="acct_1") == KEY
    assert cursors.encode(None, listing="queries") is None


def _forged(token: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(token).encode()).decode()


@pytest.mark.parametrize("cursor", [
    "{nope", "", "!!!!", _forged([1]), _forged({"listing": "queries"}),
    _forged({"listing": "ledger", "key": KEY}),                                        # another listing
    _forged({"listing": "queries", "key": {**KEY, "account_id": {"S": "acct_2"}}}),    # another account
    _forged({"listing": "queries", "key": {**KEY, "query_id": {"M": {}}}}),            # not a key value
    _forged({"listing": "queries", "key": {**KEY, "query_id": {"S": 5}}}),
    base64.urlsafe_b64encode(b"\xff\xfe").decode(),
])
def test_anything_else_is_a_400_naming_cursor(cursor: str) -> None:
    with pytest.raises(BadRequest) as refused:
        cursors.decode(cursor, listing="queries", account_id="acct_1")
    assert refused.value.param == "cursor"
