"""Every HTTP provider adapter against the fake upstream over real HTTP, through the real chat service."""

from __future__ import annotations

import pytest

from tests.fakes.upstream import CANARY_KEYS, PROMPT_TOKENS
from tests.integration.chat_helpers import (
    assert_money_consistent,
    final_usage,
    run_chat,
    run_chats,
    streamed_text,
)
from unigate.catalog.entries import get_catalog
from unigate.domain.errors import BadRequest, RateLimited, UpstreamError, UpstreamTimeout
from unigate.domain.money import format_credits
from unigate.domain.records import Caller
from unigate.gateway import chat

# model string -> (path fragment the fake sees, header carrying the key, expected key value)
FAMILIES = {
    "gpt-4o@openai": ("/v1/chat/completions", "authorization", f"Bearer {CANARY_KEYS['openai']}"),
    "llama-3.1-70b-chat@together-ai": ("/together/v1/chat/completions", "authorization",
                                       f"Bearer {CANARY_KEYS['together-ai']}"),
    "llama-3.1-8b-chat@local-vllm": ("/vllm/v1/chat/completions", "authorization", None),
    "claude-haiku-4.5@anthropic": ("/v1/messages", "x-api-key", CANARY_KEYS["anthropic"]),
    "claude-haiku-4.5@vertex-anthropic": ("/publishers/anthropic/models/claude-haiku-4-5@20251001:",
                                          "authorization", f"Bearer {CANARY_KEYS['vertex-anthropic']}"),
    "gemini-2.5-flash@gemini": ("/v1beta/models/gemini-2.5-flash", "x-goog-api-key", CANARY_KEYS["gemini"]),
    "gpt-4o@azure-openai": ("/openai/deployments/gpt-4o/chat/completions", "api-key", CANARY_KEYS["azure-openai"]),
    "mistral-large@azure-ai": ("/models/chat/completions", "api-key", CANARY_KEYS["azure-ai"]),
}
START = 10_000_000
REPLY = "fake reply to: hello world"


def _body(model: str, text: str = "hello world", **extra: object) -> dict:
    return {"model": model, "messages": [{"role": "system", "content": "Be brief."},
                                         {"role": "user", "content": text}], **extra}


def _cost(model: str, prompt: int, completion: int) -> int:
    name, provider = model.split("@")
    return get_catalog().endpoint(name, provider).cost_micros(prompt, completion)


@pytest.mark.parametrize("model", FAMILIES)
def test_plain_completion(model: str, providers, account: str) -> None:
    headers, body = run_chat(_body(model, temperature=0.2))
    message = body["choices"][0]["message"]
    assert message == {"role": "assistant", "content": REPLY}
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["model"] == model
    assert headers["x-unigate-endpoint"] == model
    assert body["usage"]["prompt_tokens"] == PROMPT_TOKENS
    assert body["usage"]["completion_tokens"] == 5
    cost = _cost(model, PROMPT_TOKENS, 5)
    assert round(body["usage"]["cost"] * 1_000_000) == cost
    assert assert_money_consistent() == START - cost

    path, header, value = FAMILIES[model]
    received = providers.last(path)
    if value is None:
        assert header not in received.headers
    else:
        assert received.headers[header] == value


@pytest.mark.parametrize("model", FAMILIES)
def test_streamed_completion(model: str, providers, account: str) -> None:
    _, events = run_chat(_body(model, stream=True, stream_options={"include_usage": True}))
    assert events[-1] == "[DONE]"
    assert streamed_text(events) == REPLY
    assert all(c["model"] == model for c in events[:-1])
    usage = final_usage(events)
    cost = _cost(model, usage["prompt_tokens"], usage["completion_tokens"])
    assert round(usage["cost"] * 1_000_000) == cost
    assert usage["completion_tokens"] == 5
    assert assert_money_consistent() == START - cost
    finishes = [c["choices"][0]["finish_reason"] for c in events[:-1] if c.get("choices")]
    assert finishes[-1] == "stop"


@pytest.mark.parametrize("model", FAMILIES)
def test_a_finished_stream_leaves_its_connection_to_the_next_call(model: str, providers, account: str) -> None:
    """Readers stop at the stream's last event ([DONE], message_stop); the body's end, right behind it, is
    read too, so the next call does not open a new connection (a TCP and TLS handshake on a real provider,
    before its first byte)."""
    results = run_chats([_body(model, stream=True), _body(model, stream=True), _body(model)])
    assert all(streamed_text(events) == REPLY for _, events in results[:2])
    path = FAMILIES[model][0]
    ports = {received.client_port for received in providers.received[-3:] if path in received.path}
    assert len(providers.received) >= 3
    assert len(ports) == 1
    assert ports != {None}


@pytest.mark.parametrize("model", FAMILIES)
@pytest.mark.parametrize("stream", [False, True])
def test_tool_calls(model: str, stream: bool, providers, account: str) -> None:
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                                               "parameters": {"type": "object",
                                                              "properties": {"city": {"type": "string"}}}}}]
    _, result = run_chat(_body(model, "scenario:tool", tools=tools, stream=stream))
    if stream:
        calls: dict[int, dict] = {}
        for c in result[:-1]:
            for choice in c.get("choices", []):
                for call in choice["delta"].get("tool_calls") or []:
                    slot = calls.setdefault(call["index"], {"name": "", "arguments": ""})
                    slot["name"] += (call.get("function") or {}).get("name") or ""
                    slot["arguments"] += (call.get("function") or {}).get("arguments") or ""
        assert calls[0]["name"] == "get_weather"
        assert calls[0]["arguments"].replace(" ", "") == '{"city":"Paris"}'
    else:
        choice = result["choices"][0]
        assert choice["finish_reason"] == "tool_calls"
        call = choice["message"]["tool_calls"][0]
        assert call["function"]["name"] == "get_weather"
        assert call["function"]["arguments"].replace(" ", "") == '{"city":"Paris"}'
    assert_money_consistent()


@pytest.mark.parametrize("model", FAMILIES)
@pytest.mark.parametrize(
    ("status", "error"),
    [(429, RateLimited), (500, UpstreamError), (503, UpstreamError), (400, BadRequest), (401, UpstreamError)],
)
@pytest.mark.parametrize("stream", [False, True])
def test_error_statuses_release_the_hold(model: str, status: int, error: type, stream: bool, providers,
                                         account: str) -> None:
    with pytest.raises(error) as raised:
        run_chat(_body(model, f"scenario:error:{status}", stream=stream))
    if status == 429:
        assert raised.value.retry_after == 1
    assert CANARY_KEYS["openai"] not in raised.value.message
    assert assert_money_consistent() == START


@pytest.mark.parametrize("model", FAMILIES)
def test_malformed_response_is_502_and_free(model: str, providers, account: str) -> None:
    with pytest.raises(UpstreamError):
        run_chat(_body(model, "scenario:malformed"))
    assert assert_money_consistent() == START


@pytest.mark.parametrize("model", FAMILIES)
@pytest.mark.parametrize("scenario", ["malformed", "truncate"])
def test_broken_streams_end_with_an_error_and_bill_what_was_produced(model: str, scenario: str, providers,
                                                                     account: str) -> None:
    _, events = run_chat(_body(model, f"scenario:{scenario}", stream=True))
    assert "error" in events[-1]
    assert "[DONE]" not in events
    balance = assert_money_consistent()
    produced = streamed_text(events)
    if produced:
        assert 0 < START - balance <= _cost(model, 10_000, 100)
    else:
        assert balance == START


@pytest.mark.parametrize("model", FAMILIES)
@pytest.mark.parametrize("stream", [False, True])
def test_no_usage_is_billed_by_estimate_never_zero(model: str, stream: bool, providers, account: str) -> None:
    options = {"stream_options": {"include_usage": True}} if stream else {}
    _, result = run_chat(_body(model, "scenario:nousage", stream=stream, **options))
    usage = final_usage(result) if stream else result["usage"]
    assert usage["prompt_tokens"] > 0
    assert usage["completion_tokens"] > 0
    assert usage["cost"] > 0
    assert START - assert_money_consistent() == round(usage["cost"] * 1_000_000)


def test_upstream_timeout_is_504_and_charged_its_hold(providers, account: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The request was sent: the provider may bill it, so the hold is charged (see test_deadline_charge.py)."""
    from unigate.infra.config import get_settings

    monkeypatch.setenv("UNIGATE_UPSTREAM_TIMEOUT_SECONDS", "1")
    get_settings.cache_clear()
    held = chat.prepare(_body("gpt-4o@openai", "scenario:stall"), Caller("acct_test", "key_test"))[0].worst_case_micros
    with pytest.raises(UpstreamTimeout) as raised:
        run_chat(_body("gpt-4o@openai", "scenario:stall"))
    assert START - assert_money_consistent() == held
    assert raised.value.headers["x-unigate-cost"] == format_credits(held)


def test_requests_are_translated_for_each_wire_format(providers, account: str) -> None:
    run_chat(_body("claude-haiku-4.5@anthropic", max_tokens=50, stop="END", user="u-1"))
    anthropic = providers.last("/v1/messages")
    assert anthropic.headers["anthropic-version"] == "2023-06-01"
    assert anthropic.body["system"] == "Be brief."
    assert anthropic.body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hello world"}]}]
    assert anthropic.body["max_tokens"] == 50
    assert anthropic.body["stop_sequences"] == ["END"]
    assert anthropic.body["model"] == "claude-haiku-4-5-20251001"

    run_chat(_body("gemini-2.5-flash@gemini", max_tokens=40, temperature=0.5))
    gemini = providers.last("/v1beta/models")
    assert gemini.body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert gemini.body["contents"] == [{"role": "user", "parts": [{"text": "hello world"}]}]
    assert gemini.body["generationConfig"] == {"maxOutputTokens": 40, "temperature": 0.5}
    assert "key" not in gemini.query

    run_chat(_body("gpt-4o@azure-openai"))
    azure = providers.last("/openai/deployments/")
    assert azure.query == "api-version=2024-10-21"
    assert "model" not in azure.body

    run_chat(_body("mistral-large@azure-ai"))
    azure_ai = providers.last("/models/chat/completions")
    assert azure_ai.query == "api-version=2024-05-01-preview"
    assert azure_ai.body["model"] == get_catalog().endpoint("mistral-large", "azure-ai").upstream


def test_unsupported_parameters_are_dropped_and_listed(providers, account: str) -> None:
    headers, _ = run_chat(_body("llama-3.1-70b-chat@together-ai", logit_bias={"1": 2}, tools=[], seed=3))
    assert headers["x-unigate-dropped-params"] == "logit_bias,seed,tools"
    received = providers.last("/together/v1/chat/completions").body
    assert "logit_bias" not in received
    assert "seed" not in received
    with pytest.raises(BadRequest, match="logit_bias"):
        run_chat(_body("llama-3.1-70b-chat@together-ai", logit_bias={"1": 2}, drop_params=False))
    assert assert_money_consistent() < START
