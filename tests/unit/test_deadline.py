"""Issue #29: under the Lambda Web Adapter the function's deadline reaches the upstream call too (it comes in
the adapter's x-amzn-lambda-context header), so a long stream is cut and billed before Lambda stops it."""

from __future__ import annotations

import json
import time

import pytest
from starlette.requests import Request

from unigate.gateway.chat import _timeout
from unigate.web.caller import remaining_ms


def _request(headers: dict[str, str]) -> Request:
    return Request({"type": "http", "headers": [(k.encode(), v.encode()) for k, v in headers.items()]})


def test_the_adapters_deadline_is_the_remaining_time() -> None:
    deadline = int(time.time() * 1000) + 30_000
    left = remaining_ms(_request({"x-amzn-lambda-context": json.dumps({"request_id": "r", "deadline": deadline})}))
    assert left is not None
    assert 25_000 < left <= 30_000
    assert _timeout(left) <= 28.0


@pytest.mark.parametrize("header", ["", "not json", "[]", '{"deadline": "soon"}', '{"deadline": true}'])
def test_without_a_usable_deadline_there_is_none(header: str) -> None:
    assert remaining_ms(_request({"x-amzn-lambda-context": header} if header else {})) is None


def test_a_past_deadline_leaves_no_time() -> None:
    assert remaining_ms(_request({"x-amzn-lambda-context": json.dumps({"deadline": 1})})) == 0
