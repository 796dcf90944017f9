"""Faults in upstreams, DynamoDB and Secrets Manager: the contract's status, and every hold settled or
released exactly once, with no upstream call made unbilled."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import use_catalog
from tests.fakes.upstream import CANARY_KEYS, catalog_override
from tests.integration.chat_helpers import assert_money_consistent, run_chat
from unigate.domain.errors import ServiceUnavailable, UpstreamError
from unigate.infra import aws
from unigate.infra.config import get_settings
from unigate_tools.emulator import free_port

START = 10_000_000
ASK = {"model": "gpt-4o@openai", "messages": [{"role": "user", "content": "hello"}]}


def test_connection_refused_is_502_and_free(providers: Any, account: str, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    override = catalog_override(providers.url)
    override["providers"]["openai"]["base_url"] = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    use_catalog(override, tmp_path / "refused.json", monkeypatch)
    with pytest.raises(UpstreamError):
        run_chat(ASK)
    assert assert_money_consistent() == START


def _dynamodb_refusing_transactions(reason: str, calls: list[str]) -> Any:
    """moto's DynamoDB backend, except that every TransactWriteItems fails with the error DynamoDB gives for
    `reason`: moto serialises it, so botocore's parsing and retries are part of the test."""
    from moto.dynamodb.exceptions import DynamodbException, TransactionCanceledException

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        calls.append("TransactWriteItems")
        # "Mixed": throttled, then (botocore's retry) cancelled for a conflict, and again.
        if reason == "ThrottlingException" or (reason == "Mixed" and len(calls) % 2):
            raise DynamodbException("com.amazonaws.dynamodb.v20120810#ThrottlingException", "slow down")
        code = "TransactionConflict" if reason == "Mixed" else reason
        raise TransactionCanceledException([(code, "busy", None)] + [(None, None, None)] * 2)

    return transact_write_items


# What one balance change may send while DynamoDB keeps refusing it, within its budget of six requests
# (UNIGATE_TRANSACTION_ATTEMPTS): a cancelled transaction is retried by the store, one request a call, while
# a whole call's attempts still fit; a throttled one by botocore alone, with its attempts.
SENT = {"TransactionConflict": 4, "ThrottlingError": 4, "ThrottlingException": aws.MAX_ATTEMPTS, "Mixed": 4}


@pytest.mark.parametrize("fault", sorted(SENT))
def test_a_hold_that_cannot_be_written_is_503_and_nothing_is_sent(providers: Any, account: str, fault: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.dynamodb.models import DynamoDBBackend

    calls: list[str] = []
    monkeypatch.setattr(DynamoDBBackend, "transact_write_items", _dynamodb_refusing_transactions(fault, calls))
    monkeypatch.setattr("unigate.stores.dynamo.time.sleep", lambda _: None)
    with pytest.raises(ServiceUnavailable) as raised:
        run_chat(ASK)
    assert raised.value.status == 503
    assert len(calls) == SENT[fault] <= get_settings().transaction_attempts
    assert providers.received == []  # never an unbilled upstream call
    monkeypatch.undo()
    assert assert_money_consistent() == START


def test_a_provider_key_never_fetched_is_a_clear_503_and_free(providers: Any, account: str) -> None:
    aws.client("secretsmanager").delete_secret(SecretId="unigate/providers/openai", ForceDeleteWithoutRecovery=True)
    with pytest.raises(ServiceUnavailable, match="credentials"):
        run_chat(ASK)
    assert providers.received == []
    assert assert_money_consistent() == START


def test_fallbacks_pass_over_an_endpoint_whose_provider_has_no_key(providers: Any, account: str) -> None:
    """No key for openai: the chain, the array body and a meta-provider go on to the next endpoint, as after a
    5xx; nothing is held for the unusable one, and only the answer is charged."""
    aws.client("secretsmanager").delete_secret(SecretId="unigate/providers/openai", ForceDeleteWithoutRecovery=True)
    message = [{"role": "user", "content": "still answered"}]
    headers, body = run_chat({"model": "gpt-4o@openai->echo@echo", "messages": message})
    assert headers["x-unigate-endpoint"] == "echo@echo"
    assert body["choices"][0]["message"]["content"] == "still answered"
    _, array = run_chat([{"model": "gpt-4o@openai", "messages": message}, {"model": "echo@echo", "messages": message}])
    assert array["model"] == "echo@echo"
    assert providers.received == []
    charged = round((body["usage"]["cost"] + array["usage"]["cost"]) * 1_000_000)
    assert assert_money_consistent() == START - charged


def test_a_meta_provider_passes_over_the_best_endpoint_when_its_provider_has_no_key(
        providers: Any, account: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One model at two providers: the cheaper's provider has no key, so `@lowest-input-cost` is answered by
    the other, with nothing held for the first."""
    override = catalog_override(providers.url)
    shared = {"context": 8192, "max_output": 1024, "type": "chat"}
    override["endpoints"] |= {"shared-model@openai": {**shared, "upstream": "shared-a", "input": "0.10", "output": "1"},
                              "shared-model@together-ai": {**shared, "upstream": "shared-b", "input": "0.50",
                                                           "output": "1"}}
    monkeypatch.setenv("UNIGATE_SECRET_CACHE_SECONDS", "0")  # the deletion below is seen at once
    use_catalog(override, tmp_path / "shared.json", monkeypatch)
    message = [{"role": "user", "content": "cheapest usable"}]
    secrets = aws.client("secretsmanager")
    secrets.delete_secret(SecretId="unigate/providers/openai", ForceDeleteWithoutRecovery=True)
    headers, body = run_chat({"model": "shared-model@lowest-input-cost", "messages": message})
    assert headers["x-unigate-endpoint"] == "shared-model@together-ai"
    assert body["usage"]["cost"] > 0
    secrets.create_secret(Name="unigate/providers/openai", SecretString=CANARY_KEYS["openai"])
    headers, _ = run_chat({"model": "shared-model@lowest-input-cost", "messages": message})
    assert headers["x-unigate-endpoint"] == "shared-model@openai"  # with its key back, the cheaper one answers
    assert [r.body["model"] for r in providers.received] == ["shared-b", "shared-a"]


def test_when_no_endpoint_is_usable_the_error_names_each(providers: Any, account: str) -> None:
    for provider in ("openai", "anthropic"):
        aws.client("secretsmanager").delete_secret(SecretId=f"unigate/providers/{provider}",
                                                   ForceDeleteWithoutRecovery=True)
    with pytest.raises(ServiceUnavailable) as raised:
        run_chat({"model": "gpt-4o@openai->claude-haiku-4.5@anthropic",
                  "messages": [{"role": "user", "content": "x"}]})
    assert raised.value.code == "credentials_unavailable"
    assert "gpt-4o@openai: " in raised.value.message
    assert "claude-haiku-4.5@anthropic: " in raised.value.message
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
