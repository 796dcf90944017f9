"""Issue #29's findings through the official `openai` SDK against the local server: tags over their bounds and
lone surrogates are `openai.BadRequestError`s with nothing held, charged or sent upstream; usage an upstream
reports that is invalid is billed by the estimate, never 0; a custom key renamed (onto its own name, onto
another) keeps working and is the one the upstream gets."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import openai
import pytest

from tests.e2e.conftest import LocalServer, openai_client

MESSAGES = [{"role": "user", "content": "hello"}]
# Python's JSON encoders cannot encode a lone surrogate to UTF-8, so the SDK's request carries this marker,
# which the transport below turns into the JSON escape that other encoders emit (JavaScript's JSON.stringify).
LONE = "LONE-SURROGATE-HERE"


class _Escaping(httpx.HTTPTransport):
    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read().replace(LONE.encode(), b"\\ud800")
        headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
        return super().handle_request(httpx.Request(request.method, request.url, headers=headers, content=body))


def _account(server: LocalServer) -> tuple[str, str]:
    account = server.cli_json("accounts", "create")["account_id"]
    server.cli_json("credits", "grant", "--account", account, "--amount", "5", "--idempotency-key", "e2e")
    return account, server.cli_json("keys", "create", "--account", account)["key"]


def _state(server: LocalServer, account: str, key: str, fake_upstream: Any) -> tuple[Decimal, list[Any], int]:
    """The balance, the ledger (which must sum to it) and how many requests the upstream has had."""
    credits = httpx.get(f"{server.url}/v0/credits", headers={"Authorization": f"Bearer {key}"}).json()["credits"]
    ledger = server.cli_json("credits", "ledger", "--account", account, "--limit", "1000")["entries"]
    assert sum(Decimal(e["credits"]) for e in ledger) == Decimal(str(credits))
    return Decimal(str(credits)), ledger, len(fake_upstream.received)


@pytest.mark.parametrize("tags", [["t"] * 65, ["t" * 257], ["ж" * 300]], ids=["65 tags", "257 chars", "600 bytes"])
def test_tags_over_their_bounds_are_bad_request_errors(server: LocalServer, fake_upstream: Any,
                                                       tags: list[str]) -> None:
    account, key = _account(server)
    before = _state(server, account, key, fake_upstream)
    for stream in (False, True):
        with pytest.raises(openai.BadRequestError) as raised:
            openai_client(server, key).chat.completions.create(model="gpt-4o@openai", messages=MESSAGES, stream=stream,
                                                          extra_body={"tags": tags})
        assert raised.value.param is not None
        assert raised.value.param.startswith("tags")
    assert _state(server, account, key, fake_upstream) == before


@pytest.mark.parametrize("where", ["content", "tag", "embeddings"])
def test_lone_surrogates_are_bad_request_errors(server: LocalServer, fake_upstream: Any, where: str) -> None:
    account, key = _account(server)
    before = _state(server, account, key, fake_upstream)
    client = openai_client(server, key, http_client=httpx.Client(transport=_Escaping()))
    calls = {
        "content": lambda: client.chat.completions.create(
            model="gpt-4o@openai", messages=[{"role": "user", "content": f"x {LONE}"}]),
        "tag": lambda: client.chat.completions.create(model="gpt-4o@openai", messages=MESSAGES,
                                                      extra_body={"tags": [LONE]}),
        "embeddings": lambda: client.embeddings.create(model="embed-test@alpha", input=[f"a {LONE} b"]),
    }
    with pytest.raises(openai.BadRequestError) as raised:
        calls[where]()
    assert "surrogate" in raised.value.message
    assert _state(server, account, key, fake_upstream) == before


def test_invalid_upstream_usage_is_billed_by_the_estimate_never_zero(server: LocalServer,
                                                                     fake_upstream: Any) -> None:
    account, key = _account(server)
    before, _, _ = _state(server, account, key, fake_upstream)
    completion = openai_client(server, key).chat.completions.create(
        model="gpt-4o@openai", messages=[{"role": "user", "content": "scenario:usage:invalid"}])
    usage = completion.usage
    assert usage is not None
    assert usage.prompt_tokens > 0
    assert 0 < usage.completion_tokens < 100
    cost = Decimal(str(getattr(usage, "cost")))  # noqa: B009 - a field unigate adds to OpenAI's usage
    assert cost > 0
    after, ledger, _ = _state(server, account, key, fake_upstream)
    assert before - after == cost
    assert [e["kind"] for e in ledger if e["kind"] == "uncollected"] == []


def test_a_renamed_custom_key_is_kept_and_used(server: LocalServer, fake_upstream: Any) -> None:
    """Renaming a key to its own name once deleted it (the secret too); renaming onto another overwrote it."""
    _, key = _account(server)
    headers = {"Authorization": f"Bearer {key}"}

    def post(path: str, **params: str) -> httpx.Response:
        return httpx.post(f"{server.url}/v0/{path}", params=params, headers=headers)

    assert post("custom_api_key", name="spare", value="sk-renamed-0123456789").status_code == 200
    assert post("custom_api_key", name="other", value="sk-other-0123456789").status_code == 200
    assert post("custom_api_key/rename", name="spare", new_name="openai").status_code == 200
    assert post("custom_api_key/rename", name="openai", new_name="openai").status_code == 200
    assert post("custom_api_key/rename", name="openai", new_name="other").status_code == 409
    listed = httpx.get(f"{server.url}/v0/custom_api_key/list", headers=headers).json()
    assert sorted(item["name"] for item in listed) == ["openai", "other"]
    completion = openai_client(server, key).chat.completions.create(model="gpt-4o@openai", messages=MESSAGES,
                                                              extra_body={"use_custom_keys": True})
    assert completion.choices[0].message.content == "fake reply to: hello"
    assert fake_upstream.last("/v1/chat/completions").headers["authorization"] == "Bearer sk-renamed-0123456789"
