"""Issue #29's findings about the hold and the output cap, each as it was found: the hold is a true upper
bound of what the provider can bill for the request unigate actually sends, and that request carries the
output cap the hold priced, in the provider's own parameter."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.chat_helpers import assert_money_consistent, run_chat
from unigate.catalog.entries import MAX_IMAGE_TOKENS, get_catalog
from unigate.domain import tokens
from unigate.domain.records import Caller
from unigate.gateway import chat
from unigate.stores import accounts as store

CALLER = Caller("acct_test", "key_test", ())


def _prepared(body: dict[str, Any], mode: str | None = None) -> chat.Prepared:
    (prepared,) = chat.prepare(body, CALLER, extra_parameters=mode)
    return prepared


def _messages(text: str = "hi") -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def _cost(model: str, prompt: int, completion: int) -> int:
    name, provider = model.split("@")
    return get_catalog().endpoint(name, provider).cost_micros(prompt, completion)


def test_an_837_kb_response_format_is_in_the_hold(aws: None) -> None:
    schema = {"type": "object", "description": "d" * 837_000}
    prepared = _prepared({"model": "gpt-4o@openai", "messages": _messages(), "max_tokens": 1,
                          "response_format": {"type": "json_schema", "json_schema": {"name": "r", "schema": schema}}})
    assert prepared.worst_case_micros >= _cost("gpt-4o@openai", 837_000, 1)


def test_a_pass_through_system_is_in_the_hold_and_never_replaces_the_translated_one(aws: None) -> None:
    prepared = _prepared({"model": "claude-3.5-haiku@anthropic", "max_tokens": 1, "system": "s" * 890_000,
                          "messages": [{"role": "system", "content": "Be brief."}, *_messages()]}, "pass-through")
    sent = chat.outgoing(prepared)
    assert sent["system"] == "Be brief."
    assert sent["max_tokens"] == 1
    assert prepared.worst_case_micros >= _cost("claude-3.5-haiku@anthropic", tokens.payload_bytes(sent), 1)


def test_a_pass_through_system_without_a_translated_one_is_sent_and_held(aws: None) -> None:
    prepared = _prepared({"model": "claude-3.5-haiku@anthropic", "max_tokens": 1, "system": "s" * 890_000,
                          "messages": _messages()}, "pass-through")
    assert chat.outgoing(prepared)["system"] == "s" * 890_000
    assert prepared.worst_case_micros >= _cost("claude-3.5-haiku@anthropic", 890_000, 1)


def test_pass_through_contents_and_output_limits_never_replace_gemini_s_translated_request(aws: None) -> None:
    prepared = _prepared({"model": "gemini-1.5-flash@gemini", "max_tokens": 1, "messages": _messages(),
                          "contents": [{"role": "user", "parts": [{"text": "c" * 500_000}]}],
                          "generationConfig": {"maxOutputTokens": 8192, "candidateCount": 8, "topK": 3}},
                         "pass-through")
    sent = chat.outgoing(prepared)
    assert sent["contents"] == [{"role": "user", "parts": [{"text": "hi"}]}]
    assert sent["generationConfig"] == {"maxOutputTokens": 1, "topK": 3}


def test_an_image_by_url_holds_the_catalogs_per_image_maximum(aws: None) -> None:
    content = [{"type": "text", "text": "what is it"},
               {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]
    prepared = _prepared({"model": "gpt-4o@openai", "max_tokens": 1, "messages": [{"role": "user",
                                                                                  "content": content}]})
    assert prepared.worst_case_micros >= _cost("gpt-4o@openai", MAX_IMAGE_TOKENS, 1)


@pytest.mark.parametrize(("sent", "expected"), [
    ({"max_completion_tokens": 7}, {"max_tokens": 7}),
    ({"max_tokens": 7}, {"max_tokens": 7}),
    ({}, {"max_tokens": 8192}),  # the endpoint's limit
])
def test_mistral_gets_the_cap_the_hold_priced_in_its_own_parameter(aws: None, sent: dict, expected: dict) -> None:
    prepared = _prepared({"model": "mistral-large@mistral-ai", "messages": _messages(), **sent})
    body = chat.outgoing(prepared)
    assert {k: body.get(k) for k in ("max_tokens", "max_completion_tokens") if k in body} == expected
    assert "max_completion_tokens" not in prepared.dropped
    assert prepared.worst_case_micros >= _cost("mistral-large@mistral-ai", 0, next(iter(expected.values())))


@pytest.mark.parametrize(("sent", "expected"), [
    ({"max_completion_tokens": 7}, {"max_completion_tokens": 7}),
    ({"max_tokens": 7}, {"max_tokens": 7}),
    ({}, {"max_completion_tokens": 16384}),
])
def test_openai_gets_the_cap_in_the_parameter_the_client_used(aws: None, sent: dict, expected: dict) -> None:
    body = chat.outgoing(_prepared({"model": "gpt-4o@openai", "messages": _messages(), **sent}))
    assert {k: body[k] for k in ("max_tokens", "max_completion_tokens") if k in body} == expected


def test_pass_through_output_limits_never_reach_an_openai_compatible_upstream(aws: None) -> None:
    body = chat.outgoing(_prepared({"model": "mistral-large@mistral-ai", "messages": _messages(), "max_tokens": 2,
                                    "max_new_tokens": 9000, "num_predict": 9000, "top_k": 4}, "pass-through"))
    assert body["max_tokens"] == 2
    assert "max_new_tokens" not in body
    assert "num_predict" not in body
    assert body["top_k"] == 4


def test_max_completion_tokens_reaches_a_max_tokens_only_provider_over_http(providers: Any, account: str) -> None:
    """The finding: together-ai (max_tokens only) used to get no output limit at all."""
    run_chat({"model": "llama-3.1-70b-chat@together-ai", "messages": _messages(), "max_completion_tokens": 3})
    received = providers.last("/together/v1/chat/completions").body
    assert received["max_tokens"] == 3
    assert "max_completion_tokens" not in received
    assert_money_consistent()


def test_a_hold_is_the_bound_of_the_request_sent(providers: Any, account: str) -> None:
    """The hold taken over HTTP is at least every byte the fake received, plus the output cap it carries."""
    run_chat({"model": "claude-3.5-haiku@anthropic", "max_tokens": 5,
              "messages": [{"role": "system", "content": "ж" * 5000}, *_messages()]})
    received = providers.last("/v1/messages").body
    entries, _ = store.list_ledger(account, limit=100)
    (hold,) = [e for e in entries if e.kind == "hold"]
    assert -hold.amount_micros >= _cost("claude-3.5-haiku@anthropic", tokens.payload_bytes(received), 5)
    assert received["max_tokens"] == 5


def test_a_native_messages_hold_covers_every_byte_of_the_body_sent(aws: None) -> None:
    """The Messages surface passes Anthropic's body through as sent: its hold counts every byte of it (issue
    #29: a large `system` or documents that the chat form drops were held at a third of their bytes)."""
    from unigate.gateway import messages

    body = {"model": "claude-3.5-haiku@anthropic", "max_tokens": 5, "system": "s" * 300_000,
            "messages": [{"role": "user", "content": "hi"}]}
    (prepared,) = messages.prepare(body, CALLER, messages.Inbound({}))
    assert messages.is_native(prepared)
    assert prepared.worst_case_micros >= _cost("claude-3.5-haiku@anthropic",
                                               tokens.payload_bytes(prepared.native), 5)
