"""Anthropic's Messages dialect: requests to the chat form, chat completions and chunks back (pure)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from unigate.dialects import anthropic_messages as dialect
from unigate.domain import request_models
from unigate.domain.errors import BadRequest


def _events(raw: list[bytes]) -> list[dict[str, Any]]:
    out = []
    for item in raw:
        name, data = item.decode().strip().split("\n")
        payload = json.loads(data.removeprefix("data: "))
        assert name == f"event: {payload['type']}"
        out.append(payload)
    return out


def test_system_anywhere_tool_results_first_and_what_a_foreign_model_cannot_take_is_listed() -> None:
    chat, dropped = dialect.to_chat({
        "model": "gpt-4o@openai", "max_tokens": 10, "system": [{"type": "text", "text": "Be brief."}],
        "thinking": {"type": "enabled", "budget_tokens": 2048}, "output_config": {"effort": "low"},
        "tools": [{"name": "get_weather", "input_schema": {"type": "object"}},
                  {"type": "web_search_20250305", "name": "web_search"}],
        "tool_choice": {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
        "metadata": {"user_id": "u-1"}, "stop_sequences": ["END"], "top_k": 5,
        "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": [{"type": "thinking", "thinking": "t", "signature": "s"},
                                              {"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                                               "input": {"city": "Paris"}},
                                              {"type": "tool_use", "id": "toolu_2", "name": "get_weather",
                                               "input": {"city": "Rome"}}]},
            {"role": "user", "content": [
                {"type": "text", "text": "thanks"},
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "Sunny"},
                {"type": "tool_result", "tool_use_id": "toolu_2", "is_error": True,
                 "content": [{"type": "text", "text": "no data"}]}]},
            {"role": "system", "content": "Remember the rules."}]})
    assert chat["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "toolu_1", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
            {"id": "toolu_2", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'}}]},
        {"role": "tool", "tool_call_id": "toolu_1", "content": "Sunny"},
        {"role": "tool", "tool_call_id": "toolu_2", "content": "Error: no data"},
        {"role": "user", "content": [{"type": "text", "text": "thanks"}]},
        {"role": "system", "content": "Remember the rules."}]
    assert chat["tools"] == [{"type": "function", "function": {"name": "get_weather",
                                                               "parameters": {"type": "object"}}}]
    assert chat["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert chat["parallel_tool_calls"] is False
    assert (chat["user"], chat["stop"], chat["top_k"], chat["reasoning_effort"]) == ("u-1", ["END"], 5, "low")
    assert dropped == ["messages.content.thinking", "output_config", "tools.web_search_20250305"]


@pytest.mark.parametrize(("choice", "expected"), [({"type": "auto"}, "auto"), ({"type": "any"}, "required"),
                                                  ({"type": "none"}, "none")])
def test_tool_choice(choice: dict[str, Any], expected: str) -> None:
    chat, _ = dialect.to_chat({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "x"}],
                               "tools": [{"name": "t", "input_schema": {}}], "tool_choice": choice})
    assert chat["tool_choice"] == expected


def test_thinking_budgets_become_reasoning_effort() -> None:
    assert dialect.reasoning_effort({"type": "enabled", "budget_tokens": 1024}) == "low"
    assert dialect.reasoning_effort({"type": "enabled", "budget_tokens": 8000}) == "medium"
    assert dialect.reasoning_effort({"type": "enabled", "budget_tokens": 32000}) == "high"
    assert dialect.reasoning_effort({"type": "adaptive"}) == "medium"
    assert dialect.reasoning_effort({"type": "disabled"}) is None


def test_a_chat_completion_as_a_message() -> None:
    message = dialect.from_chat({"choices": [{"finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": "Let me check.", "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]}}],
        "usage": {"prompt_tokens": 30, "completion_tokens": 7, "prompt_tokens_details": {"cached_tokens": 10}}},
        "gpt-4o@openai")
    assert message["content"] == [
        {"type": "text", "text": "Let me check."},
        {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}}]
    assert (message["stop_reason"], message["model"], message["type"]) == ("tool_use", "gpt-4o@openai", "message")
    assert message["usage"] == {"input_tokens": 20, "output_tokens": 7, "cache_creation_input_tokens": 0,
                                "cache_read_input_tokens": 10}
    for finish, reason in (("stop", "end_turn"), ("length", "max_tokens"), ("content_filter", "refusal")):
        assert dialect.from_chat({"choices": [{"finish_reason": finish, "message": {"content": "x"}}]},
                                 "m")["stop_reason"] == reason


def test_stream_events_in_anthropics_grammar_with_parallel_tool_calls_at_distinct_indices() -> None:
    translator = dialect.StreamTranslator("gpt-4o@openai", 42)
    out = [translator.start()]

    def chunk(delta: dict[str, Any], finish: str | None = None) -> None:
        out.extend(translator.chunk({"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}))

    chunk({"role": "assistant", "content": ""})
    chunk({"reasoning_content": "hmm"})
    chunk({"content": "Checking"})
    chunk({"content": " both."})
    chunk({"tool_calls": [{"index": 0, "id": "call_a", "function": {"name": "get_weather", "arguments": ""}}]})
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]})
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]})
    chunk({"tool_calls": [{"index": 1, "id": "call_b", "function": {"name": "get_weather",
                                                                   "arguments": '{"city":"Rome"}'}}]})
    chunk({}, "tool_calls")
    out.extend(translator.finish(9))
    events = _events(out)
    assert [e["type"] for e in events] == [
        "message_start",
        "content_block_start", "content_block_delta", "content_block_stop",
        "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
        "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
        "content_block_start", "content_block_delta", "content_block_stop",
        "message_delta", "message_stop"]
    assert events[0]["message"]["usage"]["input_tokens"] == 42
    starts = [e for e in events if e["type"] == "content_block_start"]
    assert [(s["index"], s["content_block"]["type"]) for s in starts] == [
        (0, "thinking"), (1, "text"), (2, "tool_use"), (3, "tool_use")]
    assert [s["content_block"].get("id") for s in starts[2:]] == ["call_a", "call_b"]
    deltas = [e["delta"] for e in events if e["type"] == "content_block_delta"]
    assert deltas[0] == {"type": "thinking_delta", "thinking": "hmm"}
    assert deltas[1] == {"type": "text_delta", "text": "Checking"}
    assert deltas[3] == {"type": "input_json_delta", "partial_json": '{"city":'}
    assert events[-2]["delta"] == {"stop_reason": "tool_use", "stop_sequence": None}
    assert events[-2]["usage"]["output_tokens"] == 9
    error = _events(translator.error(429, "slow down"))[0]
    assert error == {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}


def test_the_request_model_names_the_field_at_fault() -> None:
    good = {"model": "echo@echo", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    request_models.parse(dialect.MessagesRequest, {**good, "output_config": {"x": 1}, "thinking": {"type": "new"}})
    for body, param in (({**good, "max_tokens": 0}, "max_tokens"),
                        ({k: v for k, v in good.items() if k != "max_tokens"}, "max_tokens"),
                        ({**good, "messages": [{"role": "robot", "content": "hi"}]}, "messages[0].role"),
                        ({**good, "messages": [{"role": "user", "content": [{"text": "no type"}]}]},
                         "messages[0].content[0].type"),
                        ({**good, "metadata": {"api_base": "http://x"}}, "metadata.api_base"),
                        ({**good, "temperature": 3}, "temperature")):
        with pytest.raises(BadRequest) as refused:
            request_models.parse(dialect.MessagesRequest, body)
        assert refused.value.param == param, body


def test_a_long_silence_gets_pings_and_closing_the_stream_closes_its_source() -> None:
    import asyncio

    from unigate.gateway.messages import _with_pings

    closed = []

    async def slow() -> Any:
        try:
            yield b"first"
            await asyncio.sleep(0.25)
            yield b"second"
            await asyncio.sleep(10)
            yield b"never"
        finally:
            closed.append(True)

    async def run() -> list[bytes | None]:
        seen: list[bytes | None] = []
        stream = _with_pings(slow(), interval=0.1)
        async for item in stream:
            seen.append(item)
            if item == b"second":
                break
        await stream.aclose()
        return seen

    seen = asyncio.run(run())
    assert seen[0] == b"first"
    assert seen[-1] == b"second"
    assert None in seen[1:-1]  # a ping while the source was silent
    assert closed == [True]
