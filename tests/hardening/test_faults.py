"""Faults in upstreams, DynamoDB and Secrets Manager: the contract's status, and every hold settled or
released exactly once, with no upstream call made unbilled."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.upstream import catalog_override
from tests.integration.chat_helpers import assert_money_consistent, run_chat
from unigate.catalog.entries import get_catalog
from unigate.domain.errors import ServiceUnavailable, UpstreamError
from unigate.infra import aws, dynamodb
from unigate.infra.config import get_settings
from unigate_tools.emulator import free_port, moto_transport, serve_dynamodb_in_process

START = 10_000_000
ASK = {"model": "gpt-4o@openai", "messages": [{"role": "user", "content": "hello"}]}


def test_connection_refused_is_502_and_free(providers: Any, account: str, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    override = catalog_override(providers.url)
    override["providers"]["openai"]["base_url"] = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    (tmp_path / "refused.json").write_text(json.dumps(override))
    monkeypatch.setenv("UNIGATE_CATALOG_PATH", str(tmp_path / "refused.json"))
    get_settings.cache_clear()
    get_catalog.cache_clear()
    with pytest.raises(UpstreamError):
        run_chat(ASK)
    assert assert_money_consistent() == START


def _dynamodb_refusing_transactions(reason: str, calls: list[str]) -> Any:
    """The embedded DynamoDB, except that every TransactWriteItems gets the error answer DynamoDB sends
    for `reason` (the wire format, so unigate.infra.dynamodb's parsing and retries are part of the test)."""
    if reason == "ThrottlingException":
        answer = {"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException", "message": "slow down"}
    else:
        answer = {"__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                  "Message": f"Transaction cancelled, please refer cancellation reasons for specific reasons "
                             f"[{reason}, None, None]",
                  "CancellationReasons": [{"Code": reason}, {"Code": "None"}, {"Code": "None"}]}

    def transport(operation: str, body: bytes) -> tuple[int, bytes]:
        if operation != "TransactWriteItems":
            return moto_transport(operation, body)
        calls.append(operation)
        return 400, json.dumps(answer).encode()

    return transport


@pytest.mark.parametrize("fault", ["TransactionConflict", "ThrottlingError", "ThrottlingException"])
def test_a_hold_that_cannot_be_written_is_503_and_nothing_is_sent(providers: Any, account: str, fault: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    dynamodb.use_transport(_dynamodb_refusing_transactions(fault, calls))
    monkeypatch.setattr("unigate.stores.dynamo.time.sleep", lambda _: None)
    monkeypatch.setattr("unigate.infra.dynamodb.time.sleep", lambda _: None)
    with pytest.raises(ServiceUnavailable) as raised:
        run_chat(ASK)
    assert raised.value.status == 503
    # Bounded retries: the client retries throttling itself; cancelled transactions only the store retries.
    per_attempt = dynamodb.MAX_ATTEMPTS if fault == "ThrottlingException" else 1
    assert len(calls) == get_settings().transaction_attempts * per_attempt
    assert providers.received == []  # never an unbilled upstream call
    serve_dynamodb_in_process()
    assert assert_money_consistent() == START


def test_a_provider_key_never_fetched_is_a_clear_503_and_free(providers: Any, account: str) -> None:
    aws.client("secretsmanager").delete_secret(SecretId="unigate/providers/openai", ForceDeleteWithoutRecovery=True)
    with pytest.raises(ServiceUnavailable, match="credentials"):
        run_chat(ASK)
    assert providers.received == []
    assert assert_money_consistent() == START


def test_a_client_leaving_before_the_first_byte_releases_the_hold(server: Any, fake_upstream: Any) -> None:
    account = server.cli_json("accounts", "create")["account_id"]
    key = server.cli_json("keys", "create", "--account", account)["key"]
    server.cli_json("credits", "grant", "--account", account, "--amount", "1", "--idempotency-key", "leave")
    body = {**ASK, "messages": [{"role": "user", "content": "scenario:stall"}]}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{server.url}/v1/chat/completions", json=body, timeout=0.5,
                   headers={"Authorization": f"Bearer {key}"})
    headers = {"Authorization": f"Bearer {key}"}
    deadline = time.monotonic() + 3  # well before the upstream's 5 s stall ends
    while time.monotonic() < deadline:
        if httpx.get(f"{server.url}/v0/credits", headers=headers).json()["credits"] == 1.0:
            break
        time.sleep(0.1)
    assert httpx.get(f"{server.url}/v0/credits", headers=headers).json()["credits"] == 1.0
    ledger = server.cli_json("credits", "ledger", "--account", account)["entries"]
    assert [e["kind"] for e in ledger] == ["grant", "hold", "settle"]
    assert sum(Decimal(e["credits"]) for e in ledger) == Decimal("1")
