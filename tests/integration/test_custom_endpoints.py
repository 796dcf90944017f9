"""Custom endpoints (`name@custom`): registration with the URL vetted against SSRF, the same check again at
call time (before the hold and when connecting), the caller's own key, no credits charged, no redirects."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.integration.chat_helpers import assert_money_consistent, run_chat, streamed_text
from unigate.accounts import accounts, billing
from unigate.catalog import customendpoints, customkeys, discovery
from unigate.domain.errors import BadRequest, NotFound, UpstreamError
from unigate.domain.records import Caller
from unigate.infra import ssrf
from unigate.infra.config import get_settings

ACCOUNT = "acct_test"
OWN_KEY = "sk-own-custom-endpoint-key-1234"


@pytest.fixture
def account(providers: Any) -> Any:
    accounts.create_account(account_id=ACCOUNT)
    billing.grant(ACCOUNT, 1_000_000, idempotency_key="start")
    customkeys.create(ACCOUNT, "mykey", OWN_KEY)
    return providers


@pytest.fixture
def any_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """The operator setting for models on private networks: lets the tests reach the fake on 127.0.0.1."""
    monkeypatch.setenv("UNIGATE_CUSTOM_ENDPOINT_POLICY", "any")
    get_settings.cache_clear()


@pytest.mark.parametrize("url", [
    "https://localhost/v1", "https://127.0.0.1/v1", "https://[::1]/v1", "https://[::ffff:127.0.0.1]/v1",
    "https://2130706433/v1", "https://0x7f000001/v1", "https://10.0.0.8/v1", "https://192.168.0.2/v1",
    "https://172.31.255.1/v1", "https://169.254.169.254/latest", "https://[fe80::1]/v1", "https://100.64.3.2/v1",
    "https://[fd00:ec2::254]/v1", "http://api.example.com/v1", "https://user:pw@api.example.com/v1",
])
def test_unsafe_urls_are_refused_at_registration(account: Any, url: str) -> None:
    with pytest.raises(BadRequest):
        create("mine", url)
    assert customendpoints.listing(ACCOUNT) == []


def test_registration_needs_one_of_the_callers_keys(account: Any) -> None:
    with pytest.raises(NotFound, match=r"Custom API Key not found\."):
        create("mine", "https://93.184.216.34/v1", "nokey")


def resolving(*answers: list[str]) -> Any:
    """A resolver that gives each answer once, in turn: a lookup past the last one fails the test."""
    queue = list(answers)

    async def resolve(host: str, port: int) -> list[str]:
        assert queue, f"{host} was looked up once more than expected"
        return queue.pop(0)

    return resolve


def create(name: str, url: str, key_name: str = "mykey", model_arg: str | None = None) -> None:
    asyncio.run(customendpoints.create(ACCOUNT, name, url, key_name, model_arg))


def test_a_name_that_turns_private_after_registration_is_refused_before_the_hold(
        account: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ssrf, "_resolve", resolving(["93.184.216.34"], ["127.0.0.1"]))
    create("rebind", "https://rebind.example.com/v1")
    with pytest.raises(BadRequest, match=r"resolves to 127\.0\.0\.1"):
        run_chat({"model": "rebind@custom", "messages": [{"role": "user", "content": "hi"}]})
    assert account.received == []
    assert assert_money_consistent() == 1_000_000


def test_the_call_connects_to_the_address_vetted_before_the_hold(account: Any, any_network: None,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """One lookup per call, before the hold, and the connection goes to the address it gave: no second
    lookup that a DNS answer changed in between (rebinding) could redirect. The name does not resolve at
    all outside the stubbed resolver, so the answer can only have come from the vetted address."""
    address = account.url.removeprefix("http://")
    ip, port = address.split(":")
    monkeypatch.setattr(ssrf, "_resolve", resolving([ip], [ip]))
    create("pinned", f"http://models.invalid:{port}/vllm/v1")
    _, body = run_chat({"model": "pinned@custom", "messages": [{"role": "user", "content": "hi"}]})
    assert body["choices"][0]["message"]["content"] == "fake reply to: hi"
    assert account.last("/vllm/").headers["host"] == f"models.invalid:{port}"
    assert assert_money_consistent() == 1_000_000


def test_a_custom_endpoint_gets_the_callers_key_and_costs_nothing(account: Any, any_network: None) -> None:
    create("my-llama", f"{account.url}/vllm/v1", model_arg="llama-3.1-8b-ft")
    headers, body = run_chat({"model": "my-llama@custom", "messages": [{"role": "user", "content": "hi"}]})
    sent = account.last("/vllm/")
    assert sent.headers["authorization"] == f"Bearer {OWN_KEY}"
    assert sent.body["model"] == "llama-3.1-8b-ft"
    assert sent.headers["host"] == account.url.removeprefix("http://")
    assert body["choices"][0]["message"]["content"] == "fake reply to: hi"
    assert (body["model"], headers["x-unigate-endpoint"]) == ("my-llama@custom", "my-llama@custom")
    assert body["usage"]["cost"] == 0
    _, events = run_chat({"model": "my-llama@custom", "stream": True,
                          "messages": [{"role": "user", "content": "one two"}]})
    assert streamed_text(events) == "fake reply to: one two"
    assert assert_money_consistent() == 1_000_000
    caller = Caller(ACCOUNT, "key")
    assert discovery.endpoints(caller, provider="custom") == ["my-llama@custom"]
    assert "my-llama@custom" in discovery.endpoints(caller)
    assert customendpoints.listing(ACCOUNT) == [{"name": "my-llama", "model_arg": "llama-3.1-8b-ft",
                                                 "url": f"{account.url}/vllm/v1", "key": "mykey"}]
    customendpoints.rename(ACCOUNT, "my-llama", "renamed")
    assert [e["name"] for e in customendpoints.listing(ACCOUNT)] == ["renamed"]
    customendpoints.delete(ACCOUNT, "renamed")
    with pytest.raises(NotFound):
        run_chat({"model": "renamed@custom", "messages": [{"role": "user", "content": "hi"}]})


def test_redirects_are_not_followed(account: Any, any_network: None) -> None:
    create("hop", f"{account.url}/redirect/v1")
    with pytest.raises(UpstreamError, match="redirect, not followed"):
        run_chat({"model": "hop@custom", "messages": [{"role": "user", "content": "hi"}]})
    assert account.count("/alpha/") == 0
    assert assert_money_consistent() == 1_000_000


def test_another_account_cannot_use_my_endpoint(account: Any, any_network: None) -> None:
    create("private", f"{account.url}/vllm/v1")
    accounts.create_account(account_id="acct_other")
    billing.grant("acct_other", 1_000_000, idempotency_key="start")
    with pytest.raises(NotFound, match="No custom endpoint named 'private'"):
        run_chat({"model": "private@custom", "messages": [{"role": "user", "content": "hi"}]}, account="acct_other")
