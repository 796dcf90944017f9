"""Stored responses under moto: the caller's own partition, the TTL, the size limit, and the service's paths
(previous_response_id read before any hold, store: false writing nothing, money exact through the pipeline)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from unigate.accounts import accounts, billing
from unigate.domain.errors import NotFound
from unigate.domain.records import Caller
from unigate.gateway import responses
from unigate.infra import aws as aws_clients
from unigate.infra.config import get_settings
from unigate.stores import accounts as account_store
from unigate.stores import responses as store

ACCOUNT = "acct_responses"


@pytest.fixture
def caller(aws: None) -> Caller:
    accounts.create_account(account_id=ACCOUNT)
    billing.grant(ACCOUNT, 1_000_000, idempotency_key="start")
    return Caller(account_id=ACCOUNT, key_id="key_1", allowed_models=())


def _items() -> list[dict[str, Any]]:
    return aws_clients.client("dynamodb").scan(TableName=get_settings().responses_table)["Items"]


def _create(caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
    result = asyncio.run(responses.create(responses.prepare(body, caller), caller))
    assert isinstance(result, responses.Created)
    return result.body


def test_a_stored_response_lives_in_the_callers_partition_with_a_ttl(caller: Caller) -> None:
    created = _create(caller, {"model": "echo@echo", "input": "keep me"})
    (item,) = _items()
    assert item["account_id"] == {"S": ACCOUNT}
    assert item["response_id"] == {"S": created["id"]}
    retention = get_settings().responses_retention_days * 86400
    assert abs(int(item["expires_at"]["N"]) - (time.time() + retention)) < 60
    assert b"keep me" not in item["conversation"]["B"]  # compressed, not plain JSON
    assert store.get("acct_other", created["id"]) is None
    assert responses.retrieve(caller, created["id"]) == created
    # Money: the pipeline's hold and settle, exactly the response's cost.
    balance = accounts.get_account(ACCOUNT).balance_micros
    assert balance == 1_000_000 - round(created["usage"]["cost"] * 1_000_000)
    assert account_store.ledger_sum(ACCOUNT) == balance
    assert account_store.list_open_holds(ACCOUNT) == []


def test_store_false_writes_nothing(caller: Caller) -> None:
    _create(caller, {"model": "echo@echo", "input": "forget me", "store": False})
    assert _items() == []


def test_an_expired_response_is_gone_before_dynamodb_removes_it(caller: Caller) -> None:
    created = _create(caller, {"model": "echo@echo", "input": "brief"})
    aws_clients.client("dynamodb").update_item(
        TableName=get_settings().responses_table,
        Key={"account_id": {"S": ACCOUNT}, "response_id": {"S": created["id"]}},
        UpdateExpression="SET expires_at = :past",
        ExpressionAttributeValues={":past": {"N": str(int(time.time()) - 1)}})
    with pytest.raises(NotFound):
        responses.retrieve(caller, created["id"])


def test_an_unknown_previous_response_is_refused_before_any_hold(caller: Caller) -> None:
    with pytest.raises(NotFound) as missing:
        responses.prepare({"model": "echo@echo", "input": "x", "previous_response_id": "resp_nope"}, caller)
    assert missing.value.param == "previous_response_id"
    assert accounts.get_account(ACCOUNT).balance_micros == 1_000_000


def test_a_response_too_large_to_store_still_answers(caller: Caller) -> None:
    # Random-looking text does not compress: past the item limit once compressed.
    import secrets

    text = secrets.token_urlsafe(300_000)
    created = _create(caller, {"model": "echo@echo", "input": text})
    assert created["output"][0]["content"][0]["text"] == text
    assert _items() == []


def test_a_conversation_continues_from_the_stored_items(caller: Caller) -> None:
    first = _create(caller, {"model": "echo@echo", "input": "one"})
    second = _create(caller, {"model": "echo@echo", "input": "two", "previous_response_id": first["id"]})
    stored = store.get(ACCOUNT, second["id"])
    assert stored is not None
    assert [item["type"] for item in stored["conversation"]] == ["message"] * 4
    assert [item["id"] for item in stored["input_items"]] == [stored["conversation"][2]["id"]]
    assert stored["conversation"][3] == second["output"][0]


@pytest.mark.parametrize("response_id", ["x" * 2000, "é" * 600])
def test_ids_dynamodb_cannot_look_up_are_simply_not_found(caller: Caller, response_id: str) -> None:
    with pytest.raises(NotFound):
        responses.retrieve(caller, response_id)
    with pytest.raises(NotFound):
        responses.delete(caller, response_id)
    with pytest.raises(NotFound):
        responses.prepare({"model": "echo@echo", "input": "x", "previous_response_id": response_id}, caller)
