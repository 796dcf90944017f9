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
    """The list price of `prompt` input tokens, at most the endpoint's context window (no provider bills more
    input than it takes), and `completion` output tokens."""
    name, provider = model.split("@")
    endpoint = get_catalog().endpoint(name, provider)
    return endpoint.cost_micros(min(prompt, endpoint.context), completion)


def test_an_837_kb_response_format_is_in_the_hold(aws: None) -> None:
    schema = {"type": "object", "description": "d" * 837_000}
    prepared = _prepared({"model": "gpt-4o@openai", "messages": _messages(), "max_tokens": 1,
                          "response_format": {"type": "json_schema", "json_schema": {"name": "r", "schema": schema}}})
    assert prepared.worst_case_micros >= _cost("gpt-4o@openai", 837_000, 1)


def test_a_pass_through_system_is_in_the_hold_and_never_replaces_the_translated_one(aws: None) -> None:
    prepared = _prepared({"model": "claude-haiku-4.5@anthropic", "max_tokens": 1, "system": "s" * 890_000,
                          "messages": [{"role": "system", "content": "Be brief."}, *_messages()]}, "pass-through")
    sent = chat.outgoing(prepared)
    assert sent["system"] == "Be brief."
    assert sent["max_tokens"] == 1
    assert prepared.worst_case_micros >= _cost("claude-haiku-4.5@anthropic", tokens.payload_bytes(sent), 1)


def test_a_pass_through_system_without_a_translated_one_is_sent_and_held(aws: None) -> None:
    prepared = _prepared({"model": "claude-haiku-4.5@anthropic", "max_tokens": 1, "system": "s" * 890_000,
                          "messages": _messages()}, "pass-through")
    assert chat.outgoing(prepared)["system"] == "s" * 890_000
    assert prepared.worst_case_micros >= _cost("claude-haiku-4.5@anthropic", 890_000, 1)


def test_pass_through_contents_and_output_limits_never_replace_gemini_s_translated_request(aws: None) -> None:
    prepared = _prepared({"model": "gemini-2.5-flash@gemini", "max_tokens": 1, "messages": _messages(),
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
    ({}, {"max_tokens": None}),  # the endpoint's limit
])
def test_mistral_gets_the_cap_the_hold_priced_in_its_own_parameter(aws: None, sent: dict, expected: dict) -> None:
    if expected == {"max_tokens": None}:
        expected = {"max_tokens": get_catalog().endpoint("mistral-large", "mistral-ai").max_output}
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
    run_chat({"model": "claude-haiku-4.5@anthropic", "max_tokens": 5,
              "messages": [{"role": "system", "content": "ж" * 5000}, *_messages()]})
    received = providers.last("/v1/messages").body
    entries, _ = store.list_ledger(account, limit=100)
    (hold,) = [e for e in entries if e.kind == "hold"]
    assert -hold.amount_micros >= _cost("claude-haiku-4.5@anthropic", tokens.payload_bytes(received), 5)
    assert received["max_tokens"] == 5


def test_a_native_messages_hold_covers_every_byte_of_the_body_sent(aws: None) -> None:
    """The Messages surface passes Anthropic's body through as sent: its hold counts every byte of it (issue
    #29: a large `system` or documents that the chat form drops were held at a third of their bytes)."""
    from unigate.gateway import messages

    body = {"model": "claude-haiku-4.5@anthropic", "max_tokens": 5, "system": "s" * 300_000,
            "messages": [{"role": "user", "content": "hi"}]}
    (prepared,) = messages.prepare(body, CALLER, messages.Inbound({}))
    assert messages.is_native(prepared)
    assert prepared.worst_case_micros >= _cost("claude-haiku-4.5@anthropic",
                                               tokens.payload_bytes(prepared.native), 5)


# Parts billed per page or second whatever their bytes, as chat requests carry them (each wire format's own
# shapes: tests/unit/test_media_parts.py).
PDF = "data:application/pdf;base64,JVBERi0xLjQK"
DOCUMENTS = {
    "openai file_data": ("gpt-4o@openai", {"type": "file", "file": {"file_data": PDF, "filename": "a.pdf"}}),
    "openai file_id": ("gpt-4o@openai", {"type": "file", "file": {"file_id": "file-abc"}}),
    "openai input_audio": ("gpt-4o@openai", {"type": "input_audio", "input_audio": {"data": "UklGRg==",
                                                                                    "format": "wav"}}),
}


def _with(part: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"type": "text", "text": "summarise"}, part]}]


@pytest.mark.parametrize("case", DOCUMENTS)
def test_a_document_or_audio_part_holds_the_whole_context_window(aws: None, case: str) -> None:
    """Issue #29: a PDF bills about 1,500-3,000 tokens a page whatever its bytes, and a file id or URL has no
    size at all; such a part was held at its bytes (a few dozen tokens). Only the context window bounds it."""
    model, part = DOCUMENTS[case]
    prepared = _prepared({"model": model, "max_tokens": 1, "messages": _with(part)})
    assert tokens.media_parts(chat.outgoing(prepared))[1] == 1
    assert prepared.worst_case_micros == prepared.worst_cost(prepared.endpoint.context, 1)


def test_native_bodies_hold_their_documents_at_the_context_window(aws: None) -> None:
    """Anthropic's document blocks (a PDF by URL or base64) on the Messages pass-through, and input_file on the
    Responses pass-through, whatever the chat form made of them."""
    from unigate.gateway import messages, responses

    for source in ({"type": "url", "url": "https://example.com/a.pdf"},
                   {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0xLjQK"}):
        body = {"model": "claude-haiku-4.5@anthropic", "max_tokens": 5, "messages": [
            {"role": "user", "content": [{"type": "document", "source": source}, {"type": "text", "text": "?"}]}]}
        (prepared,) = messages.prepare(body, CALLER, messages.Inbound({}))
        assert messages.is_native(prepared)
        assert prepared.worst_case_micros == prepared.worst_cost(200_000, 5)
        # With the million-token context beta, the window is a million.
        (wide,) = messages.prepare(body, CALLER, messages.Inbound({"anthropic-beta": "context-1m-2025-08-07"}))
        assert wide.worst_case_micros == wide.worst_cost(1_000_000, 5)
    # A document given as text is billed as its text: its bytes.
    text = {"model": "claude-haiku-4.5@anthropic", "max_tokens": 5, "messages": [{"role": "user", "content": [
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "short"}}]}]}
    (plain,) = messages.prepare(text, CALLER, messages.Inbound({}))
    assert plain.worst_case_micros < plain.worst_cost(10_000, 5)

    run = responses.prepare({"model": "gpt-4o@openai", "max_output_tokens": 5, "input": [
        {"role": "user", "content": [{"type": "input_file", "file_id": "file-abc"},
                                     {"type": "input_text", "text": "?"}]}]}, CALLER)
    (prepared,) = run.plan
    assert id(prepared) in run.native
    assert prepared.worst_case_micros == prepared.worst_cost(prepared.endpoint.context, 5)


def test_the_input_hold_is_at_most_the_context_window(aws: None) -> None:
    """No provider bills more input than its context window takes (a longer request is refused unbilled), so
    the input hold stops there: 900 KB of text to a 128k-token model holds 128k input tokens."""
    prepared = _prepared({"model": "gpt-4o@openai", "max_tokens": 1, "messages": _messages("x" * 900_000)})
    assert prepared.worst_case_micros == prepared.worst_cost(128_000, 1)
    small = _prepared({"model": "gpt-4o@openai", "max_tokens": 1, "messages": _messages("x" * 1000)})
    assert small.worst_case_micros == small.worst_cost(tokens.payload_bytes(chat.outgoing(small)), 1)
    # Bedrock's body can ask for the million-token context beta itself.
    wide = _prepared({"model": "claude-sonnet-4.5@aws-bedrock", "max_tokens": 1, "messages": _messages("x" * 900_000),
                      "additionalModelRequestFields": {"anthropic_beta": ["context-1m-2025-08-07"]}}, "pass-through")
    assert wide.worst_case_micros >= wide.worst_cost(900_000, 1)
